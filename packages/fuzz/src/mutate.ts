/**
 * Byte-level mutation (AFL-style "havoc"): bit flips, byte sets, interesting values, arithmetic,
 * deletions, insertions, duplications, overwrites and splices with another input. Pure: a new
 * array comes back, the input is never changed.
 */
import type { Rng } from './rng.js';

/** Values that sit on boundaries of lengths, types and counts. */
const INTERESTING_8 = [0x00, 0x01, 0x03, 0x04, 0x10, 0x20, 0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xff];
const INTERESTING_16 = [0x0000, 0x0001, 0x0004, 0x0014, 0x00ff, 0x0100, 0x3fff, 0x4000, 0x4fff, 0x5000, 0x7fff, 0x8000, 0x8028, 0xfffc, 0xffff];
const INTERESTING_32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x2112a442, 0x5354554e];

/** The largest input mutation makes, bytes. */
export const MAX_MUTATED_BYTES = 4096;

/** One mutation, applied to a copy. */
export function mutateOnce(rng: Rng, input: Uint8Array, other?: Uint8Array): Uint8Array {
  let b: Uint8Array = input.slice();
  const n = b.length;
  const op = rng.int(13);
  const at = n > 0 ? rng.int(n) : 0;
  const view = new DataView(b.buffer);
  switch (op) {
    case 0: // flip one bit
      if (n > 0) b[at] = b[at]! ^ (1 << rng.int(8));
      break;
    case 1: // random byte
      if (n > 0) b[at] = rng.int(256);
      break;
    case 2: // interesting byte
      if (n > 0) b[at] = rng.pick(INTERESTING_8);
      break;
    case 3: // interesting 16-bit value, either byte order
      if (n >= 2) {
        const p = rng.int(n - 1);
        view.setUint16(p, rng.pick(INTERESTING_16), rng.chance(0.2));
      }
      break;
    case 4: // interesting 32-bit value
      if (n >= 4) view.setUint32(rng.int(n - 3), rng.pick(INTERESTING_32));
      break;
    case 5: // small arithmetic on a 16-bit field (lengths, types)
      if (n >= 2) {
        const p = rng.int(n - 1);
        view.setUint16(p, (view.getUint16(p) + rng.range(-35, 35)) & 0xffff);
      }
      break;
    case 6: {
      // delete a range
      if (n === 0) break;
      const len = 1 + rng.int(Math.min(n - at, 1 + rng.size(64)));
      b = concat(b.subarray(0, at), b.subarray(at + len));
      break;
    }
    case 7: {
      // insert random or repeated bytes
      const len = 1 + rng.size(64);
      const fill = rng.chance(0.5) ? rng.bytes(len) : new Uint8Array(len).fill(rng.pick(INTERESTING_8));
      b = concat(b.subarray(0, at), fill, b.subarray(at));
      break;
    }
    case 8: {
      // duplicate a block in place (repeated attributes, doubled frames)
      if (n === 0) break;
      const len = 1 + rng.int(Math.min(n - at, 128));
      b = concat(b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len));
      break;
    }
    case 9: {
      // overwrite with a block of another input
      if (!other || other.length === 0 || n === 0) break;
      const from = rng.int(other.length);
      const len = Math.min(n - at, other.length - from, 1 + rng.size(64));
      b.set(other.subarray(from, from + len), at);
      break;
    }
    case 10: {
      // splice: head of this one, tail of another
      if (!other || other.length === 0) break;
      b = concat(b.subarray(0, at), other.subarray(rng.int(other.length)));
      break;
    }
    case 11: // truncate
      b = b.subarray(0, at).slice();
      break;
    default: // append a few bytes (trailing garbage, missing padding)
      b = concat(b, rng.bytes(1 + rng.int(8)));
  }
  return b.length > MAX_MUTATED_BYTES ? b.subarray(0, MAX_MUTATED_BYTES).slice() : b;
}

/** 1–`maxOps` stacked mutations (AFL's havoc stage). */
export function havoc(rng: Rng, input: Uint8Array, other?: Uint8Array, maxOps = 8): Uint8Array {
  let b: Uint8Array = input;
  const ops = 1 + rng.int(rng.chance(0.5) ? 2 : maxOps);
  for (let i = 0; i < ops; i++) b = mutateOnce(rng, b, other);
  return b === input ? input.slice() : b;
}

/**
 * Sets a STUN header's length field to what follows the header, so that a mutated message gets
 * past the length checks and its attributes are parsed (RFC 8489 §5). No-op below 20 bytes.
 */
export function fixStunLength(b: Uint8Array): Uint8Array {
  if (b.length < 20) return b;
  const out = b.slice();
  new DataView(out.buffer).setUint16(2, (out.length - 20) & 0xffff);
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
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

/** Lowercase hex of bytes. */
export const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
/** Bytes of a hex string. */
export const fromHex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
