/**
 * The replacement SRTP code of {@link patchWeriftSrtp} (srtp.ts): byte-identical to werift
 * 0.25.x's AES-CM protect/unprotect, AES-GCM unprotect and RTP header parse, without its
 * per-packet allocations. Only srtp.ts uses it, after its self-test.
 */
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual, type Cipheriv } from 'node:crypto';
import { RtpHeader, SrtpAuthenticationError } from 'werift';

// ---------------------------------------------------------------------------------------------
// SRTP hot path (issue #4: "its SRTP creates a cipher per packet").
//
// What werift 0.25.2 does per RTP packet (lib/index.mjs, "../rtp/src/srtp/cipher/ctr.ts" and
// "gcm.ts"; CJS copy in lib/rtp/src/srtp/cipher/{ctr,gcm}.js):
//  - protect: `RtpHeader.serialize()` (into a zeroed Buffer.alloc), a counter/IV built with BigInt
//    or a generic writer, `createCipheriv` (AES-CM: 'aes-128-ctr'; GCM: 'aes-128-gcm'),
//    `createHmac('sha1')` (AES-CM), a 4-byte ROC buffer and a final `Buffer.concat`;
//  - unprotect: `RtpHeader.deSerialize()` (bit fields through `Number.toString(2).split('')`,
//    extension array copied once per extension), `createDecipheriv`, `createHmac`, a zeroed
//    output buffer and `Buffer.concat`.
// The cipher object per packet is unavoidable with Node's API for AES-GCM (no IV reset, GHASH not
// reachable otherwise); for AES-CM the keystream comes from one long-lived 'aes-128-ecb' cipher per
// session key (RFC 3711 §4.1.1: keystream = E(k, IV + i)). The rest is plain allocation work.
// Numbers: bench/werift-srtp/run.mjs.
// ---------------------------------------------------------------------------------------------

/** werift's AES-CM cipher instance (CipherAesCtr), the fields this patch reads. */
interface CtrCipherState {
  srtpSessionKey: Buffer;
  srtpSessionSalt: Buffer;
  srtpSessionAuthTag: Buffer;
  authTagLength: number;
}

/** werift's AES-GCM cipher instance (CipherAesGcm), the fields this patch reads. */
interface GcmCipherState {
  srtpSessionKey: Buffer;
  srtpSessionSalt: Buffer;
  aeadAuthTagLen: number;
}

interface SsrcState {
  ssrc: number;
  rolloverCounter: number;
  rolloverHasProcessed?: boolean;
  lastSequenceNumber: number;
}

/** werift's RTP SrtpContext (rtp/src/srtp/context/srtp.ts), the members this patch uses. */
interface RtpContextState {
  srtpSSRCStates: Record<number, SsrcState>;
  rtpAuthTagLength: number;
  updateRolloverCount(sequenceNumber: number, s: SsrcState): void;
  cipher: { decryptRtp(cipherText: Buffer, rolloverCounter: number, header?: RtpHeader): [Buffer, RtpHeader] };
}

export type AnyFn = (this: unknown, ...args: never[]) => unknown;
export type Proto = Record<string | symbol, unknown>;

const AUTH_FAILED = 'Failed to authenticate SRTP packet';
export const ONE_BYTE_PROFILE = 0xbede; // RFC 8285 §4.2
export const TWO_BYTE_PROFILE = 0x1000; // RFC 8285 §4.3

/** Long-lived AES-128-ECB keystream generators, one per AES-CM session key (werift cipher object). */
const ecbByCipher = new WeakMap<object, Cipheriv>();
/** Scratch for AES-CM counter blocks; grown on demand (synchronous use only). */
let counterBlocks = Buffer.alloc(16 * 128);
const rocScratch = Buffer.alloc(4);
const ivScratch = Buffer.alloc(12);

