/**
 * What the SFU accepts from a client's SDP before werift sees it (JSEP, RFC 9429; SDP, RFC 8866).
 * Pure: text in, verdict (or filtered text) out.
 */
import { audioCodecFor, videoCodecFor, PUBLISHED_AUDIO_CODECS, type SdpCodec } from '../rtp/codec-table.js';

/** Most m-lines (RFC 8866 §5.14) an SFU leg may carry. Default 32: 16 tracks each way is plenty. */
export const MAX_M_LINES = 32;

/**
 * Codecs the SFU forwards, by media kind (rtpmap encoding names; H.264 in packetization-mode 1 of
 * a WebRTC profile only, see rtp/codec-table.ts). Publishers' audio is Opus; subscribers may also
 * get G.711 from cameras.
 */
export const FORWARDED_CODECS: Readonly<Record<string, readonly string[]>> = { audio: ['opus', 'PCMU', 'PCMA'], video: ['VP8', 'H264'] };

/** Which leg an SDP belongs to: a publisher's offer, or a subscriber's answer. */
export type SfuLeg = 'publisher' | 'subscriber';

/** Whether the SFU forwards a codec of a media section of this kind on this leg. */
function forwarded(kind: string, codec: SdpCodec, leg: SfuLeg = 'subscriber'): boolean {
  if (kind === 'video') return videoCodecFor(codec) !== undefined;
  const audio = audioCodecFor(codec);
  return audio !== undefined && (leg === 'subscriber' || PUBLISHED_AUDIO_CODECS.includes(audio));
}

/** The codecs of a media section by payload type: a=rtpmap (RFC 8866 §6.6) with its a=fmtp. */
function codecsOf(lines: readonly string[]): Map<string, SdpCodec> {
  const out = new Map<string, SdpCodec>();
  for (const l of lines) {
    const m = /^a=rtpmap:(\d+) ([^/\s]+)\/(\d+)/.exec(l);
    if (m) out.set(m[1]!, { name: m[2]!, clockRate: Number(m[3]), parameters: '' });
  }
  for (const l of lines) {
    const m = /^a=fmtp:(\d+) (.*)$/.exec(l);
    const c = m && out.get(m[1]!);
    if (c) c.parameters = m[2]!.trim();
  }
  return out;
}

/**
 * Checks a client's SDP for an SFU leg: every media section in use must offer a codec the SFU
 * forwards on that leg (publishers: VP8 or H.264, Opus).
 * @param maxMLines default {@link MAX_M_LINES}
 * @param leg default `publisher`
 * @returns null when acceptable, else the reason (for an INVALID_SDP error)
 */
export function sdpProblem(sdp: string, maxMLines = MAX_M_LINES, leg: SfuLeg = 'publisher'): string | null {
  const lines = sdp.split(/\r?\n/);
  if (!lines[0]?.startsWith('v=0')) return 'not an SDP (no v=0 line)';
  const { session, sections } = splitSdp(sdp);
  if (sections.length === 0) return 'no m-lines';
  if (sections.length > maxMLines) return `${sections.length} m-lines (at most ${maxMLines})`;
  const sessionFingerprint = session.some((l) => l.startsWith('a=fingerprint:'));
  for (const [i, s] of sections.entries()) {
    if (rejected(s)) continue; // rejected or stopped section
    if (!sessionFingerprint && !s.lines.some((l) => l.startsWith('a=fingerprint:'))) return `m-line ${i} (${s.kind}) has no DTLS fingerprint`;
    const wanted = FORWARDED_CODECS[s.kind];
    if (!wanted) continue; // application (data channels) and others: werift decides
    const codecs = [...codecsOf(s.lines).values()];
    if (!codecs.some((c) => forwarded(s.kind, c, leg))) {
      const named = [...new Set(codecs.map((c) => c.name))].join(', ') || 'no codecs';
      const offered = s.kind === 'video' ? 'VP8, H264 (packetization-mode 1; profile-level-id 42e0.., 4200.., 4d00..)' : leg === 'publisher' ? 'opus' : wanted.join(', ');
      return `m-line ${i} (${s.kind}) offers only ${named}; the SFU forwards ${offered}`;
    }
  }
  return null;
}

