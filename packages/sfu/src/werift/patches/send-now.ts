/**
 * werift workaround: a synchronous send path for the RTP the SFU forwards (issue #12, the SFU's
 * cost per forwarded packet).
 *
 * What werift 0.25.2 does per packet on `RTCRtpSender.sendRtp(packet)`
 * (lib/webrtc/src/media/rtpSender.js, transport/dtls.js, lib/ice/src/ice.js, stun/protocol.js,
 * lib/common/src/transport.js): six nested `async` functions (sendRtp → dispatchRtp →
 * RTCDtlsTransport.sendRtp → Connection.send → StunProtocol.sendData → UdpTransport.send), so six
 * promises; `packet.clone()`; the header extension list rebuilt with `map`/`filter`, merged and
 * sorted; the NTP time through `seconds.toString().split('.')`, a Buffer writer and a BigInt;
 * `senderBWE.rtpPacketSent`, which sorts the keys of a 4-field object. In `bench/sfu` at N = 10 the
 * promises and that bookkeeping were ~16 % of the server's CPU (README, "where the N = 10 cost goes").
 *
 * {@link sendRtpNow} does the same work synchronously, for the senders and transports the SFU uses,
 * and returns `false` (the caller then uses `sender.sendRtp`) when anything is outside that case:
 * a stopped or unconnected sender, werift's pending-RTP queue, a pending continuity rewrite
 * (`replaceTrack`/`replaceRTP`), RED, a negotiated header extension other than mid, rid, repaired
 * rid and abs-send-time (transport-wide CC needs werift's send-side BWE), werift's debug packet
 * loss, or an ICE transport that is not a plain UDP socket (TURN).
 *
 * What it keeps from werift, so NACKs, sender reports and stats work unchanged: the SSRC, payload
 * type and continuity offsets; the sender's `rtpCache` (werift answers NACKs from it, index
 * `sequenceNumber % 128`); `octetCount`, `packetCount`, `headerBytesSent`, `rtpTimestamp`,
 * `ntpTimestamp` (sender reports, RFC 3550 §6.4.1); the DTLS transport's `bytesSent`/`packetsSent`
 * and the candidate pair's counters; werift's SRTP protect (`srtp.encrypt`, patched by srtp.ts);
 * RFC 7675 consent (`canSendApplicationData`); the RTCP loop (`runRtcp`).
 *
 * One deliberate difference: **the NTP time is RFC 3550 §4's** (seconds since 1900 and a binary
 * fraction). werift's `ntpTime()` puts the decimal digits of the seconds' fraction, read as an
 * integer, in the fraction field, so its abs-send-time (24 bits: 6.18 fixed-point seconds,
 * webrtc.org's abs-send-time) barely moves inside a second and jumps at each second. A browser's
 * delay-based bandwidth estimator (REMB) reads inter-packet send times from that extension.
 * Sender reports carry the same, now correct, time. Browsers use an SR's NTP/RTP timestamp pair
 * for audio/video sync and the NTP time for RTT (LSR/DLSR, RFC 3550 §6.4.1); werift's made the
 * pairs of successive reports inconsistent with each other.
 *
 * Test: packages/sfu/test/werift-send-now.test.ts.
 */
import { isIP } from 'node:net';
import type { RTCRtpSender, RtpPacket } from 'werift';

/** werift's sender history (rtpSender.js: `RTP_HISTORY_SIZE`); its NACK handler reads `rtpCache[seq % 128]`. */
const RTP_HISTORY_SIZE = 128;
const MID_URI = 'urn:ietf:params:rtp-hdrext:sdes:mid';
const RID_URI = 'urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id';
const RRID_URI = 'urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id';
const ABS_SEND_TIME_URI = 'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time';
/** ms from the NTP epoch (1900-01-01) to the Unix epoch. */
const NTP_EPOCH_OFFSET_MS = 2_208_988_800_000;

interface Extension {
  id: number;
  payload: Buffer;
}

/** The parts of werift's objects this path reads and writes (werift 0.25.x, not in its typings). */
interface SenderInternals {
  stopped: boolean;
  pendingRtpEnabled: boolean;
  rtpContinuityPending: boolean;
  redRedundantPayloadType?: number;
  codec?: { payloadType: number };
  ssrc: number;
  mid?: string;
  rtpStreamId?: string;
  repairedRtpStreamId?: string;
  headerExtensions: { id: number; uri: string }[];
  seqOffset: number;
  timestampOffset: number;
  sequenceNumber?: number;
  timestamp?: number;
  ntpTimestamp: bigint;
  rtpTimestamp: number;
  octetCount: number;
  packetCount: number;
  headerBytesSent: number;
  rtpCache: RtpPacket[];
  rtcpRunning: boolean;
  runRtcp(): Promise<void>;
  dtlsTransport?: DtlsInternals;
}

