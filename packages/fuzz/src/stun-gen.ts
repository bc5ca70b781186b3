/**
 * Structure-aware STUN message generation (RFC 8489 §5, §14): a message is a model (type, cookie,
 * transaction id, attributes, each possibly lying about its length or padding) serialized by our
 * own encoder, which computes MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT wherever they are placed
 * (with node:crypto and zlib's CRC-32, independently of the codec under test). The model says
 * whether the result is a well-formed message and whether its integrity and fingerprint hold, so
 * the codec's answers can be checked, not just survived.
 */
import { createHmac } from 'node:crypto';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { Method, messageType, type StunClass } from '@dari/stun';
import type { Rng } from './rng.js';
import { attributeValue, randomAttributeType } from './stun-values.js';

/** One attribute of a generated message. */
export interface GenAttribute {
  type: number;
  value: Uint8Array;
  /** Added to the true length in the attribute header (a lie), default 0. */
  lengthDelta?: number;
  /** Padding byte value (RFC 8489 §14: should be 0, must be ignored), default 0. */
  padFill?: number;
  /** Omit the padding altogether. */
  noPad?: boolean;
  /** Compute the value as MESSAGE-INTEGRITY (sha1) or MESSAGE-INTEGRITY-SHA256 (sha256, `truncate` bytes). */
  integrity?: 'sha1' | 'sha256';
  truncate?: number;
  /** Compute the value as FINGERPRINT. */
  fingerprint?: boolean;
}

/** A generated message before serialization. */
export interface GenMessage {
  /** The 16-bit type field (top two bits zero for STUN). */
  type: number;
  cookie: number;
  transactionId: Uint8Array;
  attributes: GenAttribute[];
  /** Added to the true length in the header. */
  lengthDelta: number;
  /** Cut the serialized bytes to this length, if set. */
  truncateTo?: number;
}

export const MAGIC = 0x2112a442;
export const METHODS = Object.values(Method);
const CLASSES: StunClass[] = ['request', 'indication', 'success', 'error'];

/** What the serializer knows about the bytes it produced. */
export interface Serialized {
  bytes: Uint8Array;
  /** No lies: decodeMessage must accept it with exactly the model's attributes. */
  wellFormed: boolean;
  /** Well formed, and the integrity attribute verifyIntegrity picks was computed with the key. */
  integrityOk: boolean;
  /** Well formed, with a computed FINGERPRINT as the last attribute. */
  fingerprintOk: boolean;
  /** Each attribute's value as written (integrity and fingerprint values computed). */
  values: Uint8Array[];
}

