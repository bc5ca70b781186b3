/**
 * Typed attribute values: readers take a raw value and return a value or a
 * {@link StunDecodeError} (never throw); writers return the value bytes for MessageBuilder.add().
 * Sections: RFC 8489 §14, RFC 8656 §18, RFC 5780 §7.
 */
import { MAGIC_COOKIE } from './constants.js';
import { StunDecodeError, type DecodeResult } from './message.js';

/** A transport address. `family` 4 or 6; `address` in dotted-quad or RFC 5952 text. */
export interface TransportAddress {
  family: 4 | 6;
  address: string;
  port: number;
}

const bad = (message: string): { ok: false; error: StunDecodeError } => ({ ok: false, error: new StunDecodeError('BAD_ATTRIBUTE_LENGTH', message) });
const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** Parses an IPv4 or IPv6 text address to bytes; undefined when it is neither. */
export function addressBytes(address: string): Uint8Array | undefined {
  if (address.includes(':')) return ipv6Bytes(address);
  const parts = address.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    out[i] = Number(p);
  }
  return out;
}

function ipv6Bytes(text: string): Uint8Array | undefined {
  let s = text;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    const v4 = addressBytes(s.slice(lastColon + 1));
    if (!v4) return undefined;
    tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!];
    s = s.slice(0, lastColon + 1) + '0:0';
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const parse = (h: string) => (h === '' ? [] : h.split(':'));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  // `::` stands for at least one zero group (RFC 4291 §2.2), so at most 7 groups around it.
  if (halves.length === 2 && head.length + rest.length > 7) return undefined;
  const groups = halves.length === 2 ? [...head, ...Array(8 - head.length - rest.length).fill('0'), ...rest] : head;
  if (groups.length !== 8) return undefined;
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const g = groups[i]!;
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  }
  if (tail.length) {
    out[12] = tail[0]! >> 8;
    out[13] = tail[0]! & 0xff;
    out[14] = tail[1]! >> 8;
    out[15] = tail[1]! & 0xff;
  }
  return out;
}

