/**
 * ChannelData messages (RFC 8656 §12.4) and stream framing for STUN over TCP/TLS (RFC 8489 §6.2.2,
 * RFC 8656 §12.5: over TCP, ChannelData is padded to a multiple of 4 bytes).
 *
 * ```
 *  0                   1                   2                   3
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |         Channel Number        |            Length             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * /                       Application Data                        /
 * ```
 */
import { HEADER_BYTES } from './constants.js';
import { StunDecodeError, type DecodeResult } from './message.js';

/**
 * Accepted channel numbers: 0x4000 through 0x7FFF, the range of RFC 5766 §11. RFC 8656 §12
 * narrowed it to 0x4FFF (RFC 7983 demultiplexing), but coturn's server accepts and its
 * `turnutils_uclient` uses the whole old range, so we accept it for interoperability; clients
 * of ours should stay below 0x5000.
 */
export const MIN_CHANNEL = 0x4000;
export const MAX_CHANNEL = 0x7fff;

export const isChannelNumber = (n: number): boolean => n >= MIN_CHANNEL && n <= MAX_CHANNEL;

/** True when the first byte marks ChannelData (0b01: 64–127, RFC 7983 §7). */
export const looksLikeChannelData = (bytes: Uint8Array): boolean => bytes.length >= 4 && (bytes[0]! & 0xc0) === 0x40;

export interface ChannelData {
  channel: number;
  data: Uint8Array;
}

/**
 * Decodes one ChannelData message; trailing padding (TCP) is allowed, nothing else.
 * @returns TRUNCATED when the length exceeds the bytes, NOT_STUN for a number outside 0x4000–0x7FFF
 */
export function decodeChannelData(bytes: Uint8Array): DecodeResult<ChannelData> {
  if (bytes.length < 4) return { ok: false, error: new StunDecodeError('TRUNCATED', 'ChannelData shorter than 4 bytes') };
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const channel = v.getUint16(0);
  const length = v.getUint16(2);
  if (!isChannelNumber(channel)) return { ok: false, error: new StunDecodeError('NOT_STUN', `channel number 0x${channel.toString(16)} outside 0x4000-0x7FFF`) };
  if (4 + length > bytes.length) return { ok: false, error: new StunDecodeError('TRUNCATED', `ChannelData says ${length} bytes, ${bytes.length - 4} present`) };
  if (bytes.length - 4 - length > 3) return { ok: false, error: new StunDecodeError('BAD_LENGTH', 'ChannelData has trailing bytes beyond padding') };
  return { ok: true, value: { channel, data: bytes.subarray(4, 4 + length) } };
}

/**
 * Encodes ChannelData; `pad` (for TCP/TLS) rounds the total up to a multiple of 4.
 * @throws RangeError for a bad channel number or data over 65535 bytes
 */
export function encodeChannelData(channel: number, data: Uint8Array, pad = false): Uint8Array {
  if (!isChannelNumber(channel)) throw new RangeError(`bad channel number ${channel}`);
  if (data.length > 0xffff) throw new RangeError('ChannelData over 65535 bytes');
  const total = 4 + (pad ? (data.length + 3) & ~3 : data.length);
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  v.setUint16(0, channel);
  v.setUint16(2, data.length);
  out.set(data, 4);
  return out;
}

/**
 * Stream framing: how long the next frame in `buffer` is.
 * @returns the frame's byte length (STUN: 20 + length; ChannelData: 4 + length padded to 4),
 *   0 when more bytes are needed to tell, or -1 when the stream is not STUN/ChannelData
 */
export function frameLength(buffer: Uint8Array): number {
  if (buffer.length < 4) return 0;
  const first = buffer[0]!;
  const length = (buffer[2]! << 8) | buffer[3]!;
  if ((first & 0xc0) === 0) return HEADER_BYTES + length;
  if ((first & 0xc0) === 0x40) return 4 + ((length + 3) & ~3);
  return -1;
}
