/**
 * What the STUN/TURN codec must do with any bytes (RFC 8489, RFC 8656): decode to a value or a
 * typed StunDecodeError, never throw; re-encode exactly; typed attribute readers and writers
 * round-trip; integrity and fingerprint verdicts match what the generator computed; ChannelData and
 * the TCP/TLS stream framing agree with the decoders and always make progress.
 */
import {
  Attr, StunDecodeError, decodeMessage, encodeMessage, decodeChannelData, encodeChannelData, frameLength, looksLikeStun, looksLikeChannelData,
  verifyIntegrity, verifyFingerprint, nodeHmac, addressBytes, addressText, writeAddress, readAddress, readXorAddress, writeXorAddress, readString,
  writeString, readErrorCode, writeErrorCode, readUnknownAttributes, writeUnknownAttributes, readChannelNumber, writeChannelNumber, readUint32,
  writeUint32, readRequestedTransport, writeRequestedTransport, readAddressFamily, writeAddressFamily, readEvenPort, writeEvenPort,
  readReservationToken, readPasswordAlgorithms, writePasswordAlgorithms, readPasswordAlgorithm, readChangeRequest, writeChangeRequest,
  readAddressErrorCode, writeAddressErrorCode, readIcmp, writeIcmp, type DecodeResult, type StunMessage,
} from '@dari/stun';
import { check } from './target.js';
import { toHex } from './mutate.js';

/** The key generated messages are signed with (any 16 bytes: the codec does not care how it was made). */
export const FUZZ_KEY = new Uint8Array(Buffer.from('dari-fuzz-key-01'));

const KNOWN: ReadonlySet<number> = new Set(Object.values(Attr));
const DECODE_CODES = new Set(['TRUNCATED', 'NOT_STUN', 'BAD_MAGIC_COOKIE', 'BAD_LENGTH', 'BAD_ATTRIBUTE_LENGTH', 'ATTRIBUTE_AFTER_FINGERPRINT']);

/** What the generator knows about a message it built. */
export interface Expectation {
  wellFormed: boolean;
  integrityOk: boolean;
  fingerprintOk: boolean;
}

const same = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

function typedError(r: { ok: false; error: unknown }, what: string): void {
  check(r.error instanceof StunDecodeError && DECODE_CODES.has(r.error.code), `${what}: untyped error ${String(r.error)}`);
}

/** Reader → writer → reader gives the same value (compared as JSON of the value). */
function roundTrip<T>(name: string, first: DecodeResult<T>, write: (v: T) => Uint8Array, read: (b: Uint8Array) => DecodeResult<T>): string {
  if (!first.ok) {
    typedError(first, name);
    return `${name}:err`;
  }
  const again = read(write(first.value));
  check(again.ok, `${name}: value re-encoded by its writer does not read back`);
  const a = JSON.stringify(first.value, bytesAsHex);
  const b = JSON.stringify(again.value, bytesAsHex);
  check(a === b, () => `${name}: ${a} read back as ${b}`);
  return `${name}:ok`;
}

function bytesAsHex(_key: string, v: unknown): unknown {
  return v instanceof Uint8Array ? toHex(v) : v;
}

/** Runs the typed reader of one attribute (and its writer back); returns a tag. */
export function checkAttribute(type: number, value: Uint8Array, transactionId: Uint8Array): string {
  switch (type) {
    case Attr.MAPPED_ADDRESS:
    case Attr.ALTERNATE_SERVER:
    case Attr.RESPONSE_ORIGIN:
    case Attr.OTHER_ADDRESS:
      return roundTrip('address', readAddress(value), writeAddress, readAddress);
    case Attr.XOR_MAPPED_ADDRESS:
    case Attr.XOR_PEER_ADDRESS:
    case Attr.XOR_RELAYED_ADDRESS:
      return roundTrip('xor-address', readXorAddress(value, transactionId), (v) => writeXorAddress(v, transactionId), (b) => readXorAddress(b, transactionId));
    case Attr.USERNAME:
    case Attr.REALM:
    case Attr.NONCE:
    case Attr.SOFTWARE:
    case Attr.ALTERNATE_DOMAIN: {
      const r = readString(value, 0xffff);
      // Text must come back byte for byte: credentials are hashed from it (RFC 8489 §9.2.2).
      if (r.ok) check(same(writeString(r.value), value), () => `text ${toHex(value)} read as ${JSON.stringify(r.value)}, which encodes differently`);
      return roundTrip('text', r, writeString, (b) => readString(b, 0xffff));
    }
    case Attr.ERROR_CODE:
      return roundTrip('error-code', readErrorCode(value), (v) => writeErrorCode(v.code, v.reason), readErrorCode);
    case Attr.UNKNOWN_ATTRIBUTES:
      return roundTrip('unknown-attributes', readUnknownAttributes(value), writeUnknownAttributes, readUnknownAttributes);
    case Attr.CHANNEL_NUMBER:
      return roundTrip('channel-number', readChannelNumber(value), writeChannelNumber, readChannelNumber);
    case Attr.LIFETIME:
    case Attr.PRIORITY:
    case Attr.CACHE_TIMEOUT:
      return roundTrip('uint32', readUint32(value), writeUint32, readUint32);
    case Attr.REQUESTED_TRANSPORT:
      return roundTrip('transport', readRequestedTransport(value), writeRequestedTransport, readRequestedTransport);
    case Attr.REQUESTED_ADDRESS_FAMILY:
    case Attr.ADDITIONAL_ADDRESS_FAMILY:
      return roundTrip('family', readAddressFamily(value), writeAddressFamily, readAddressFamily);
    case Attr.EVEN_PORT:
      return roundTrip('even-port', readEvenPort(value), (v) => writeEvenPort(v.reserveNext), readEvenPort);
    case Attr.RESERVATION_TOKEN:
      return roundTrip('token', readReservationToken(value), (v) => v, readReservationToken);
    case Attr.PASSWORD_ALGORITHMS:
      return roundTrip('algorithms', readPasswordAlgorithms(value), writePasswordAlgorithms, readPasswordAlgorithms);
    case Attr.PASSWORD_ALGORITHM:
      return roundTrip('algorithm', readPasswordAlgorithm(value), (v) => writePasswordAlgorithms([v]), readPasswordAlgorithm);
    case Attr.CHANGE_REQUEST:
      return roundTrip('change-request', readChangeRequest(value), writeChangeRequest, readChangeRequest);
    case Attr.ADDRESS_ERROR_CODE:
      return roundTrip('address-error-code', readAddressErrorCode(value), (v) => writeAddressErrorCode(v.family, v.code, v.reason), readAddressErrorCode);
    case Attr.ICMP:
      return roundTrip('icmp', readIcmp(value), writeIcmp, readIcmp);
    default:
      return 'raw';
  }
}