interface DtlsInternals {
  state: string;
  config?: { debug?: { outboundPacketLoss?: number } };
  srtp?: { encrypt(payload: Buffer, header: RtpPacket['header']): Buffer };
  bytesSent: number;
  packetsSent: number;
  iceTransport?: { connection?: ConnectionInternals };
}

interface ConnectionInternals {
  nominated?: PairInternals;
  canSendApplicationData(): boolean;
}

interface PairInternals {
  remoteAddr: [string, number];
  packetsSent: number;
  bytesSent: number;
  protocol?: { type?: string; transport?: { type?: string; closed?: boolean; socket?: { send(data: Buffer, port: number, address: string): void } } };
}

/** The extensions a sender writes, resolved once per sender (werift fixes them at negotiation). */
interface ExtensionPlan {
  source: SenderInternals['headerExtensions'];
  mid: string | undefined;
  rid: string | undefined;
  rrid: string | undefined;
  /** The constant extensions, by id; null: the sender negotiated an extension this path does not write. */
  fixed: Extension[] | null;
  absSendTimeId: number | undefined;
  /** Where abs-send-time goes in `fixed` to keep the list sorted by id (werift sorts it). */
  absIndex: number;
}

const plans = new WeakMap<object, ExtensionPlan>();
/** Candidate pairs whose remote address is an IP literal (checked once per pair). */
const literalPairs = new WeakSet<object>();
/** Senders for which {@link sendRtpNow} threw: werift's own path from then on. */
const unsupported = new WeakSet<object>();

function planFor(s: SenderInternals): ExtensionPlan {
  const cached = plans.get(s);
  if (cached && cached.source === s.headerExtensions && cached.mid === s.mid && cached.rid === s.rtpStreamId && cached.rrid === s.repairedRtpStreamId) return cached;
  let fixed: Extension[] | null = [];
  let absSendTimeId: number | undefined;
  for (const ext of s.headerExtensions) {
    if (ext.uri === MID_URI) {
      if (s.mid) fixed.push({ id: ext.id, payload: Buffer.from(s.mid) });
    } else if (ext.uri === RID_URI) {
      if (s.rtpStreamId) fixed.push({ id: ext.id, payload: Buffer.from(s.rtpStreamId) });
    } else if (ext.uri === RRID_URI) {
      if (s.repairedRtpStreamId) fixed.push({ id: ext.id, payload: Buffer.from(s.repairedRtpStreamId) });
    } else if (ext.uri === ABS_SEND_TIME_URI) absSendTimeId = ext.id;
    else {
      fixed = null;
      break;
    }
  }
  // Shared by every packet of the sender (and kept in its NACK history): must never be mutated.
  // (werift only reads a sent header's extensions: serialize, and NACK resends of cached packets.)
  fixed?.sort((a, b) => a.id - b.id);
  const absIndex = fixed && absSendTimeId !== undefined ? fixed.filter((e) => e.id < absSendTimeId!).length : 0;
  const plan: ExtensionPlan = { source: s.headerExtensions, mid: s.mid, rid: s.rtpStreamId, rrid: s.repairedRtpStreamId, fixed, absSendTimeId, absIndex };
  plans.set(s, plan);
  return plan;
}

/** ms since the NTP epoch (1900-01-01) for ms since the Unix epoch. */
const ntpMs = (unixMs: number): number => unixMs + NTP_EPOCH_OFFSET_MS;

/**
 * A time as a 64-bit NTP timestamp (RFC 3550 §4): seconds since 1900-01-01 in the high 32 bits
 * (wrapping in 2036, era 1), the binary fraction of a second in the low 32.
 * @param nowMs ms since the Unix epoch; default now (`performance.timeOrigin + performance.now()`)
 */
export function ntpNow(nowMs = performance.timeOrigin + performance.now()): bigint {
  const ms = ntpMs(nowMs);
  const seconds = Math.floor(ms / 1000);
  const fraction = Math.floor(((ms - seconds * 1000) / 1000) * 0x1_0000_0000);
  return (BigInt(seconds >>> 0) << 32n) | BigInt(fraction >>> 0);
}

/**
 * The abs-send-time header extension's 3 bytes for a time: seconds as 6.18 fixed point, modulo
 * 64 s, big-endian (http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time; the same bits as
 * the NTP timestamp of RFC 3550 §4 >> 14).
 * @param nowMs ms since the Unix epoch; default now
 */