/** Size werift's `RtpHeader.serialize(serializeSize)` gives `h`, or undefined if `h` is unusual. */
function headerSize(h: RtpHeader): number | undefined {
  const { csrc, extensions } = h;
  if (!Array.isArray(csrc) || !Array.isArray(extensions) || typeof h.extension !== 'boolean') return undefined;
  if (!Number.isInteger(h.sequenceNumber)) return undefined;
  let size = 12 + csrc.length * 4;
  if (extensions.length > 0 || h.extension) {
    let ext = 4;
    if (h.extensionProfile === ONE_BYTE_PROFILE) for (const e of extensions) ext += 1 + e.payload.length;
    else if (h.extensionProfile === TWO_BYTE_PROFILE) for (const e of extensions) ext += 2 + e.payload.length;
    else return undefined;
    size += Math.floor((ext + 3) / 4) * 4;
  }
  return size;
}

/**
 * Writes `h` into `out` at 0 exactly as werift's `RtpHeader.serialize` does (same bytes, same
 * side effects on `h.extension` and `h.payloadOffset`, same RangeErrors from Buffer writes).
 * `size` comes from {@link headerSize}.
 */
function writeHeader(h: RtpHeader, out: Buffer, size: number): void {
  if (h.extensions.length > 0) h.extension = true;
  out[0] = ((h.version & 3) << 6) | (h.padding ? 0x20 : 0) | (h.extension ? 0x10 : 0) | (h.csrc.length & 15);
  out[1] = (h.marker ? 0x80 : 0) | (h.payloadType & 0x7f);
  out.writeUInt16BE(h.sequenceNumber, 2);
  out.writeUInt32BE(h.timestamp, 4);
  out.writeUInt32BE(h.ssrc, 8);
  let offset = 12;
  for (const c of h.csrc) {
    out.writeUInt32BE(c, offset);
    offset += 4;
  }
  if (h.extension) {
    const extHeaderPos = offset;
    out.writeUInt16BE(h.extensionProfile, offset);
    offset += 4;
    const start = offset;
    if (h.extensionProfile === ONE_BYTE_PROFILE) {
      for (const e of h.extensions) {
        out.writeUInt8((e.id << 4) | (e.payload.length - 1), offset++);
        e.payload.copy(out, offset);
        offset += e.payload.length;
      }
    } else {
      for (const e of h.extensions) {
        out.writeUInt8(e.id, offset++);
        out.writeUInt8(e.payload.length, offset++);
        e.payload.copy(out, offset);
        offset += e.payload.length;
      }
    }
    const extSize = offset - start;
    const rounded = Math.trunc((extSize + 3) / 4) * 4;
    out.writeUInt16BE(Math.trunc(rounded / 4), extHeaderPos + 2);
    for (let i = 0; i < rounded - extSize; i++) out[offset++] = 0;
  }
  if (offset !== size) throw new Error('werift SRTP patch: RTP header size mismatch'); // cannot happen; guards the byte layout
  h.payloadOffset = offset;
}

/**
 * Parses the RTP header of an SRTP packet like werift's `parseSrtpRtpHeader` (an `RtpHeader`
 * deep-equal to werift's, `paddingSize` 0), for well-formed packets only: returns undefined for
 * anything werift parses in a quirky way or rejects (short packet, header running into the auth
 * tag, non-RFC 8285 extension profile, one-byte ID 15), so that werift's own code handles those.
 */
