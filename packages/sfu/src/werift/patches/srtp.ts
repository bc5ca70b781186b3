/**
 * werift workaround: its SRTP hot path, and a pre-authentication denial of service in its RTP
 * header parser (issue #4). {@link patchWeriftSrtp} replaces werift's per-packet SRTP protect and
 * unprotect with byte-identical, leaner code (srtp-cipher.ts; figures in bench/werift-srtp) after a
 * known-answer self-test, and {@link guardWeriftRtpHeaderParse} makes werift's RTP header parser
 * refuse extension blocks longer than the packet. Tests: test/werift-srtp.test.ts.
 *
 * What werift 0.25.2 does per RTP packet (lib/index.mjs, "../rtp/src/srtp/cipher/ctr.ts" and
 * "gcm.ts"; CJS copy in lib/rtp/src/srtp/cipher/{ctr,gcm}.js):
 *  - protect: `RtpHeader.serialize()` (into a zeroed Buffer.alloc), a counter/IV built with BigInt
 *    or a generic writer, `createCipheriv` (AES-CM: 'aes-128-ctr'; GCM: 'aes-128-gcm'),
 *    `createHmac('sha1')` (AES-CM), a 4-byte ROC buffer and a final `Buffer.concat`;
 *  - unprotect: `RtpHeader.deSerialize()` (bit fields through `Number.toString(2).split('')`,
 *    extension array copied once per extension), `createDecipheriv`, `createHmac`, a zeroed
 *    output buffer and `Buffer.concat`.
 */
import {
  RtpHeader,
  SrtpSession,
  ProtectionProfileAes128CmHmacSha1_80,
  ProtectionProfileAeadAes128Gcm,
} from 'werift';
import { makeContextDecrypt, makeCtrMethods, makeGcmMethods, ONE_BYTE_PROFILE, TWO_BYTE_PROFILE, type AnyFn, type Proto } from './srtp-cipher.js';

const SRTP_PATCHED = Symbol.for('dari.werift.srtp-patch');
const PARSE_GUARDED = Symbol.for('dari.werift.rtp-parse-guard');

/**
 * Makes werift's `RtpHeader.deSerialize` refuse, with a RangeError, a header whose RFC 8285
 * one-byte extension block (profile 0xBEDE, RFC 8285 §4.2) claims more bytes than the buffer holds.
 *
 * Why: werift 0.25.2 walks such a block to its claimed end (up to 65,535 words = 262,140 bytes)
 * one byte at a time past the buffer, copying its extension array on every step (`h.extensions =
 * [...h.extensions, extension]`): quadratic. One packet with extension length 16,000 words blocks
 * the event loop for about 8 s, 65,535 words for minutes. werift runs this parser on every SRTP
 * packet *before* authenticating it (`parseSrtpRtpHeader` in SRTP unprotect), and its ICE layer
 * hands any non-STUN datagram arriving on a connection's sockets to DTLS/SRTP regardless of the
 * sender's address, so anyone who knows a connected participant's SFU port could stall the whole
 * process with one UDP datagram (first bytes 0x90 0x60, X bit, 0xBEDE, length 0xFFFF). werift turns
 * the RangeError into an `SrtpAuthenticationError` (pre-auth) or drops the packet as malformed
 * (post-decryption `RtpPacket.deSerialize`), so such packets are now dropped in microseconds.
 * Every other input parses exactly as before (the original method is called).
 *
 * Idempotent; permanent (not undone by {@link unpatchWeriftSrtp}). Called by
 * {@link patchWeriftSrtp}. Never throws.
 */
export function guardWeriftRtpHeaderParse(): void {
  const cls = RtpHeader as unknown as { deSerialize: (raw: Buffer) => RtpHeader } & Record<symbol, unknown>;
  if (cls[PARSE_GUARDED] || typeof cls.deSerialize !== 'function') return;
  const original = cls.deSerialize;
  cls.deSerialize = function deSerialize(this: unknown, raw: Buffer): RtpHeader {
    if (raw.length >= 12 && (raw[0]! & 0x10) !== 0) {
      const at = 12 + (raw[0]! & 15) * 4;
      if (at + 4 <= raw.length && raw.readUInt16BE(at) === ONE_BYTE_PROFILE && at + 4 + raw.readUInt16BE(at + 2) * 4 > raw.length) {
        throw new RangeError('RTP header extension block longer than the packet');
      }
    }
    return original.call(this, raw);
  };
  cls[PARSE_GUARDED] = true;
}

/** Outcome of {@link patchWeriftSrtp}. */
export interface SrtpPatchStatus {
  /** True when werift's SRTP RTP path now runs the patched code. */
  patched: boolean;
  /** Why not, when `patched` is false (werift internals not as expected, or the self-test failed). */
  reason?: string;
}

let srtpPatchStatus: SrtpPatchStatus | undefined;
const srtpOriginals: { proto: Proto; name: string; fn: unknown }[] = [];

