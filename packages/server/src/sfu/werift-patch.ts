/**
 * The one place where Dari works around werift (0.25.x) internals.
 *
 * SRTP hot path (issue #4): {@link patchWeriftSrtp} replaces werift's per-packet SRTP protect and
 * unprotect with byte-identical, leaner code (see its doc comment and bench/werift-srtp), and
 * {@link guardWeriftRtpHeaderParse} closes a pre-authentication denial of service in werift's RTP
 * header parser. Call `patchWeriftSrtp()` once before the SFU creates peer connections.
 *
 * Socket leak on close: werift creates a DTLS/ICE transport (with its own gathered UDP sockets)
 * for each transceiver added to a connection; when BUNDLE folds transceivers onto one transport,
 * the extra ones are dropped without being stopped, and `RTCPeerConnection.close()` only stops
 * the transports transceivers still point at. On a renegotiated SFU subscriber connection this
 * left UDP sockets open after close. {@link trackTransports} records every transport a
 * connection creates, and {@link closeConnection} stops them all after `close()`.
 */
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual, type Cipheriv } from 'node:crypto';
import {
  Connection,
  RtpHeader,
  SrtpSession,
  SrtpAuthenticationError,
  ProtectionProfileAes128CmHmacSha1_80,
  ProtectionProfileAeadAes128Gcm,
  type RTCPeerConnection,
  type RTCDtlsTransport,
} from 'werift';

interface StoppableTransport {
  stop(): Promise<void>;
}

const created = new WeakMap<RTCPeerConnection, StoppableTransport[]>();

/**
 * Records every DTLS transport `pc` creates from now on. Call right after constructing it.
 * @param onTransport called with each new transport (werift's RTCDtlsTransport), e.g. to read
 *   RTCP that werift's router does not hand to any sender
 */
export function trackTransports(pc: RTCPeerConnection, onTransport?: (transport: RTCDtlsTransport) => void): void {
  const manager = (pc as unknown as { secureManager?: { createTransport?: (...args: unknown[]) => StoppableTransport } }).secureManager;
  const original = manager?.createTransport;
  if (!manager || typeof original !== 'function') return; // werift changed: nothing to patch
  const list: StoppableTransport[] = [];
  created.set(pc, list);
  manager.createTransport = (...args: unknown[]) => {
    const transport = original.apply(manager, args);
    list.push(transport);
    onTransport?.(transport as unknown as RTCDtlsTransport);
    return transport;
  };
}

/** Closes `pc` and stops every transport it ever created (their ICE sockets included). */
export async function closeConnection(pc: RTCPeerConnection): Promise<void> {
  await pc.close().catch(() => undefined);
  const list = created.get(pc) ?? [];
  await Promise.allSettled(list.map((t) => t.stop()));
  list.length = 0;
}

/**
 * werift's ICE agent falls back to stun.l.google.com:19302 for server-reflexive candidates when
 * no STUN server is configured, even with `iceServers: []` (lib/ice/src/ice.js,
 * `applyStunTurnServersFromOptions`, `DEFAULT_STUN_SERVER`): a server that must never talk to
 * third parties would look it up and send it Binding requests on every gather. This drops the
 * fallback: no STUN server configured means no srflx gathering (the SFU announces its host
 * addresses; `sfu.announcedAddresses` covers a public IP). Idempotent.
 * @returns false when werift's internals changed and nothing was patched
 */
export function disableWeriftDefaultStun(): boolean {
  const proto = (Connection as unknown as { prototype: Record<string, unknown> }).prototype;
  const original = proto['applyStunTurnServersFromOptions'] as ((this: WeriftIceConnection) => void) | undefined;
  if (typeof original !== 'function') return false;
  if ((original as { daripatched?: boolean }).daripatched) return true;
  const patched = function (this: WeriftIceConnection): void {
    original.call(this);
    if (!this.options?.stunServer) this.stunServer = undefined;
  };
  (patched as { daripatched?: boolean }).daripatched = true;
  proto['applyStunTurnServersFromOptions'] = patched;
  return true;
}