interface MediaSection {
  kind: string;
  port: string;
  /** The m= line itself. */
  mLine: string;
  lines: string[];
}

/** Session-level lines and the media sections (from each m= line to the next). */
function splitSdp(sdp: string): { session: string[]; sections: MediaSection[] } {
  const sections: MediaSection[] = [];
  const session: string[] = [];
  for (const line of sdp.split(/\r?\n/)) {
    const m = /^m=(\w+) (\d+) /.exec(line);
    if (m) sections.push({ kind: m[1]!, port: m[2]!, mLine: line, lines: [] });
    else (sections.at(-1)?.lines ?? session).push(line);
  }
  return { session, sections };
}

/**
 * A section rejected or stopped: port 0, unless it is `a=bundle-only` (RFC 8843 §6: an offerer
 * using max-bundle, as GStreamer's webrtcbin and OBS do, puts port 0 on every bundled section but
 * the first).
 */
function rejected(s: MediaSection): boolean {
  return s.port === '0' && !s.lines.some((l) => l.trim() === 'a=bundle-only');
}

/**
 * The mids (RFC 8843 §9.1 a=mid) of the media sections in which the SDP's author sends media:
 * port not 0 and direction sendrecv or sendonly (RFC 8866 §6.7; sendrecv when absent).
 */
export function sendingMids(sdp: string): Set<string> {
  const out = new Set<string>();
  for (const s of splitSdp(sdp).sections) {
    if (rejected(s)) continue;
    const mid = s.lines.find((l) => l.startsWith('a=mid:'))?.slice(6).trim();
    const direction = s.lines.find((l) => /^a=(sendrecv|sendonly|recvonly|inactive)\s*$/.test(l))?.slice(2).trim() ?? 'sendrecv';
    if (mid !== undefined && (direction === 'sendrecv' || direction === 'sendonly')) out.add(mid);
  }
  return out;
}

/**
 * A publisher's offer with the H.264 formats the SFU does not forward taken out (packetization
 * mode 0, other profiles) along with their RTX formats (RFC 4588 apt). The answer then names only
 * what the SFU forwards; werift itself pairs H.264 formats by encoding name alone and could answer
 * a packetization-mode 0 format. A bundle-only section's port 0 becomes 9 (werift would take it
 * as rejected). Everything else is left as it is (werift drops codecs it does not
 * have). Line endings are kept.
 */
export function filterOfferCodecs(sdp: string): string {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const { session, sections } = splitSdp(sdp);
  const out = [...session];
  for (const s of sections) {
    const header = `m=${s.kind} ${s.port} `;
    // werift takes port 0 for a rejected section: a bundle-only one gets the usual 9 (RFC 8843 §7.5.3).
    const mLine = s.port === '0' && !rejected(s) ? `m=${s.kind} 9 ${s.mLine.slice(header.length)}` : s.mLine;
    if (s.kind !== 'video') {
      out.push(mLine, ...s.lines);
      continue;
    }
    const codecs = codecsOf(s.lines);
    const dropped = new Set<string>();
    for (const [pt, c] of codecs) if (c.name.toLowerCase() === 'h264' && !forwarded('video', c)) dropped.add(pt);
    for (const [pt, c] of codecs) {
      const apt = /(?:^|;)\s*apt=(\d+)/.exec(c.parameters)?.[1];
      if (c.name.toLowerCase() === 'rtx' && apt !== undefined && dropped.has(apt)) dropped.add(pt);
    }
    if (dropped.size === 0) {
      out.push(mLine, ...s.lines);
      continue;
    }
    const head = mLine.slice(0, mLine.indexOf(' ', mLine.indexOf(' ') + 1) + 1);
    const fields = mLine.slice(head.length).split(' ');
    const formats = fields.slice(1).filter((f) => !dropped.has(f));
    out.push(`${head}${[fields[0], ...formats].join(' ')}`);
    for (const l of s.lines) {
      const pt = /^a=(?:rtpmap|fmtp|rtcp-fb):(\d+) /.exec(l)?.[1];
      if (pt === undefined || !dropped.has(pt)) out.push(l);
    }
  }
  return out.join(eol);
}
