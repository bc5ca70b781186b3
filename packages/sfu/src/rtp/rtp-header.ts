/**
 * The few RTP facts the SFU needs (RFC 3550 §5.1), read and rewritten on the wire bytes without
 * decoding the payload: the one RTP header parser of the package (local RTP sources and sinks
 * use it; werift's receivers hand over packets werift already parsed).
 *
 * ```
 *  0                   1                   2                   3
 * |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 * |                           timestamp                           |
 * |           synchronization source (SSRC) identifier            |
 * ```
 */

export interface RtpHeaderView {
  marker: boolean;
  payloadType: number;
  /** 16-bit sequence number. */
  sequenceNumber: number;
  /** 32-bit timestamp, in the codec's clock rate (90 kHz for video). */
  timestamp: number;
  ssrc: number;
  /** Offset of the payload: after CSRCs and the header extension. */
  payloadOffset: number;
  /** Payload length without RTP padding. */
  payloadLength: number;
  /**
   * The header extension when the X bit is set (RFC 3550 §5.3.1): its 16-bit "defined by
   * profile" field (0xBEDE one-byte form, 0x100x two-byte form, RFC 8285 §4.2–§4.3) and where its
   * data lies in the packet (byte offset and length, after the 4-byte extension header).
   */
  extension?: { profile: number; offset: number; length: number };
}

/**
 * Reads an RTP header.
 * @returns the header, or null for anything that is not version-2 RTP of sane length
 */
export function readRtpHeader(packet: Uint8Array): RtpHeaderView | null {
  if (packet.length < 12 || packet[0]! >> 6 !== 2) return null;
  const v = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  const cc = packet[0]! & 0x0f;
  let offset = 12 + cc * 4;
  let extension: RtpHeaderView['extension'];
  if (packet[0]! & 0x10) {
    if (offset + 4 > packet.length) return null;
    extension = { profile: v.getUint16(offset), offset: offset + 4, length: v.getUint16(offset + 2) * 4 };
    offset += 4 + extension.length;
  }
  let end = packet.length;
  if (packet[0]! & 0x20) end -= packet[packet.length - 1]!;
  if (offset > end) return null;
  return {
    marker: (packet[1]! & 0x80) !== 0,
    payloadType: packet[1]! & 0x7f,
    sequenceNumber: v.getUint16(2),
    timestamp: v.getUint32(4),
    ssrc: v.getUint32(8),
    payloadOffset: offset,
    payloadLength: end - offset,
    ...(extension ? { extension } : {}),
  };
}

/**
 * The data of the header extension element with local identifier `id` (RFC 8285 §4), in the
 * one-byte form (profile 0xBEDE, ids 1–14, 1–16 data bytes, §4.2) or the two-byte form
 * (profile 0x100x, ids 1–255, 0–255 data bytes, §4.3). Padding bytes (id 0) are skipped; in the
 * one-byte form id 15 ends the walk (§4.2). Never throws.
 * @param id the id negotiated with a=extmap (RFC 8285 §5)
 * @returns a view into `packet` (not a copy), or undefined when the packet is not RTP, has no
 *   such element, uses another extension profile, or an element runs past the extension
 */
export function findRtpHeaderExtension(packet: Uint8Array, id: number): Uint8Array | undefined {
  const ext = readRtpHeader(packet)?.extension;
  if (!ext || !Number.isInteger(id) || id < 1 || id > 255) return undefined;
  const oneByte = ext.profile === 0xbede;
  if (!oneByte && (ext.profile & 0xfff0) !== 0x1000) return undefined;
  if (oneByte && id > 14) return undefined;
  const end = ext.offset + ext.length;
  let i = ext.offset;
  while (i < end) {
    const b = packet[i]!;
    if (b === 0 || (oneByte && b >> 4 === 0)) {
      i += 1; // a padding byte (id 0), in both forms; its length field is ignored, as libwebrtc does
      continue;
    }
    let elementId: number;
    let size: number;
    if (oneByte) {
      elementId = b >> 4;
      if (elementId === 15) return undefined;
      size = (b & 0x0f) + 1;
      i += 1;
    } else {
      if (i + 2 > end) return undefined;
      elementId = b;
      size = packet[i + 1]!;
      i += 2;
    }
    if (i + size > end) return undefined;
    if (elementId === id) return packet.subarray(i, i + size);
    i += size;
  }
  return undefined;
}

/**
 * A copy of `packet` with SSRC, sequence number and timestamp replaced and its header extension
 * (RFC 3550 §5.3.1) removed: the ids were negotiated with the publisher, not the subscriber, and
 * werift's sender lets a forwarded element override its own with the same id (a publisher's mid
 * would replace the subscriber leg's). The sender adds the subscriber leg's own extensions.
 */
export function rewriteRtp(packet: Uint8Array, ssrc: number, sequenceNumber: number, timestamp: number): Uint8Array {
  let out: Uint8Array;
  const cc = packet[0]! & 0x0f;
  const fixed = 12 + cc * 4;
  if (packet[0]! & 0x10 && packet.length >= fixed + 4) {
    const extBytes = 4 + ((packet[fixed + 2]! << 8) | packet[fixed + 3]!) * 4;
    const rest = Math.min(packet.length, fixed + extBytes);
    out = new Uint8Array(packet.length - (rest - fixed));
    out.set(packet.subarray(0, fixed), 0);
    out.set(packet.subarray(rest), fixed);
    out[0] = out[0]! & ~0x10;
  } else {
    out = packet.slice();
  }
  const v = new DataView(out.buffer);
  v.setUint16(2, sequenceNumber & 0xffff);
  v.setUint32(4, timestamp >>> 0);
  v.setUint32(8, ssrc >>> 0);
  return out;
}

/** `a` is newer than `b` in 16-bit sequence space (RFC 3550 §A.1). */
export function seqNewer(a: number, b: number): boolean {
  return a !== b && ((a - b) & 0xffff) < 0x8000;
}