function parseSrtpHeader(packet: Buffer, authTagLength: number): RtpHeader | undefined {
  const end = packet.length - authTagLength;
  if (end < 12) return undefined;
  const b0 = packet[0]!;
  const b1 = packet[1]!;
  const cc = b0 & 15;
  let offset = 12 + cc * 4;
  if (offset > end) return undefined;
  const h = new RtpHeader();
  h.version = b0 >> 6;
  h.padding = (b0 & 0x20) !== 0;
  h.extension = (b0 & 0x10) !== 0;
  h.csrcLength = cc;
  h.marker = (b1 & 0x80) !== 0;
  h.payloadType = b1 & 0x7f;
  h.sequenceNumber = packet.readUInt16BE(2);
  h.timestamp = packet.readUInt32BE(4);
  h.ssrc = packet.readUInt32BE(8);
  const csrc: number[] = [];
  for (let i = 0; i < cc; i++) csrc.push(packet.readUInt32BE(12 + i * 4));
  h.csrc = csrc;
  if (h.extension) {
    if (offset + 4 > end) return undefined;
    const profile = packet.readUInt16BE(offset);
    const length = packet.readUInt16BE(offset + 2) * 4;
    offset += 4;
    const extEnd = offset + length;
    if (extEnd > end) return undefined;
    h.extensionProfile = profile as RtpHeader["extensionProfile"];
    h.extensionLength = length;
    const extensions: { id: number; payload: Buffer }[] = [];
    if (profile === ONE_BYTE_PROFILE) {
      while (offset < extEnd) {
        const b = packet[offset]!;
        if (b === 0) {
          offset++;
          continue;
        }
        const id = b >> 4;
        if (id === 15) return undefined;
        const len = (b & 15) + 1;
        offset++;
        extensions.push({ id, payload: packet.subarray(offset, offset + len) });
        offset += len;
      }
    } else if (profile === TWO_BYTE_PROFILE) {
      while (offset < extEnd) {
        const id = packet[offset]!;
        if (id === 0) {
          offset++;
          continue;
        }
        if (offset + 1 >= extEnd) return undefined;
        const len = packet[offset + 1]!;
        offset += 2;
        extensions.push({ id, payload: packet.subarray(offset, offset + len) });
        offset += len;
      }
    } else return undefined;
    if (offset !== extEnd) return undefined;
    h.extensions = extensions;
  }
  h.payloadOffset = offset;
  h.paddingSize = 0;
  return h;
}

/** werift's `finalizeSrtpRtpHeader`: validates RTP padding (RFC 3550 §5.1) after decryption. */
function finalizeHeader(header: RtpHeader, packet: Buffer): RtpHeader {
  if (!header.padding) {
    header.paddingSize = 0;
    return header;
  }
  if (!(packet.length > header.payloadOffset)) throw new SrtpAuthenticationError(AUTH_FAILED);
  const paddingSize = packet[packet.length - 1]!;
  if (!(paddingSize > 0 && paddingSize <= packet.length - header.payloadOffset)) throw new SrtpAuthenticationError(AUTH_FAILED);
  header.paddingSize = paddingSize;
  return header;
}

/**
 * AES-CM keystream (RFC 3711 §4.1.1) for `length` bytes XORed from `src` into `dst` at
 * `dstOffset`: the counter blocks IV, IV+1, ... are encrypted with the session's long-lived
 * AES-128-ECB cipher. IV = (salt·2^16) XOR (SSRC·2^64) XOR (index·2^16), index = ROC·2^16 + SEQ.
 * Its low 16 bits are zero, so IV + i only touches the last two bytes (payloads < 1 MiB).
 */
