/**
 * The relayed `sdp` frame without serializing the SDP again. A relayed offer or answer is
 * `{"type":"sdp","from","fromSid","description":{"type","sdp"}}`, and its ~3 KB SDP string
 * (every line break escaped as `\r\n`) is most of what `JSON.stringify` would spend its time on.
 * The incoming frame holds that string as JSON text already: {@link sdpRelayText} copies it.
 *
 * It is used only where the copy is certainly the value the frame was validated with, else it
 * returns null and the caller serializes as usual:
 * - the frame has no `\u` escape (so a key named `sdp` can only be written `"sdp"`),
 * - exactly one key in the frame is named `sdp` (`"sdp"` with an unescaped opening quote and a
 *   colon after it; `"type":"sdp"` is a value), directly followed by `:"` (a string value, no
 *   white space).
 * The frame was parsed and validated before (a `description` with a string `sdp`), so that one
 * key is the description's, and its value ends at the next unescaped quote.
 */
import type { SessionDescription } from '@dari/protocol';

/** Backslashes right before index `i` of `text`. */
function backslashesBefore(text: string, i: number): number {
  let n = 0;
  while (i - 1 - n >= 0 && text.charCodeAt(i - 1 - n) === 92) n++;
  return n;
}

/**
 * The JSON text of the description's `sdp` string in a validated `sdp` frame (with its quotes),
 * or null when it cannot be told for certain (see the module comment).
 */
export function rawSdpJson(frame: string): string | null {
  if (frame.includes('\\u')) return null;
  const token = '"sdp"';
  let key = -1;
  for (let at = frame.indexOf(token); at >= 0; at = frame.indexOf(token, at + 1)) {
    // An escaped opening quote: the end of another string (`"x\"sdp"`), not the token "sdp".
    if (backslashesBefore(frame, at) % 2 !== 0) continue;
    let next = at + token.length;
    while (next < frame.length && /\s/.test(frame[next]!)) next++;
    if (frame[next] !== ':') continue; // the string "sdp" as a value (`"type":"sdp"`)
    if (key >= 0) return null; // a second key named sdp (a duplicate, or a nested object)
    key = at;
  }
  if (key < 0) return null;
  const open = key + token.length + 1;
  if (frame.charCodeAt(open - 1) !== 58 /* : */ || frame.charCodeAt(open) !== 34 /* " */) return null;
  for (let close = frame.indexOf('"', open + 1); close >= 0; close = frame.indexOf('"', close + 1)) {
    if (backslashesBefore(frame, close) % 2 === 0) return frame.slice(open, close + 1);
  }
  return null;
}

/**
 * The frame `JSON.stringify({type: 'sdp', from, fromSid, description})` would give (same keys in
 * the same order; the SDP's escaping as the sender wrote it), built around the sender's own SDP
 * text; null when {@link rawSdpJson} cannot find it.
 * @param frame the validated client frame `{"type":"sdp","to",…,"description":{…}}`
 * @param description its validated description (its `type` is re-serialized; `sdp` is copied)
 */
export function sdpRelayText(frame: string, from: string, fromSid: string, description: SessionDescription): string | null {
  const sdp = rawSdpJson(frame);
  if (sdp === null) return null;
  return `{"type":"sdp","from":${JSON.stringify(from)},"fromSid":${JSON.stringify(fromSid)},"description":{"type":${JSON.stringify(description.type)},"sdp":${sdp}}}`;
}
