/**
 * What the SFU accepts from a client's SDP before werift sees it (JSEP, RFC 9429; SDP, RFC 8866).
 * Pure: text in, verdict out.
 */

/** Most m-lines (RFC 8866 §5.14) an SFU leg may carry. Default 32: 16 tracks each way is plenty. */
export const MAX_M_LINES = 32;

/** Codecs the SFU forwards, by media kind (rtpmap encoding names, case-insensitive). */
export const FORWARDED_CODECS: Readonly<Record<string, readonly string[]>> = { audio: ['opus'], video: ['vp8'] };

/**
 * Checks a client's SDP for an SFU leg.
 * @returns null when acceptable, else the reason (for an INVALID_SDP error)
 */
export function sdpProblem(sdp: string, maxMLines = MAX_M_LINES): string | null {
  const lines = sdp.split(/\r?\n/);
  if (!lines[0]?.startsWith('v=0')) return 'not an SDP (no v=0 line)';
  const { session, sections } = splitSdp(sdp);
  if (sections.length === 0) return 'no m-lines';
  if (sections.length > maxMLines) return `${sections.length} m-lines (at most ${maxMLines})`;
  const sessionFingerprint = session.some((l) => l.startsWith('a=fingerprint:'));
  for (const [i, s] of sections.entries()) {
    if (s.port === '0') continue; // rejected or stopped section
    if (!sessionFingerprint && !s.lines.some((l) => l.startsWith('a=fingerprint:'))) return `m-line ${i} (${s.kind}) has no DTLS fingerprint`;
    const wanted = FORWARDED_CODECS[s.kind];
    if (!wanted) continue; // application (data channels) and others: werift decides
    const codecs = s.lines.map((l) => /^a=rtpmap:\d+ ([^/]+)\//.exec(l)?.[1]?.toLowerCase()).filter((c): c is string => !!c);
    if (!codecs.some((c) => wanted.includes(c))) return `m-line ${i} (${s.kind}) offers only ${codecs.join(', ') || 'no codecs'}; the SFU forwards ${wanted.join(', ')}`;
  }
  return null;
}

interface MediaSection {
  kind: string;
  port: string;
  lines: string[];
}

/** Session-level lines and the media sections (from each m= line to the next). */
function splitSdp(sdp: string): { session: string[]; sections: MediaSection[] } {
  const sections: MediaSection[] = [];
  const session: string[] = [];
  for (const line of sdp.split(/\r?\n/)) {
    const m = /^m=(\w+) (\d+) /.exec(line);
    if (m) sections.push({ kind: m[1]!, port: m[2]!, lines: [] });
    else (sections.at(-1)?.lines ?? session).push(line);
  }
  return { session, sections };
}

/**
 * The mids (RFC 8843 §9.1 a=mid) of the media sections in which the SDP's author sends media:
 * port not 0 and direction sendrecv or sendonly (RFC 8866 §6.7; sendrecv when absent).
 */
export function sendingMids(sdp: string): Set<string> {
  const out = new Set<string>();
  for (const s of splitSdp(sdp).sections) {
    if (s.port === '0') continue;
    const mid = s.lines.find((l) => l.startsWith('a=mid:'))?.slice(6).trim();
    const direction = s.lines.find((l) => /^a=(sendrecv|sendonly|recvonly|inactive)\s*$/.test(l))?.slice(2).trim() ?? 'sendrecv';
    if (mid !== undefined && (direction === 'sendrecv' || direction === 'sendonly')) out.add(mid);
  }
  return out;
}