function aesCmXor(cipher: CtrCipherState, ssrc: number, roc: number, seq: number, src: Buffer, dst: Buffer, dstOffset: number): void {
  const length = src.length;
  if (length === 0) return;
  let ecb = ecbByCipher.get(cipher);
  if (!ecb) {
    ecb = createCipheriv('aes-128-ecb', cipher.srtpSessionKey, null);
    ecb.setAutoPadding(false);
    ecbByCipher.set(cipher, ecb);
  }
  const blocks = (length + 15) >> 4;
  if (blocks > 0xffff) throw new RangeError('SRTP payload too large for AES-CM');
  if (counterBlocks.length < blocks * 16) counterBlocks = Buffer.alloc(blocks * 16);
  const salt = cipher.srtpSessionSalt;
  const iv = counterBlocks;
  iv[0] = salt[0]!;
  iv[1] = salt[1]!;
  iv[2] = salt[2]!;
  iv[3] = salt[3]!;
  iv[4] = salt[4]! ^ (ssrc >>> 24);
  iv[5] = salt[5]! ^ ((ssrc >>> 16) & 255);
  iv[6] = salt[6]! ^ ((ssrc >>> 8) & 255);
  iv[7] = salt[7]! ^ (ssrc & 255);
  iv[8] = salt[8]! ^ (roc >>> 24);
  iv[9] = salt[9]! ^ ((roc >>> 16) & 255);
  iv[10] = salt[10]! ^ ((roc >>> 8) & 255);
  iv[11] = salt[11]! ^ (roc & 255);
  iv[12] = salt[12]! ^ (seq >>> 8);
  iv[13] = salt[13]! ^ (seq & 255);
  iv[14] = 0;
  iv[15] = 0;
  const counters = counterBlocks.subarray(0, blocks * 16);
  counters.copyWithin(16, 0, 16);
  for (let span = 32; span < counters.length; span *= 2) counters.copyWithin(span, 0, span); // IV repeated
  for (let b = 1; b < blocks; b++) {
    counters[b * 16 + 14] = b >>> 8;
    counters[b * 16 + 15] = b & 255;
  }
  const keystream = ecb.update(counters);
  xorInto(dst, dstOffset, src, keystream);
}

/** dst[at + i] = src[i] ^ keystream[i] for every byte of `src`; 32 bits at a time where aligned. */
function xorInto(dst: Buffer, at: number, src: Buffer, keystream: Buffer): void {
  const length = src.length;
  src.copy(dst, at);
  let i = 0;
  const d = dst.byteOffset + at;
  if (length >= 64 && (d & 3) === 0 && (keystream.byteOffset & 3) === 0) {
    const words = length >> 2;
    const dw = new Int32Array(dst.buffer, d, words);
    const kw = new Int32Array(keystream.buffer, keystream.byteOffset, words);
    for (let w = 0; w < words; w++) dw[w] = dw[w]! ^ kw[w]!;
    i = words << 2;
  }
  for (; i < length; i++) dst[at + i] = dst[at + i]! ^ keystream[i]!;
}

/** HMAC-SHA1-80 SRTP auth tag (RFC 3711 §4.2.1) over `portion || ROC`, written into `dst` at `at`. */
function writeAuthTag(authKey: Buffer, portion: Buffer, roc: number, tagLength: number, dst: Buffer, at: number): void {
  rocScratch.writeUInt32BE(roc, 0);
  const tag = createHmac('sha1', authKey).update(portion).update(rocScratch).digest();
  tag.copy(dst, at, 0, tagLength);
}

/** AES-GCM RTP IV (RFC 7714 §8.1): 00 00 || SSRC || ROC || SEQ, XOR the 12-byte session salt. */
function gcmRtpIv(cipher: GcmCipherState, ssrc: number, roc: number, seq: number): Buffer {
  const iv = ivScratch;
  iv.writeUInt16BE(0, 0);
  iv.writeUInt32BE(ssrc, 2);
  iv.writeUInt32BE(roc, 6);
  iv.writeUInt16BE(seq, 10);
  const salt = cipher.srtpSessionSalt;
  for (let i = 0; i < 12; i++) iv[i] = iv[i]! ^ salt[i]!;
  return iv;
}