export function absSendTime(nowMs = performance.timeOrigin + performance.now()): Buffer {
  const value = Math.floor((ntpMs(nowMs) / 1000) * 262_144) & 0xffffff;
  const out = Buffer.allocUnsafe(3);
  out[0] = value >>> 16;
  out[1] = (value >>> 8) & 0xff;
  out[2] = value & 0xff;
  return out;
}

/**
 * Sends `packet` on `sender` now, synchronously: what werift's `sender.sendRtp(packet)` does, without
 * its promises, packet clone and extension-list rebuild (see the module comment for what is kept):
 * the RTP header rewritten for the sender (RFC 3550 §5.1), SRTP protect (RFC 3711 §3.3), one UDP
 * datagram on the nominated candidate pair when RFC 7675 consent holds.
 * `packet` is taken over: its header is rewritten (SSRC, payload type, continuity offsets,
 * extensions) and it stays in the sender's NACK history.
 * @returns false when this path does not apply to the sender's state (nothing was done: call
 *   `sender.sendRtp(packet)`); true when the packet was sent, or dropped as werift would drop it
 *   (consent expired, socket closed)
 */
export function sendRtpNow(sender: RTCRtpSender, packet: RtpPacket): boolean {
  const s = sender as unknown as SenderInternals;
  const dtls = s.dtlsTransport;
  const codec = s.codec;
  if (s.stopped || s.pendingRtpEnabled || s.rtpContinuityPending || s.redRedundantPayloadType || !codec || !dtls || dtls.state !== 'connected') return false;
  const srtp = dtls.srtp;
  const connection = dtls.iceTransport?.connection;
  if (!srtp || !connection || dtls.config?.debug?.outboundPacketLoss) return false;
  const pair = connection.nominated;
  const transport = pair?.protocol?.transport;
  // A plain STUN pair (not TURN: StunOverTurnProtocol has no transport) on a UDP socket, toward
  // an IP literal (werift sends to a name with a callback that handles DNS errors; we do not).
  if (!pair || pair.protocol?.type !== 'stun' || !transport || transport.type !== 'udp' || !transport.socket) return false;
  if (!literalPairs.has(pair)) {
    if (isIP(pair.remoteAddr[0]) === 0) return false;
    literalPairs.add(pair);
  }
  const plan = planFor(s);
  if (!plan.fixed) return false;

  const header = packet.header;
  header.ssrc = s.ssrc;
  header.payloadType = codec.payloadType;
  header.timestamp = (header.timestamp + s.timestampOffset) >>> 0;
  header.sequenceNumber = (header.sequenceNumber + s.seqOffset) & 0xffff;
  s.timestamp = header.timestamp;
  s.sequenceNumber = header.sequenceNumber;
  const nowMs = performance.timeOrigin + performance.now();
  if (plan.absSendTimeId === undefined) header.extensions = plan.fixed;
  else {
    const extensions = plan.fixed.slice();
    extensions.splice(plan.absIndex, 0, { id: plan.absSendTimeId, payload: absSendTime(nowMs) });
    header.extensions = extensions;
  }
  s.ntpTimestamp = ntpNow(nowMs);
  s.rtpTimestamp = header.timestamp;
  s.octetCount += packet.payload.length;
  s.headerBytesSent += header.serializeSize;
  s.packetCount = (s.packetCount + 1) >>> 0;
  s.rtpCache[header.sequenceNumber % RTP_HISTORY_SIZE] = packet;

  let enc: Buffer;
  try {
    enc = srtp.encrypt(packet.payload, header);
  } catch {
    return true; // werift logs "failed to send" and drops the packet
  }
  dtls.bytesSent += enc.length;
  dtls.packetsSent++;
  // RFC 7675: after consent expiry, no application data on the 5-tuple (werift's Connection.send).
  if (connection.canSendApplicationData() && !transport.closed) {
    try {
      transport.socket.send(enc, pair.remoteAddr[1], pair.remoteAddr[0]);
      pair.packetsSent++;
      pair.bytesSent += enc.length;
    } catch {
      /* a socket closing under us: werift's send swallows this too */
    }
  }
  if (!s.rtcpRunning) void s.runRtcp();
  return true;
}

/**
 * Sends on the synchronous path when it applies, else through werift's `sendRtp`. Never throws:
 * if the synchronous path throws (werift's internals changed), that packet is dropped, as werift
 * drops a packet whose send fails, and the sender uses werift's path from then on.
 */
export function sendRtp(sender: RTCRtpSender, packet: RtpPacket): void {
  if (!unsupported.has(sender)) {
    try {
      if (sendRtpNow(sender, packet)) return;
    } catch {
      unsupported.add(sender);
      return; // its header may already be rewritten: not resent through werift
    }
  }
  void sender.sendRtp(packet).catch(() => undefined);
}