/** Serializes a model, computing integrity and fingerprint values in place. */
export function serialize(m: GenMessage, key: Uint8Array): Serialized {
  const chunks: Uint8Array[] = [];
  let length = 0;
  const header = new Uint8Array(20);
  const hv = new DataView(header.buffer);
  hv.setUint16(0, m.type);
  hv.setUint32(4, m.cookie >>> 0);
  header.set(m.transactionId.subarray(0, 12), 8);
  let lies = m.lengthDelta !== 0 || m.truncateTo !== undefined || (m.type & 0xc000) !== 0 || m.cookie >>> 0 !== MAGIC;
  const sofar = (extra: number): Uint8Array => {
    const out = new Uint8Array(20 + length);
    out.set(header);
    new DataView(out.buffer).setUint16(2, (length + extra) & 0xffff);
    let o = 20;
    for (const c of chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  };
  let sawFingerprint = false;
  let sha256Picked: boolean | undefined;
  let sha1Picked: boolean | undefined;
  let fingerprintLast = false;
  const values: Uint8Array[] = [];
  for (const a of m.attributes) {
    let value = a.value;
    if (a.integrity === 'sha1') {
      value = new Uint8Array(createHmac('sha1', key).update(sofar(24)).digest());
    } else if (a.integrity === 'sha256') {
      const t = a.truncate ?? 32;
      value = new Uint8Array(createHmac('sha256', key).update(sofar(4 + ((t + 3) & ~3))).digest()).subarray(0, t);
    } else if (a.fingerprint) {
      const v = new Uint8Array(4);
      new DataView(v.buffer).setUint32(0, (zlibCrc32(sofar(8)) ^ 0x5354554e) >>> 0);
      value = v;
    }
    values.push(value);
    const declared = value.length + (a.lengthDelta ?? 0);
    const padded = a.noPad ? value.length : (value.length + 3) & ~3;
    const chunk = new Uint8Array(4 + padded);
    const cv = new DataView(chunk.buffer);
    cv.setUint16(0, a.type);
    cv.setUint16(2, declared & 0xffff);
    chunk.set(value, 4);
    if (a.padFill) chunk.fill(a.padFill, 4 + value.length);
    if (declared !== value.length || declared < 0 || declared > 0xffff || (a.noPad && value.length % 4 !== 0) || sawFingerprint) lies = true;
    chunks.push(chunk);
    length += chunk.length;
    // verifyIntegrity checks the first MESSAGE-INTEGRITY-SHA256, else the first MESSAGE-INTEGRITY.
    if (a.type === 0x001c && sha256Picked === undefined) sha256Picked = a.integrity === 'sha256' && [16, 20, 24, 28, 32].includes(a.truncate ?? 32);
    if (a.type === 0x0008 && sha1Picked === undefined) sha1Picked = a.integrity === 'sha1';
    fingerprintLast = a.type === 0x8028 && a.fingerprint === true;
    if (a.type === 0x8028) sawFingerprint = true;
  }
  let bytes = sofar(0);
  const total = length + m.lengthDelta;
  if (total > 0xffff || total < 0) lies = true;
  new DataView(bytes.buffer).setUint16(2, total & 0xffff);
  if (m.truncateTo !== undefined && m.truncateTo < bytes.length) bytes = bytes.subarray(0, m.truncateTo);
  const wellFormed = !lies && length <= 0xffff;
  return { bytes, wellFormed, integrityOk: wellFormed && (sha256Picked ?? sha1Picked ?? false), fingerprintOk: wellFormed && fingerprintLast, values };
}

/** A well-formed model: known methods and attributes, optional integrity and fingerprint at the end. */
export function randomMessage(rng: Rng): GenMessage {
  const cls = rng.pick(CLASSES);
  const method = rng.chance(0.9) ? rng.pick(METHODS) : rng.int(0x1000);
  const transactionId = rng.bytes(12);
  const attributes: GenAttribute[] = [];
  const n = rng.size(12);
  for (let i = 0; i < n; i++) {
    const type = rng.chance(0.15) && attributes.length > 0 ? rng.pick(attributes).type : randomAttributeType(rng);
    attributes.push({ type, value: attributeValue(rng, type, transactionId) });
  }
  const integrity = rng.weighted<'sha1' | 'sha256' | null>([[3, 'sha1'], [2, 'sha256'], [3, null]]);
  if (integrity) attributes.push({ type: integrity === 'sha1' ? 0x0008 : 0x001c, value: new Uint8Array(0), integrity, truncate: integrity === 'sha256' ? rng.pick([16, 20, 24, 28, 32, 32, 32]) : 20 });
  if (rng.chance(0.6)) attributes.push({ type: 0x8028, value: new Uint8Array(0), fingerprint: true });
  return { type: messageType(cls, method), cookie: MAGIC, transactionId, attributes, lengthDelta: 0 };
}

/**
 * One structural mutation of a model: lengths, types, truncation, padding, integrity and
 * fingerprint placement and size, attribute order, duplication, removal, garbage values.
 */
export function mutateStructure(rng: Rng, m: GenMessage): GenMessage {
  const attrs = m.attributes.map((a) => ({ ...a }));
  const out: GenMessage = { ...m, attributes: attrs };
  const at = attrs.length > 0 ? rng.int(attrs.length) : -1;
  const a = at >= 0 ? attrs[at]! : undefined;
  switch (rng.int(16)) {
    case 0:
      if (a) a.lengthDelta = rng.pick([-4, -1, 1, 3, 4, 8, 0xffff - a.value.length, -a.value.length]);
      break;
    case 1:
      out.lengthDelta = rng.pick([-4, -1, 1, 2, 4, 8, 0x1000, -20]);
      break;
    case 2:
      if (a) a.type = randomAttributeType(rng);
      break;
    case 3:
      out.truncateTo = rng.int(20 + attrs.reduce((n, x) => n + 4 + x.value.length, 0));
      break;
    case 4:
      if (a) a.padFill = 1 + rng.int(255);
      break;
    case 5:
      if (a) a.noPad = true;
      break;
    case 6: // FINGERPRINT somewhere other than last, or twice
      attrs.splice(rng.int(attrs.length + 1), 0, { type: 0x8028, value: new Uint8Array(0), fingerprint: true });
      break;
    case 7: // integrity somewhere else, of either kind, possibly truncated oddly
      attrs.splice(rng.int(attrs.length + 1), 0, rng.chance(0.5) ? { type: 0x0008, value: new Uint8Array(0), integrity: 'sha1' } : { type: 0x001c, value: new Uint8Array(0), integrity: 'sha256', truncate: rng.pick([4, 12, 16, 18, 20, 31, 32]) });
      break;
    case 8: // attributes after the integrity (allowed and ignored) or after the fingerprint (not allowed)
      attrs.push({ type: randomAttributeType(rng), value: attributeValue(rng, 0x8022, m.transactionId) });
      break;
    case 9:
      rng.shuffle(attrs);
      break;
    case 10:
      if (a) attrs.splice(at, 0, { ...a });
      break;
    case 11:
      if (a) attrs.splice(at, 1);
      break;
    case 12:
      if (a) {
        a.value = rng.bytes(rng.size(40));
        delete a.integrity;
        delete a.fingerprint;
      }
      break;
    case 13: // the class/method bits, or the two top bits
      out.type = rng.chance(0.8) ? rng.int(0x4000) : rng.int(0x10000);
      break;
    case 14:
      out.cookie = rng.chance(0.5) ? rng.u32() : MAGIC ^ (1 << rng.int(32));
      break;
    default: // integrity or fingerprint value of the wrong size
      if (a) {
        delete a.integrity;
        delete a.fingerprint;
        a.type = rng.pick([0x0008, 0x001c, 0x8028]);
        a.value = rng.bytes(rng.pick([0, 4, 8, 19, 21, 36]));
      }
  }
  return out;
}