export function makeCtrMethods(orig: { encryptRtp: AnyFn; decryptRtp: AnyFn }) {
  return {
    encryptRtp(this: CtrCipherState, header: RtpHeader, payload: Buffer, rolloverCounter: number): Buffer {
      const size = headerSize(header);
      if (size === undefined) return orig.encryptRtp.call(this, header as never, payload as never, rolloverCounter as never) as Buffer;
      const tagLength = this.authTagLength;
      const out = Buffer.allocUnsafe(size + payload.length + tagLength);
      writeHeader(header, out, size);
      aesCmXor(this, header.ssrc, rolloverCounter, header.sequenceNumber, payload, out, size);
      writeAuthTag(this.srtpSessionAuthTag, out.subarray(0, size + payload.length), rolloverCounter, tagLength, out, size + payload.length);
      return out;
    },
    decryptRtp(this: CtrCipherState, cipherText: Buffer, rolloverCounter: number, header?: RtpHeader): [Buffer, RtpHeader] {
      const h = header ?? parseSrtpHeader(cipherText, this.authTagLength);
      if (!h) return orig.decryptRtp.call(this, cipherText as never, rolloverCounter as never) as [Buffer, RtpHeader];
      const tagOffset = cipherText.length - this.authTagLength;
      const expected = Buffer.allocUnsafe(this.authTagLength);
      writeAuthTag(this.srtpSessionAuthTag, cipherText.subarray(0, tagOffset), rolloverCounter, this.authTagLength, expected, 0);
      const actual = cipherText.subarray(tagOffset);
      if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) throw new SrtpAuthenticationError(AUTH_FAILED);
      const out = Buffer.allocUnsafe(tagOffset);
      cipherText.copy(out, 0, 0, h.payloadOffset);
      aesCmXor(this, h.ssrc, rolloverCounter, h.sequenceNumber, cipherText.subarray(h.payloadOffset, tagOffset), out, h.payloadOffset);
      return [out, finalizeHeader(h, out)];
    },
  };
}

/**
 * AES-GCM unprotect only. Protect stays werift's: its cost is the `createCipheriv('aes-128-gcm')`
 * per packet (key schedule and GHASH key), which Node's API cannot avoid, and trimming the rest
 * measured no faster (within +-10 % run-to-run noise, bench/werift-srtp/run.mjs).
 */
export function makeGcmMethods(orig: { decryptRtp: AnyFn }) {
  return {
    decryptRtp(this: GcmCipherState, cipherText: Buffer, rolloverCounter: number, header?: RtpHeader): [Buffer, RtpHeader] {
      const h = header ?? parseSrtpHeader(cipherText, this.aeadAuthTagLen);
      if (!h) return orig.decryptRtp.call(this, cipherText as never, rolloverCounter as never) as [Buffer, RtpHeader];
      const tagOffset = cipherText.length - this.aeadAuthTagLen;
      const d = createDecipheriv('aes-128-gcm', this.srtpSessionKey, gcmRtpIv(this, h.ssrc, rolloverCounter, h.sequenceNumber));
      d.setAAD(cipherText.subarray(0, h.payloadOffset));
      d.setAuthTag(cipherText.subarray(tagOffset));
      const out = Buffer.allocUnsafe(tagOffset);
      cipherText.copy(out, 0, 0, h.payloadOffset);
      const at = h.payloadOffset + d.update(cipherText.subarray(h.payloadOffset, tagOffset)).copy(out, h.payloadOffset);
      try {
        d.final().copy(out, at);
      } catch {
        throw new SrtpAuthenticationError(AUTH_FAILED);
      }
      return [out, finalizeHeader(h, out)];
    },
  };
}

export function makeContextDecrypt(orig: AnyFn) {
  /** werift's RTP `SrtpContext.decryptRtp` with {@link parseSrtpHeader} instead of `RtpHeader.deSerialize`. */
  return function decryptRtp(this: RtpContextState, cipherText: Buffer): [Buffer, RtpHeader] {
    const header = parseSrtpHeader(cipherText, this.rtpAuthTagLength);
    if (!header) return orig.call(this, cipherText as never) as [Buffer, RtpHeader];
    const existing = this.srtpSSRCStates[header.ssrc];
    const next: SsrcState = existing ? { ...existing } : { ssrc: header.ssrc, rolloverCounter: 0, lastSequenceNumber: 0 };
    this.updateRolloverCount(header.sequenceNumber, next);
    const dec = this.cipher.decryptRtp(cipherText, next.rolloverCounter, header);
    if (existing) Object.assign(existing, next);
    else this.srtpSSRCStates[header.ssrc] = next;
    return dec;
  };
}