/** Formats 4 or 16 address bytes as text (IPv6 per RFC 5952: lowercase, longest zero run as ::). */
export function addressText(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** MAPPED-ADDRESS, ALTERNATE-SERVER, RESPONSE-ORIGIN, OTHER-ADDRESS (RFC 8489 §14.1). */
export function readAddress(value: Uint8Array): DecodeResult<TransportAddress> {
  if (value.length < 4) return bad('address attribute shorter than 4 bytes');
  const v = dv(value);
  const fam = v.getUint8(1);
  const port = v.getUint16(2);
  if (fam === 0x01 && value.length === 8) return { ok: true, value: { family: 4, address: addressText(value.subarray(4, 8)), port } };
  if (fam === 0x02 && value.length === 20) return { ok: true, value: { family: 6, address: addressText(value.subarray(4, 20)), port } };
  return bad(`address family 0x${fam.toString(16)} with ${value.length} bytes`);
}

/**
 * Encodes an address attribute value.
 * @throws RangeError when the address text is not IPv4/IPv6 of the given family
 */
export function writeAddress(a: TransportAddress): Uint8Array {
  const bytes = addressBytes(a.address);
  if (!bytes || bytes.length !== (a.family === 4 ? 4 : 16)) throw new RangeError(`not an IPv${a.family} address: ${a.address}`);
  const out = new Uint8Array(4 + bytes.length);
  const v = dv(out);
  v.setUint8(1, a.family === 4 ? 0x01 : 0x02);
  v.setUint16(2, a.port);
  out.set(bytes, 4);
  return out;
}

function xor(value: Uint8Array, transactionId: Uint8Array): Uint8Array {
  const out = value.slice();
  const v = dv(out);
  v.setUint16(2, v.getUint16(2) ^ (MAGIC_COOKIE >>> 16));
  const mask = new Uint8Array(16);
  dv(mask).setUint32(0, MAGIC_COOKIE);
  mask.set(transactionId, 4);
  for (let i = 4; i < out.length; i++) out[i] = out[i]! ^ mask[i - 4]!;
  return out;
}

/** XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS (RFC 8489 §14.2, RFC 8656 §18.3). */
export function readXorAddress(value: Uint8Array, transactionId: Uint8Array): DecodeResult<TransportAddress> {
  if (value.length !== 8 && value.length !== 20) return bad(`XOR address of ${value.length} bytes`);
  return readAddress(xor(value, transactionId));
}

/** @throws RangeError as {@link writeAddress} */
export function writeXorAddress(a: TransportAddress, transactionId: Uint8Array): Uint8Array {
  return xor(writeAddress(a), transactionId);
}

const encoder = new TextEncoder();
// ignoreBOM: a leading U+FEFF is part of the text (the default would drop it, and a USERNAME or
// REALM would then hash to another key than the client's, RFC 8489 §9.2.2).
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** USERNAME, REALM, NONCE, SOFTWARE, ALTERNATE-DOMAIN: UTF-8 text with a length limit in bytes. */
export function readString(value: Uint8Array, maxBytes = 763): DecodeResult<string> {
  if (value.length > maxBytes) return bad(`text attribute of ${value.length} bytes exceeds ${maxBytes}`);
  try {
    return { ok: true, value: decoder.decode(value) };
  } catch {
    return { ok: false, error: new StunDecodeError('BAD_ATTRIBUTE_LENGTH', 'text attribute is not valid UTF-8') };
  }
}

export const writeString = (s: string): Uint8Array => encoder.encode(s);

/** ERROR-CODE (RFC 8489 §14.8): class*100 + number, and a reason phrase. */
export function readErrorCode(value: Uint8Array): DecodeResult<{ code: number; reason: string }> {
  if (value.length < 4) return bad('ERROR-CODE shorter than 4 bytes');
  const code = (value[2]! & 0x7) * 100 + value[3]!;
  if (code < 300 || code > 699 || value[3]! > 99) return bad(`ERROR-CODE ${code} out of range`);
  const reason = readString(value.subarray(4));
  return reason.ok ? { ok: true, value: { code, reason: reason.value } } : reason;
}

export function writeErrorCode(code: number, reason: string): Uint8Array {
  const r = encoder.encode(reason);
  const out = new Uint8Array(4 + r.length);
  out[2] = Math.floor(code / 100);
  out[3] = code % 100;
  out.set(r, 4);
  return out;
}

/** A 32-bit unsigned value: LIFETIME (s), PRIORITY, CHANGE-REQUEST flags, ICMP. */
export function readUint32(value: Uint8Array): DecodeResult<number> {
  if (value.length !== 4) return bad(`expected 4 bytes, got ${value.length}`);
  return { ok: true, value: dv(value).getUint32(0) };
}

export function writeUint32(n: number): Uint8Array {
  const out = new Uint8Array(4);
  dv(out).setUint32(0, n >>> 0);
  return out;
}

/** CHANNEL-NUMBER (RFC 8656 §18.1): 16-bit number + 16 bits RFFU. */
export function readChannelNumber(value: Uint8Array): DecodeResult<number> {
  if (value.length !== 4) return bad(`CHANNEL-NUMBER of ${value.length} bytes`);
  return { ok: true, value: dv(value).getUint16(0) };
}

export function writeChannelNumber(n: number): Uint8Array {
  const out = new Uint8Array(4);
  dv(out).setUint16(0, n);
  return out;
}

/** REQUESTED-TRANSPORT (RFC 8656 §18.7): protocol number (17 = UDP). */
export function readRequestedTransport(value: Uint8Array): DecodeResult<number> {
  if (value.length !== 4) return bad(`REQUESTED-TRANSPORT of ${value.length} bytes`);
  return { ok: true, value: value[0]! };
}

export const writeRequestedTransport = (protocol: number): Uint8Array => new Uint8Array([protocol, 0, 0, 0]);

/** REQUESTED-ADDRESS-FAMILY / ADDITIONAL-ADDRESS-FAMILY (RFC 8656 §18.8, §18.11): 0x01 IPv4, 0x02 IPv6. */
export function readAddressFamily(value: Uint8Array): DecodeResult<number> {
  if (value.length !== 4) return bad(`address family attribute of ${value.length} bytes`);
  return { ok: true, value: value[0]! };
}

export const writeAddressFamily = (family: number): Uint8Array => new Uint8Array([family, 0, 0, 0]);

/** EVEN-PORT (RFC 8656 §18.4): the R bit asks to reserve the next-higher port. */
export function readEvenPort(value: Uint8Array): DecodeResult<{ reserveNext: boolean }> {
  if (value.length !== 1) return bad(`EVEN-PORT of ${value.length} bytes`);
  return { ok: true, value: { reserveNext: (value[0]! & 0x80) !== 0 } };
}

export const writeEvenPort = (reserveNext: boolean): Uint8Array => new Uint8Array([reserveNext ? 0x80 : 0]);

/** RESERVATION-TOKEN (RFC 8656 §18.9): 8 opaque bytes. */
export function readReservationToken(value: Uint8Array): DecodeResult<Uint8Array> {
  if (value.length !== 8) return bad(`RESERVATION-TOKEN of ${value.length} bytes`);
  return { ok: true, value };
}

/** UNKNOWN-ATTRIBUTES (RFC 8489 §14.9): a list of 16-bit types. */
export function readUnknownAttributes(value: Uint8Array): DecodeResult<number[]> {
  if (value.length % 2 !== 0) return bad('UNKNOWN-ATTRIBUTES length is odd');
  const v = dv(value);
  const out: number[] = [];
  for (let i = 0; i < value.length; i += 2) out.push(v.getUint16(i));
  return { ok: true, value: out };
}

export function writeUnknownAttributes(types: number[]): Uint8Array {
  const out = new Uint8Array(types.length * 2);
  types.forEach((t, i) => dv(out).setUint16(i * 2, t));
  return out;
}

/** PASSWORD-ALGORITHMS (RFC 8489 §14.11): list of (algorithm, parameters). */
export function readPasswordAlgorithms(value: Uint8Array): DecodeResult<{ algorithm: number; parameters: Uint8Array }[]> {
  const out: { algorithm: number; parameters: Uint8Array }[] = [];
  let o = 0;
  while (o < value.length) {
    if (o + 4 > value.length) return bad('PASSWORD-ALGORITHMS entry cut off');
    const v = dv(value);
    const algorithm = v.getUint16(o);
    const len = v.getUint16(o + 2);
    const padded = (len + 3) & ~3;
    if (o + 4 + len > value.length) return bad('PASSWORD-ALGORITHMS parameters past the end');
    out.push({ algorithm, parameters: value.subarray(o + 4, o + 4 + len) });
    o += 4 + padded;
  }
  return { ok: true, value: out };
}

export function writePasswordAlgorithms(list: { algorithm: number; parameters?: Uint8Array }[]): Uint8Array {
  const parts = list.map(({ algorithm, parameters = new Uint8Array() }) => {
    const b = new Uint8Array(4 + ((parameters.length + 3) & ~3));
    dv(b).setUint16(0, algorithm);
    dv(b).setUint16(2, parameters.length);
    b.set(parameters, 4);
    return b;
  });
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** PASSWORD-ALGORITHM (RFC 8489 §14.12): one (algorithm, parameters). */
export function readPasswordAlgorithm(value: Uint8Array): DecodeResult<{ algorithm: number; parameters: Uint8Array }> {
  const list = readPasswordAlgorithms(value);
  if (!list.ok) return list;
  if (list.value.length !== 1) return bad('PASSWORD-ALGORITHM must hold exactly one algorithm');
  return { ok: true, value: list.value[0]! };
}

/** CHANGE-REQUEST (RFC 5780 §7.2): change IP (0x4) and/or change port (0x2). */
export function readChangeRequest(value: Uint8Array): DecodeResult<{ changeIp: boolean; changePort: boolean }> {
  const n = readUint32(value);
  if (!n.ok) return n;
  return { ok: true, value: { changeIp: (n.value & 0x4) !== 0, changePort: (n.value & 0x2) !== 0 } };
}

export const writeChangeRequest = (r: { changeIp: boolean; changePort: boolean }): Uint8Array => writeUint32((r.changeIp ? 4 : 0) | (r.changePort ? 2 : 0));

/** ADDRESS-ERROR-CODE (RFC 8656 §18.12): family + error code + reason. */
export function readAddressErrorCode(value: Uint8Array): DecodeResult<{ family: number; code: number; reason: string }> {
  if (value.length < 4) return bad('ADDRESS-ERROR-CODE shorter than 4 bytes');
  const ec = readErrorCode(new Uint8Array([0, 0, value[2]!, value[3]!, ...value.subarray(4)]));
  return ec.ok ? { ok: true, value: { family: value[0]!, ...ec.value } } : ec;
}

export function writeAddressErrorCode(family: number, code: number, reason: string): Uint8Array {
  const out = writeErrorCode(code, reason);
  out[0] = family;
  return out;
}

/** ICMP (RFC 8656 §18.13): type, code, error data. */
export function readIcmp(value: Uint8Array): DecodeResult<{ type: number; code: number; data: number }> {
  if (value.length !== 8) return bad(`ICMP of ${value.length} bytes`);
  const v = dv(value);
  return { ok: true, value: { type: v.getUint8(2), code: v.getUint8(3), data: v.getUint32(4) } };
}

export function writeIcmp(i: { type: number; code: number; data: number }): Uint8Array {
  const out = new Uint8Array(8);
  const v = dv(out);
  v.setUint8(2, i.type);
  v.setUint8(3, i.code);
  v.setUint32(4, i.data);
  return out;
}