/** Every reader on any value: a value or a typed error, never a throw. */
function everyReader(value: Uint8Array, transactionId: Uint8Array): void {
  for (const r of [readAddress(value), readXorAddress(value, transactionId), readString(value), readErrorCode(value), readUnknownAttributes(value), readChannelNumber(value), readUint32(value), readEvenPort(value), readPasswordAlgorithms(value), readPasswordAlgorithm(value), readAddressErrorCode(value), readIcmp(value), readChangeRequest(value)]) {
    if (!r.ok) typedError(r, 'reader');
  }
}

/** All checks on one input that should be a STUN message; returns behaviour tags. */
export function checkMessage(bytes: Uint8Array, expect?: Expectation, expectedAttributes?: readonly { type: number; value: Uint8Array }[]): string[] {
  const tags: string[] = [];
  const r = decodeMessage(bytes);
  if (!r.ok) {
    typedError(r, 'decodeMessage');
    check(!expect?.wellFormed, () => `well-formed message rejected: ${r.error.code} ${r.error.message}`);
    tags.push(`decode:${r.error.code}`);
  } else {
    const m = r.value;
    check(looksLikeStun(bytes), 'decoded as STUN but looksLikeStun says no');
    check(m.raw.length === bytes.length, 'decoded message does not span the input');
    let end = 20;
    for (const a of m.attributes) {
      check(a.offset === end, `attribute at ${a.offset}, expected ${end}`);
      end = a.offset + 4 + ((a.value.length + 3) & ~3);
    }
    check(end === bytes.length, 'attributes do not end at the message end');
    if (expectedAttributes) {
      check(expectedAttributes.length === m.attributes.length, () => `${m.attributes.length} attributes decoded, ${expectedAttributes.length} encoded`);
      expectedAttributes.forEach((x, i) => check(x.type === m.attributes[i]!.type && same(x.value, m.attributes[i]!.value), `attribute ${i} differs from what was encoded`));
    }
    checkRoundTrip(m, bytes);
    for (const a of m.attributes) tags.push(`attr:${KNOWN.has(a.type) ? a.type.toString(16) : a.type < 0x8000 ? 'unknown-required' : 'unknown-optional'}:${checkAttribute(a.type, a.value, m.transactionId)}`);
    // Every reader on one attribute per message (errors capture stacks: all of them would triple the cost).
    if (m.attributes.length > 0) everyReader(m.attributes[bytes.length % m.attributes.length]!.value, m.transactionId);
    const mi = verifyIntegrity(m, FUZZ_KEY, nodeHmac);
    const fp = verifyFingerprint(m);
    if (expect?.integrityOk) check(mi === 'ok', `MESSAGE-INTEGRITY computed with the key verifies as ${mi}`);
    else if (expect?.wellFormed) check(mi !== 'ok', 'MESSAGE-INTEGRITY that was not computed with the key verifies');
    if (expect?.fingerprintOk) check(fp === 'ok', `FINGERPRINT computed over the message verifies as ${fp}`);
    tags.push(`decode:ok:${m.cls}`, `mi:${mi}`, `fp:${fp}`);
  }
  checkChannelData(bytes, tags);
  checkFrame(bytes, r.ok ? r.value : undefined);
  return tags;
}