/** One werift RTP SRTP session pair's worth of internals, reached through a throwaway session. */
function probeSession(profile: number): { context: Proto; cipher: Proto } | undefined {
  const saltLength = profile === ProtectionProfileAeadAes128Gcm ? 12 : 14;
  const key = Buffer.alloc(16, 1);
  const salt = Buffer.alloc(saltLength, 2);
  const session = new SrtpSession({ keys: { localMasterKey: key, localMasterSalt: salt, remoteMasterKey: key, remoteMasterSalt: salt }, profile });
  const context = (session as unknown as { localContext?: { cipher?: object } }).localContext;
  const cipher = context?.cipher;
  if (!context || !cipher) return undefined;
  return { context: Object.getPrototypeOf(context) as Proto, cipher: Object.getPrototypeOf(cipher) as Proto };
}

/**
 * Known-answer self-test run right after patching: protect and unprotect a few RTP packets (with
 * and without RFC 8285 extensions, with padding and CSRCs) with `unpatched` and patched code and
 * compare bytes. Returns a description of the first mismatch, or undefined.
 */
function srtpSelfTest(sample: (profile: number) => Buffer[]): string | undefined {
  const run = (profile: number): Buffer[] | string => {
    try {
      return sample(profile);
    } catch (err) {
      return (err as Error).message;
    }
  };
  for (const profile of [ProtectionProfileAes128CmHmacSha1_80, ProtectionProfileAeadAes128Gcm]) {
    const patched = run(profile);
    const saved = srtpOriginals.map((o) => ({ ...o, now: o.proto[o.name] }));
    for (const o of saved) o.proto[o.name] = o.fn;
    let reference: Buffer[] | string;
    try {
      reference = run(profile);
    } finally {
      for (const o of saved) o.proto[o.name] = o.now;
    }
    if (typeof patched === 'string') return `profile ${profile}: the patched code threw: ${patched}`;
    if (typeof reference === 'string') return `profile ${profile}: werift's code threw: ${reference}`;
    if (patched.length !== reference.length) return `profile ${profile}: ${patched.length} vs ${reference.length} outputs`;
    for (let i = 0; i < patched.length; i++) if (!patched[i]!.equals(reference[i]!)) return `profile ${profile}: output ${i} differs`;
  }
  return undefined;
}

/** Deterministic sample for {@link srtpSelfTest}: protected packets followed by their unprotected forms. */
export function srtpSample(profile: number): Buffer[] {
  const saltLength = profile === ProtectionProfileAeadAes128Gcm ? 12 : 14;
  const k1 = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
  const s1 = Buffer.from('f0f1f2f3f4f5f6f7f8f9fafbfcfd', 'hex').subarray(0, saltLength);
  const k2 = Buffer.from('101112131415161718191a1b1c1d1e1f', 'hex');
  const s2 = Buffer.from('e0e1e2e3e4e5e6e7e8e9eaebeced', 'hex').subarray(0, saltLength);
  const a = new SrtpSession({ keys: { localMasterKey: k1, localMasterSalt: s1, remoteMasterKey: k2, remoteMasterSalt: s2 }, profile });
  const b = new SrtpSession({ keys: { localMasterKey: k2, localMasterSalt: s2, remoteMasterKey: k1, remoteMasterSalt: s1 }, profile });
  const out: Buffer[] = [];
  const payload = Buffer.alloc(1000);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + 3) & 255;
  const headers = [
    new RtpHeader({ sequenceNumber: 65534, timestamp: 1, payloadType: 96, ssrc: 0x11223344, marker: true }),
    new RtpHeader({
      sequenceNumber: 65535,
      timestamp: 2,
      payloadType: 111,
      ssrc: 0x11223344,
      extension: true,
      extensions: [
        { id: 1, payload: Buffer.from([0x30]) },
        { id: 3, payload: Buffer.from([1, 2, 3]) },
        { id: 5, payload: Buffer.from([9, 8]) },
      ],
    }),
    new RtpHeader({ sequenceNumber: 0, timestamp: 3, payloadType: 96, ssrc: 0x11223344, csrc: [7, 8], padding: true, extension: true }),
    new RtpHeader({
      sequenceNumber: 1,
      timestamp: 4,
      payloadType: 96,
      ssrc: 0x55667788,
      extensionProfile: TWO_BYTE_PROFILE,
      extensions: [{ id: 20, payload: Buffer.from('dari') }, { id: 21, payload: Buffer.alloc(0) }],
    }),
  ];
  const lengths = [1000, 17, 200, 1];
  headers.forEach((h, i) => {
    const p = payload.subarray(0, lengths[i]);
    if (h.padding) p[p.length - 1] = 4; // RFC 3550 §5.1: last octet counts the padding
    const enc = a.encrypt(p, h);
    out.push(enc, b.decrypt(enc));
  });
  return out;
}

