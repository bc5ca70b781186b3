/**
 * The RTCP keyframe requests the local RTP source and sink exchange over plain UDP: Picture Loss
 * Indication (RFC 4585 §6.3.1) and Full Intra Request (RFC 5104 §4.3.1), both payload-specific
 * feedback (PT 206). werift's legs use werift's own RTCP code.
 *
 * ```
 *  0                   1                   2                   3
 * |V=2|P|   FMT   |   PT=206      |          length               |
 * |                  SSRC of packet sender                        |
 * |                  SSRC of media source  (PLI: the stream; FIR: 0)
 * :            FCI (PLI: none; FIR: SSRC, seq nr, 3 reserved bytes, per entry)
 * ```
 */

const PT_PSFB = 206;
const FMT_PLI = 1;
const FMT_FIR = 4;

/**
 * Encodes a PLI (12 bytes).
 * @throws RangeError if an SSRC is not a uint32
 */
export function encodePli(senderSsrc: number, mediaSsrc: number): Uint8Array {
  for (const s of [senderSsrc, mediaSsrc]) if (!Number.isInteger(s) || s < 0 || s > 0xffffffff) throw new RangeError(`SSRC ${s} is not a uint32`);
  const p = new Uint8Array(12);
  const v = new DataView(p.buffer);
  p[0] = 0x80 | FMT_PLI;
  p[1] = PT_PSFB;
  v.setUint16(2, 2); // RFC 3550 §6.4.1: length in 32-bit words minus one
  v.setUint32(4, senderSsrc);
  v.setUint32(8, mediaSsrc);
  return p;
}

/**
 * The SSRCs a (compound) RTCP packet asks keyframes for: the media source of each PLI, and each
 * FCI entry's SSRC of each FIR. Other RTCP packets are skipped.
 * @returns the SSRCs (possibly none), or null when the bytes are not RTCP (version, lengths); never throws
 */
export function keyframeRequests(packet: Uint8Array): number[] | null {
  const v = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  const out: number[] = [];
  let at = 0;
  if (packet.length < 4) return null;
  while (at + 4 <= packet.length) {
    if (packet[at]! >> 6 !== 2) return null;
    const size = (v.getUint16(at + 2) + 1) * 4;
    if (at + size > packet.length) return null;
    const fmt = packet[at]! & 0x1f;
    if (packet[at + 1] === PT_PSFB && size >= 12) {
      if (fmt === FMT_PLI) out.push(v.getUint32(at + 8));
      else if (fmt === FMT_FIR) for (let e = at + 12; e + 8 <= at + size; e += 8) out.push(v.getUint32(e));
    }
    at += size;
  }
  return out;
}

/** True when the first byte's payload type says RTCP rather than RTP (RFC 5761 §4: PT 192–223 when multiplexed). */
export function isRtcp(packet: Uint8Array): boolean {
  return packet.length >= 2 && packet[1]! >= 192 && packet[1]! <= 223;
}