/** decode → encode → decode is the same message; encoding is exact when the padding was zero. */
function checkRoundTrip(m: StunMessage, bytes: Uint8Array): void {
  const enc = encodeMessage(m);
  const again = decodeMessage(enc);
  check(again.ok, 'a decoded message, re-encoded, does not decode');
  const b = again.value;
  check(b.cls === m.cls && b.method === m.method && same(b.transactionId, m.transactionId), 'header changed in a round trip');
  check(b.attributes.length === m.attributes.length && b.attributes.every((x, i) => x.type === m.attributes[i]!.type && same(x.value, m.attributes[i]!.value)), 'attributes changed in a round trip');
  check(same(encodeMessage(b), enc), 'encoding is not idempotent');
  const zeroPadding = m.attributes.every((a) => bytes.subarray(a.offset + 4 + a.value.length, a.offset + 4 + ((a.value.length + 3) & ~3)).every((x) => x === 0));
  if (zeroPadding) check(same(enc, bytes), 're-encoding a message with zero padding changed its bytes');
}

function checkChannelData(bytes: Uint8Array, tags: string[]): void {
  const cd = decodeChannelData(bytes);
  if (!cd.ok) {
    typedError(cd, 'decodeChannelData');
    tags.push(`cd:${cd.error.code}`);
    return;
  }
  const { channel, data } = cd.value;
  check(looksLikeChannelData(bytes), 'decoded as ChannelData but looksLikeChannelData says no');
  check(channel >= 0x4000 && channel <= 0x7fff, `channel 0x${channel.toString(16)} out of range`);
  const trailing = bytes.length - 4 - data.length;
  check(trailing >= 0 && trailing <= 3, `ChannelData with ${trailing} trailing bytes accepted`);
  const enc = encodeChannelData(channel, data, trailing > 0);
  const back = decodeChannelData(enc);
  check(back.ok && back.value.channel === channel && same(back.value.data, data), 'ChannelData round trip differs');
  tags.push('cd:ok');
}

/** Stream framing (RFC 8489 §6.2.2, RFC 8656 §12.5): progress, and agreement with the decoders. */
function checkFrame(bytes: Uint8Array, decoded: StunMessage | undefined): void {
  const n = frameLength(bytes);
  check(Number.isInteger(n) && (n === -1 || n === 0 || n >= 4), `frameLength ${n}`);
  if (bytes.length >= 4 && (bytes[0]! & 0x80) === 0) check(n > 0, 'a STUN or ChannelData first byte with 4 bytes gives no frame length');
  if (decoded) check(n === bytes.length, `frameLength ${n} of a ${bytes.length}-byte message`);
  if (n > 0 && n <= bytes.length) {
    const frame = bytes.subarray(0, n);
    const r = (bytes[0]! & 0x40) === 0 ? decodeMessage(frame) : decodeChannelData(frame);
    if (!r.ok) typedError(r, 'frame decode');
  }
}

/**
 * A TCP/TLS byte stream cut into chunks at `cuts`: the frames an adapter cuts with frameLength
 * (accumulating chunks as packages/server's turn adapter does) are the same whatever the cuts.
 */
export function checkStream(stream: Uint8Array, cuts: readonly number[]): number {
  const whole = cutFrames([stream]);
  const chunks: Uint8Array[] = [];
  let last = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    const at = Math.max(last, Math.min(stream.length, c));
    chunks.push(stream.subarray(last, at));
    last = at;
  }
  chunks.push(stream.subarray(last));
  const split = cutFrames(chunks);
  check(whole.frames.length === split.frames.length && whole.frames.every((f, i) => same(f, split.frames[i]!)), 'frames depend on how the stream was chunked');
  check(whole.closed === split.closed && (whole.closed || whole.rest === split.rest), 'stream remainder depends on chunking');
  for (const f of whole.frames) checkMessage(f);
  return whole.frames.length;
}

function cutFrames(chunks: Uint8Array[]): { frames: Uint8Array[]; rest: number; closed: boolean } {
  const frames: Uint8Array[] = [];
  let pending = new Uint8Array(0);
  for (const chunk of chunks) {
    const merged = new Uint8Array(pending.length + chunk.length);
    merged.set(pending);
    merged.set(chunk, pending.length);
    pending = merged;
    while (pending.length > 0) {
      const n = frameLength(pending);
      if (n < 0) return { frames, rest: pending.length, closed: true };
      if (n === 0 || pending.length < n) break;
      frames.push(pending.subarray(0, n));
      pending = pending.subarray(n);
    }
  }
  return { frames, rest: pending.length, closed: false };
}

/** Address text parsing: bytes or undefined, never a throw; what parses formats and parses back. */
export function checkAddressText(text: string): string {
  const b = addressBytes(text);
  if (!b) return 'addr:none';
  check(b.length === 4 || b.length === 16, `address ${JSON.stringify(text)} parsed to ${b.length} bytes`);
  const t = addressText(b);
  const again = addressBytes(t);
  check(again !== undefined && same(again, b), () => `address ${JSON.stringify(text)} → ${t} does not parse back`);
  const family = b.length === 4 ? 4 : 6;
  check(readAddress(writeAddress({ family, address: text, port: 1 })).ok, `writeAddress of ${JSON.stringify(text)} does not read back`);
  return `addr:v${family}`;
}