/**
 * Replaces werift's per-packet SRTP (RTP) protect/unprotect with byte-identical, leaner code.
 *
 * Patched (prototype methods of the classes werift's ESM entry `werift` bundles; reached through
 * a throwaway `SrtpSession`, since werift does not export them): `CipherAesCtr.encryptRtp` /
 * `decryptRtp` (SRTP_AES128_CM_HMAC_SHA1_80, RFC 3711 §4.1.1 and §4.2.1): keystream from one
 * long-lived AES-128-ECB cipher per session key instead of `createCipheriv('aes-128-ctr')` per
 * packet, one output allocation; `CipherAesGcm.decryptRtp` (SRTP_AEAD_AES_128_GCM, RFC 7714 §8):
 * still one `createDecipheriv('aes-128-gcm')` per packet (Node's API has no IV reset) but no zeroed
 * buffers, generic writers or concat; `SrtpContext.decryptRtp`: header parsed without werift's
 * string-based bit parser. AES-GCM protect is left as werift's (no measurable gain: see
 * makeGcmMethods). SRTCP is left alone (a few packets a second). Unusual headers (non-RFC
 * 8285 extension profile, one-byte extension ID 15, malformed lengths) fall through to werift's
 * original code, so errors (`SrtpAuthenticationError`) and quirks are werift's own.
 *
 * First applies {@link guardWeriftRtpHeaderParse} (a pre-authentication denial of service in
 * werift's RTP header parser, which SRTP unprotect runs on every packet).
 *
 * Idempotent: the first call patches and self-tests ({@link srtpSample} with both profiles,
 * patched vs. original bytes); a mismatch restores werift's methods. Later calls return the first
 * call's status. Call it once at startup before any peer connection exists
 * (`applyWeriftWorkarounds()`, from the SfuManager constructor); sessions created earlier are
 * patched too (prototype methods). The CommonJS copy of werift (`require('werift')`, lib/rtp/src/...) is a separate set of classes and is not patched.
 *
 * @returns `{ patched: true }`, or `{ patched: false, reason }` if werift's internals differ from
 *   0.25.x or the self-test failed. Never throws.
 */
export function patchWeriftSrtp(): SrtpPatchStatus {
  if (srtpPatchStatus) return srtpPatchStatus;
  try {
    guardWeriftRtpHeaderParse();
    const ctr = probeSession(ProtectionProfileAes128CmHmacSha1_80);
    const gcm = probeSession(ProtectionProfileAeadAes128Gcm);
    if (!ctr || !gcm) return (srtpPatchStatus = { patched: false, reason: 'werift SrtpSession has no localContext.cipher' });
    if (ctr.context !== gcm.context || ctr.cipher === gcm.cipher) return (srtpPatchStatus = { patched: false, reason: 'unexpected werift SRTP class layout' });
    if (ctr.cipher[SRTP_PATCHED] || gcm.cipher[SRTP_PATCHED]) return (srtpPatchStatus = { patched: true }); // another copy of this module did it
    const targets: [Proto, string][] = [
      [ctr.cipher, 'encryptRtp'],
      [ctr.cipher, 'decryptRtp'],
      [gcm.cipher, 'decryptRtp'],
      [ctr.context, 'decryptRtp'],
    ];
    for (const [proto, name] of targets) {
      if (typeof proto[name] !== 'function') return (srtpPatchStatus = { patched: false, reason: `werift SRTP has no ${name}` });
    }
    for (const [proto, name] of targets) srtpOriginals.push({ proto, name, fn: proto[name] });
    const original = (proto: Proto) => ({ encryptRtp: proto['encryptRtp'] as AnyFn, decryptRtp: proto['decryptRtp'] as AnyFn });
    const ctrMethods = makeCtrMethods(original(ctr.cipher));
    const gcmMethods = makeGcmMethods(original(gcm.cipher));
    const contextDecrypt = makeContextDecrypt(ctr.context.decryptRtp as AnyFn);
    ctr.cipher.encryptRtp = ctrMethods.encryptRtp;
    ctr.cipher.decryptRtp = ctrMethods.decryptRtp;
    gcm.cipher.decryptRtp = gcmMethods.decryptRtp;
    ctr.context.decryptRtp = contextDecrypt;
    const mismatch = srtpSelfTest(srtpSample);
    if (mismatch) {
      unpatchWeriftSrtp();
      return (srtpPatchStatus = { patched: false, reason: `self-test failed: ${mismatch}` });
    }
    ctr.cipher[SRTP_PATCHED] = true;
    gcm.cipher[SRTP_PATCHED] = true;
    return (srtpPatchStatus = { patched: true });
  } catch (err) {
    unpatchWeriftSrtp();
    return (srtpPatchStatus = { patched: false, reason: `patch failed: ${(err as Error).message}` });
  }
}

/**
 * Restores werift's original SRTP methods (for tests and benchmarks that compare both); after it,
 * {@link patchWeriftSrtp} patches again. No-op when nothing is patched. The header-parse guard
 * ({@link guardWeriftRtpHeaderParse}) stays.
 */
export function unpatchWeriftSrtp(): void {
  for (const o of srtpOriginals.splice(0)) {
    o.proto[o.name] = o.fn;
    delete o.proto[SRTP_PATCHED];
  }
  srtpPatchStatus = undefined;
}
