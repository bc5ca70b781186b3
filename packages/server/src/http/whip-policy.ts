/**
 * The pure parts of WHIP (RFC 9725) and WHEP: what a request must carry, the headers a response
 * gets. Strings in, verdicts and header values out; the HTTP adapter is whip.ts.
 */
import type { IceServer } from '@dari/protocol';

/** A refused WHIP/WHEP request: the HTTP status, a machine-readable code, and a message naming the field. */
export class WhipError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Largest SDP body accepted, bytes (a browser's offer with simulcast is ~6 KB). */
export const MAX_SDP_BYTES = 64 * 1024;

/** The media type of an SDP offer and answer (RFC 9725 §4.2). */
export const SDP_TYPE = 'application/sdp';
/** The media type of a PATCH body: trickled candidates or ICE restart (RFC 9725 §4.3, RFC 8840 §9). */
export const SDPFRAG_TYPE = 'application/trickle-ice-sdpfrag';

/**
 * CORS headers of every WHIP/WHEP response (RFC 9725 §4.4: browsers publish from other origins):
 * any origin, the methods and headers WHIP uses, and the response headers a page may read.
 */
export const CORS_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'POST, PATCH, DELETE, OPTIONS',
  'access-control-allow-headers': 'Authorization, Content-Type, If-Match',
  'access-control-expose-headers': 'Location, Link, ETag, Accept-Patch',
  'access-control-max-age': '600',
});

/**
 * The bearer token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1; RFC 9725 §4.5).
 * @throws WhipError 401 `UNAUTHORIZED` when the header is missing or not a bearer token
 */
export function bearerToken(authorization: string | undefined): string {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!m) throw new WhipError(401, 'UNAUTHORIZED', 'Authorization: send "Bearer <Dari access token>"');
  return m[1]!;
}

/**
 * Checks a request's Content-Type against the one expected (parameters such as charset ignored).
 * @throws WhipError 415 `UNSUPPORTED_MEDIA_TYPE` naming both
 */
export function requireContentType(contentType: string | undefined, expected: string): void {
  const got = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (got !== expected) throw new WhipError(415, 'UNSUPPORTED_MEDIA_TYPE', `Content-Type: expected ${expected}, got ${got || 'none'}`);
}

/** Quotes a Link parameter value (RFC 8288 §3: quoted-string; `"` and `\` escaped). */
function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/**
 * `Link` header values advertising ICE servers (RFC 9725 §4.6): one per URL, with
 * `rel="ice-server"`, and for TURN the `username`, `credential` and `credential-type="password"`.
 * URLs with characters a Link target cannot hold (`<`, `>`, whitespace) are left out.
 */
export function iceServerLinks(servers: readonly IceServer[]): string[] {
  const out: string[] = [];
  for (const s of servers) {
    for (const url of Array.isArray(s.urls) ? s.urls : [s.urls]) {
      if (/[<>\s]/.test(url)) continue;
      let link = `<${url}>; rel="ice-server"`;
      if (s.username !== undefined && s.credential !== undefined) link += `; username=${quoted(s.username)}; credential=${quoted(s.credential)}; credential-type="password"`;
      out.push(link);
    }
  }
  return out;
}

/**
 * What an RFC 8840 SDP fragment of a PATCH asks for: an ICE restart when its `a=ice-ufrag`
 * differs from the session's current remote one (RFC 9725 §4.3.2), else trickled candidates
 * (§4.3.1).
 */
export function fragmentKind(fragment: string, currentRemoteUfrag: string | undefined): 'restart' | 'trickle' {
  const ufrag = /^a=ice-ufrag:(\S+)/m.exec(fragment)?.[1];
  return ufrag !== undefined && currentRemoteUfrag !== undefined && ufrag !== currentRemoteUfrag ? 'restart' : 'trickle';
}

/** The ICE ufrag of an SDP (the first `a=ice-ufrag`), if any. */
export function iceUfrag(sdp: string): string | undefined {
  return /^a=ice-ufrag:(\S+)/m.exec(sdp)?.[1];
}

/** Session and WHEP target path segments: letters, digits and `-_.~` (RFC 3986 unreserved), 1–128 long. */
export function pathSegment(raw: string, what: string): string {
  let s: string;
  try {
    s = decodeURIComponent(raw);
  } catch {
    throw new WhipError(400, 'INVALID_REQUEST', `${what}: not a valid path segment`);
  }
  if (s.length === 0 || s.length > 128) throw new WhipError(400, 'INVALID_REQUEST', `${what}: 1 to 128 characters`);
  return s;
}