/** werift's NackHandler, as used through a receiver (lib/webrtc/src/media/receiver/nack.js). */
interface WeriftNackHandler {
  addPacket(packet: { header: { ssrc: number; sequenceNumber: number } }): void;
  close(): void;
  onPacketLost: { subscribe(f: (nack: unknown) => void): unknown; execute(nack: unknown): void };
}

/**
 * werift keeps one NACK generator per receiver and compares sequence numbers across every SSRC
 * it sees; a simulcast receiver gets three unrelated sequence spaces (one per layer), so it
 * "detects" bursts of losses that are not, NACKs them with whichever layer's SSRC came last,
 * and real losses on the other layers go un-NACKed. This gives `receiver` one generator per
 * SSRC (RFC 4585 §6.2.1 NACKs are per media source), each reporting through the receiver's
 * own `onPacketLost`. Idempotent per receiver.
 * @returns false when werift's internals changed and nothing was patched
 */
export function nackPerSsrc(receiver: unknown): boolean {
  const r = receiver as { nack?: WeriftNackHandler & { daripatched?: boolean } };
  const original = r.nack;
  if (!original || typeof original.addPacket !== 'function') return false;
  if (original.daripatched) return true;
  const NackHandler = (original as unknown as { constructor: new (receiver: unknown) => WeriftNackHandler }).constructor;
  const handlers = new Map<number, WeriftNackHandler>();
  const dispatcher = Object.assign(Object.create(original) as WeriftNackHandler, {
    daripatched: true,
    addPacket(packet: { header: { ssrc: number; sequenceNumber: number } }): void {
      let h = handlers.get(packet.header.ssrc);
      if (!h) {
        h = new NackHandler(receiver);
        h.onPacketLost.subscribe((nack) => original.onPacketLost.execute(nack));
        handlers.set(packet.header.ssrc, h);
      }
      h.addPacket(packet);
    },
    close(): void {
      for (const h of handlers.values()) h.close();
      handlers.clear();
      original.close();
    },
  });
  r.nack = dispatcher;
  return true;
}

interface WeriftIceConnection {
  options?: { stunServer?: unknown };
  stunServer?: unknown;
}

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

type AnyFn = (this: unknown, ...args: never[]) => unknown;
type Proto = Record<string | symbol, unknown>;

const SRTP_PATCHED = Symbol.for('dari.werift.srtp-patch');
const AUTH_FAILED = 'Failed to authenticate SRTP packet';
const ONE_BYTE_PROFILE = 0xbede; // RFC 8285 §4.2
const TWO_BYTE_PROFILE = 0x1000; // RFC 8285 §4.3

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
  if (offset !== size) throw new Error('werift-patch: RTP header size mismatch'); // cannot happen; guards the byte layout
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

function makeCtrMethods(orig: { encryptRtp: AnyFn; decryptRtp: AnyFn }) {
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
function makeGcmMethods(orig: { decryptRtp: AnyFn }) {
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

function makeContextDecrypt(orig: AnyFn) {
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
  for (const profile of [ProtectionProfileAes128CmHmacSha1_80, ProtectionProfileAeadAes128Gcm]) {
    const patched = sample(profile);
    const saved = srtpOriginals.map((o) => ({ ...o, now: o.proto[o.name] }));
    for (const o of saved) o.proto[o.name] = o.fn;
    let reference: Buffer[];
    try {
      reference = sample(profile);
    } finally {
      for (const o of saved) o.proto[o.name] = o.now;
    }
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
 * call's status. Call it once at startup before any peer connection exists (werift-sfu.ts module
 * top level); sessions created earlier are patched too (prototype methods). The CommonJS copy of
 * werift (`require('werift')`, lib/rtp/src/...) is a separate set of classes and is not patched.
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
