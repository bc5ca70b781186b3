/**
 * STUN message codec (RFC 8489 §5, §14) on Uint8Array/DataView.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |0 0|     STUN Message Type     |         Message Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                         Magic Cookie                          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                     Transaction ID (96 bits)                  |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 * {@link decodeMessage} never throws: it returns a message or a {@link StunDecodeError}.
 * Attributes are kept raw (type, value, offset) so a decode → encode → decode round trip is exact;
 * typed readers live in attributes.ts.
 */
import { FINGERPRINT_XOR, HEADER_BYTES, MAGIC_COOKIE, Attr, type StunClass } from './constants.js';
import { crc32 } from './crc32.js';

/** One attribute as found on the wire (RFC 8489 §14). */
export interface RawAttribute {
  type: number;
  /** The value without padding. */
  value: Uint8Array;
  /** Byte offset of the attribute's header within the message. */
  offset: number;
}

export interface StunMessage {
  cls: StunClass;
  /** 12-bit method, e.g. Method.Allocate. */
  method: number;
  /** 96-bit transaction id (12 bytes). */
  transactionId: Uint8Array;
  attributes: RawAttribute[];
  /** The bytes this message was decoded from (or encoded to). */
  raw: Uint8Array;
}

/** Why bytes are not a valid STUN message. */
export type StunDecodeErrorCode =
  | 'TRUNCATED'
  | 'NOT_STUN'
  | 'BAD_MAGIC_COOKIE'
  | 'BAD_LENGTH'
  | 'BAD_ATTRIBUTE_LENGTH'
  | 'ATTRIBUTE_AFTER_FINGERPRINT';

export class StunDecodeError extends Error {
  override readonly name = 'StunDecodeError';
  constructor(
    readonly code: StunDecodeErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export type DecodeResult<T> = { ok: true; value: T } | { ok: false; error: StunDecodeError };

const fail = (code: StunDecodeErrorCode, message: string): { ok: false; error: StunDecodeError } => ({
  ok: false,
  error: new StunDecodeError(code, message),
});

const CLASS_BITS: Record<StunClass, number> = { request: 0x000, indication: 0x010, success: 0x100, error: 0x110 };

/** Packs method and class into the 14-bit message type (RFC 8489 §5, figure 3). */
export function messageType(cls: StunClass, method: number): number {
  return ((method & 0xf80) << 2) | ((method & 0x070) << 1) | (method & 0x00f) | CLASS_BITS[cls];
}

function splitType(type: number): { cls: StunClass; method: number } {
  const c = type & 0x110;
  const cls: StunClass = c === 0x000 ? 'request' : c === 0x010 ? 'indication' : c === 0x100 ? 'success' : 'error';
  const method = ((type & 0x3e00) >> 2) | ((type & 0x00e0) >> 1) | (type & 0x000f);
  return { cls, method };
}

/** True when the first byte could start a STUN message (top two bits zero, RFC 7983 §7: 0–3). */
export function looksLikeStun(bytes: Uint8Array): boolean {
  return bytes.length >= HEADER_BYTES && (bytes[0]! & 0xc0) === 0 && new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4) === MAGIC_COOKIE;
}

/**
 * Decodes one STUN message. The input must be exactly one message (a UDP datagram, or a TCP
 * frame cut with {@link frameLength}).
 * @returns the message, or TRUNCATED / NOT_STUN / BAD_MAGIC_COOKIE / BAD_LENGTH /
 *   BAD_ATTRIBUTE_LENGTH / ATTRIBUTE_AFTER_FINGERPRINT. Never throws.
 */
export function decodeMessage(bytes: Uint8Array): DecodeResult<StunMessage> {
  if (bytes.length < HEADER_BYTES) return fail('TRUNCATED', `${bytes.length} bytes is shorter than the 20-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = view.getUint16(0);
  if (type & 0xc000) return fail('NOT_STUN', 'the two most significant bits are not zero');
  const length = view.getUint16(2);
  if (view.getUint32(4) !== MAGIC_COOKIE) return fail('BAD_MAGIC_COOKIE', 'magic cookie is not 0x2112A442');
  if (length % 4 !== 0) return fail('BAD_LENGTH', `message length ${length} is not a multiple of 4`);
  if (HEADER_BYTES + length > bytes.length) return fail('TRUNCATED', `header says ${length} bytes of attributes, ${bytes.length - HEADER_BYTES} present`);
  if (HEADER_BYTES + length < bytes.length) return fail('BAD_LENGTH', `header says ${length} bytes of attributes, ${bytes.length - HEADER_BYTES} present`);
  const attributes: RawAttribute[] = [];
  let offset = HEADER_BYTES;
  let sawFingerprint = false;
  while (offset < HEADER_BYTES + length) {
    if (sawFingerprint) return fail('ATTRIBUTE_AFTER_FINGERPRINT', 'FINGERPRINT must be the last attribute');
    if (offset + 4 > HEADER_BYTES + length) return fail('BAD_ATTRIBUTE_LENGTH', `attribute header at ${offset} is cut off`);
    const attrType = view.getUint16(offset);
    const attrLength = view.getUint16(offset + 2);
    const padded = (attrLength + 3) & ~3;
    if (offset + 4 + padded > HEADER_BYTES + length) {
      return fail('BAD_ATTRIBUTE_LENGTH', `attribute 0x${attrType.toString(16)} at ${offset} claims ${attrLength} bytes, past the message end`);
    }
    attributes.push({ type: attrType, value: bytes.subarray(offset + 4, offset + 4 + attrLength), offset });
    if (attrType === Attr.FINGERPRINT) sawFingerprint = true;
    offset += 4 + padded;
  }
  const { cls, method } = splitType(type);
  return { ok: true, value: { cls, method, transactionId: bytes.subarray(8, 20), attributes, raw: bytes.subarray(0, HEADER_BYTES + length) } };
}

/** First attribute of a type, if any. */
export function getAttribute(msg: StunMessage, type: number): RawAttribute | undefined {
  return msg.attributes.find((a) => a.type === type);
}

/** A fresh random 96-bit transaction id. */
export function newTransactionId(): Uint8Array {
  const id = new Uint8Array(12);
  globalThis.crypto.getRandomValues(id);
  return id;
}

/** Computes an HMAC over `data` with `key`; injected so the codec stays free of Node imports. */
export type Hmac = (algorithm: 'sha1' | 'sha256', key: Uint8Array, data: Uint8Array) => Uint8Array;

/**
 * Builds one STUN message. Attributes are appended in order; {@link integrity} and
 * {@link fingerprint} must come last (RFC 8489 §14.5–§14.7), and `build()` finishes the header.
 */
export class MessageBuilder {
  private chunks: Uint8Array[] = [];
  private length = 0;

  constructor(
    readonly cls: StunClass,
    readonly method: number,
    readonly transactionId: Uint8Array = newTransactionId(),
  ) {
    if (transactionId.length !== 12) throw new RangeError('transaction id must be 12 bytes');
  }

  /**
   * Appends a raw attribute, zero-padded to 4 bytes.
   * @throws RangeError when the value exceeds 65535 bytes or the message would exceed 65535
   */
  add(type: number, value: Uint8Array): this {
    if (value.length > 0xffff) throw new RangeError(`attribute 0x${type.toString(16)} value of ${value.length} bytes is too long`);
    const padded = (value.length + 3) & ~3;
    if (this.length + 4 + padded > 0xffff) throw new RangeError('STUN message would exceed 65535 bytes');
    const chunk = new Uint8Array(4 + padded);
    const view = new DataView(chunk.buffer);
    view.setUint16(0, type);
    view.setUint16(2, value.length);
    chunk.set(value, 4);
    this.chunks.push(chunk);
    this.length += chunk.length;
    return this;
  }

  /**
   * Appends MESSAGE-INTEGRITY (HMAC-SHA1, 20 bytes, RFC 8489 §14.5) or MESSAGE-INTEGRITY-SHA256
   * (32 bytes, §14.6), computed over the message so far with the length field covering it.
   */
  integrity(key: Uint8Array, hmac: Hmac, algorithm: 'sha1' | 'sha256' = 'sha1'): this {
    const size = algorithm === 'sha1' ? 20 : 32;
    const head = this.header(this.length + 4 + size);
    const mac = hmac(algorithm, key, concat([head, ...this.chunks]));
    return this.add(algorithm === 'sha1' ? Attr.MESSAGE_INTEGRITY : Attr.MESSAGE_INTEGRITY_SHA256, mac.subarray(0, size));
  }

  /** Appends FINGERPRINT: CRC-32 of the message so far XOR 0x5354554e (RFC 8489 §14.7). */
  fingerprint(): this {
    const head = this.header(this.length + 8);
    const value = new Uint8Array(4);
    new DataView(value.buffer).setUint32(0, (crc32(concat([head, ...this.chunks])) ^ FINGERPRINT_XOR) >>> 0);
    return this.add(Attr.FINGERPRINT, value);
  }

  /** The encoded message. */
  build(): Uint8Array {
    return concat([this.header(this.length), ...this.chunks]);
  }

  private header(length: number): Uint8Array {
    const head = new Uint8Array(HEADER_BYTES);
    const view = new DataView(head.buffer);
    view.setUint16(0, messageType(this.cls, this.method));
    view.setUint16(2, length);
    view.setUint32(4, MAGIC_COOKIE);
    head.set(this.transactionId, 8);
    return head;
  }
}

/** Re-encodes a decoded message from its raw attributes (padding becomes zeros). */
export function encodeMessage(msg: Pick<StunMessage, 'cls' | 'method' | 'transactionId' | 'attributes'>): Uint8Array {
  const b = new MessageBuilder(msg.cls, msg.method, msg.transactionId);
  for (const a of msg.attributes) b.add(a.type, a.value);
  return b.build();
}

/** Concatenates byte strings into one new Uint8Array. */
export function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The message bytes before attribute `attr`, with the header length set to end `extra` bytes past it. */
function prefixWithLength(msg: StunMessage, attr: RawAttribute, extra: number): Uint8Array {
  // A copy (a Node Buffer's slice() would be a view), written through its own offset: the raw
  // message may sit anywhere in a larger buffer (a TLS record, a pooled chunk).
  const prefix = new Uint8Array(attr.offset);
  prefix.set(msg.raw.subarray(0, attr.offset));
  new DataView(prefix.buffer).setUint16(2, attr.offset - HEADER_BYTES + extra);
  return prefix;
}

/** Constant-time comparison of two byte strings. */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * Checks MESSAGE-INTEGRITY-SHA256 if present, else MESSAGE-INTEGRITY (RFC 8489 §14.5, §14.6).
 * @returns 'ok', 'missing' (neither attribute), or 'mismatch'
 */
export function verifyIntegrity(msg: StunMessage, key: Uint8Array, hmac: Hmac): 'ok' | 'missing' | 'mismatch' {
  const sha256 = getAttribute(msg, Attr.MESSAGE_INTEGRITY_SHA256);
  const sha1 = getAttribute(msg, Attr.MESSAGE_INTEGRITY);
  const attr = sha256 ?? sha1;
  if (!attr) return 'missing';
  const algorithm = attr === sha256 ? 'sha256' : 'sha1';
  // SHA256 may be truncated to 16..32 bytes in multiples of 4; SHA1 is always 20.
  const len = attr.value.length;
  if (algorithm === 'sha1' ? len !== 20 : len < 16 || len > 32 || len % 4 !== 0) return 'mismatch';
  const mac = hmac(algorithm, key, prefixWithLength(msg, attr, 4 + ((len + 3) & ~3)));
  return timingSafeEqual(mac.subarray(0, len), attr.value) ? 'ok' : 'mismatch';
}

/**
 * Checks FINGERPRINT (RFC 8489 §14.7).
 * @returns 'ok', 'missing' or 'mismatch'
 */
export function verifyFingerprint(msg: StunMessage): 'ok' | 'missing' | 'mismatch' {
  const attr = getAttribute(msg, Attr.FINGERPRINT);
  if (!attr) return 'missing';
  if (attr.value.length !== 4) return 'mismatch';
  const expected = (crc32(prefixWithLength(msg, attr, 8)) ^ FINGERPRINT_XOR) >>> 0;
  return new DataView(attr.value.buffer, attr.value.byteOffset, 4).getUint32(0) === expected ? 'ok' : 'mismatch';
}
