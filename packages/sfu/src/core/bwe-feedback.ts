/**
 * Bandwidth feedback for the SFU, sans-I/O (bytes and a clock in, bytes and numbers out).
 *
 * Publisher leg (Chromium sends, werift receives): werift 0.25 never sends REMB, and its
 * transport-cc feedback (ReceiverTWCC) is malformed, so Chromium's send-side estimate either
 * creeps up from its 300 kbps start at about 8 % a second (libwebrtc SendSideBandwidthEstimation,
 * loss-based path driven by receiver reports) or collapses (with transport-cc negotiated), and
 * Chromium leaves the upper simulcast layers off meanwhile. {@link RembGenerator} sends a REMB
 * (draft-alvestrand-rmcat-remb-03) carrying the most the SFU wants from the publisher: libwebrtc
 * takes a REMB received in the first 2 s of a connection (no loss reported yet) as its estimate,
 * and afterwards as an upper limit; its loss-based control stays in charge below that limit.
 *
 * Subscriber leg (werift sends, Chromium receives): with `goog-remb` negotiated and no
 * transport-cc, Chromium's receive-side estimator sends REMB; {@link decodeRemb} and
 * {@link RembEstimate} turn those into a per-subscriber estimate for layer selection.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * |V=2|P| FMT=15  |   PT=206      |             length            |
 * |                  SSRC of packet sender                        |
 * |                  SSRC of media source (0)                     |
 * |  Unique identifier 'R' 'E' 'M' 'B'                            |
 * |  Num SSRC     | BR Exp    |  BR Mantissa                      |
 * |   SSRC feedback ... (Num SSRC entries)                        |
 * ```
 */

/** RTCP payload-specific feedback (RFC 4585 §6.1). */
const PT_PSFB = 206;
/** Application layer feedback (RFC 4585 §6.4), the FMT REMB uses. */
const FMT_AFB = 15;
const REMB_ID = [0x52, 0x45, 0x4d, 0x42]; // 'REMB'
const MANTISSA_MAX = 0x3ffff; // 18 bits
const EXP_MAX = 63; // 6 bits

/** A REMB message's content. */
export interface Remb {
  /** SSRC of the packet sender (any SSRC of the sending endpoint). */
  senderSsrc: number;
  /** Maximum total bitrate the receiver wants on the session, bits per second. */
  bitrateBps: number;
  /** The media SSRCs the estimate applies to (0–255 of them). */
  ssrcs: number[];
}

function isUint32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

/**
 * Encodes a REMB RTCP packet (draft-alvestrand-rmcat-remb-03 §2.2; RTCP PSFB PT 206, FMT 15,
 * RFC 4585 §6.4). The bitrate is rounded down to mantissa·2^exp with an 18-bit mantissa (at most
 * 2^-17 relative error, never above the asked rate).
 * @param remb `bitrateBps` in bits per second, finite and >= 0 (fractions are floored)
 * @returns the packet, 20 + 4·ssrcs.length bytes
 * @throws RangeError if an SSRC is not a uint32, there are more than 255 SSRCs, or the bitrate
 *   is negative, not finite, or above 0x3FFFF·2^63
 */
export function encodeRemb(remb: Remb): Uint8Array {
  const { senderSsrc, ssrcs } = remb;
  if (!isUint32(senderSsrc)) throw new RangeError(`REMB sender SSRC ${senderSsrc} is not a uint32`);
  if (ssrcs.length > 255) throw new RangeError(`REMB carries at most 255 SSRCs, not ${ssrcs.length}`);
  for (const s of ssrcs) if (!isUint32(s)) throw new RangeError(`REMB SSRC ${s} is not a uint32`);
  const bitrate = Math.floor(remb.bitrateBps);
  if (!Number.isFinite(remb.bitrateBps) || bitrate < 0) throw new RangeError(`REMB bitrate ${remb.bitrateBps} must be a finite number >= 0`);
  let exp = 0;
  let mantissa = bitrate;
  while (mantissa > MANTISSA_MAX) {
    mantissa = Math.floor(mantissa / 2);
    exp++;
  }
  if (exp > EXP_MAX) throw new RangeError(`REMB bitrate ${remb.bitrateBps} is too large`);
  const length = 20 + 4 * ssrcs.length;
  const p = new Uint8Array(length);
  const v = new DataView(p.buffer);
  p[0] = 0x80 | FMT_AFB; // V=2, P=0
  p[1] = PT_PSFB;
  v.setUint16(2, length / 4 - 1); // RFC 3550 §6.4.1: length in 32-bit words minus one
  v.setUint32(4, senderSsrc);
  v.setUint32(8, 0); // media source: unused, 0 (§2.2)
  p.set(REMB_ID, 12);
  p[16] = ssrcs.length;
  p[17] = (exp << 2) | (mantissa >>> 16);
  v.setUint16(18, mantissa & 0xffff);
  ssrcs.forEach((s, i) => v.setUint32(20 + 4 * i, s));
  return p;
}

/**
 * Decodes a REMB from one RTCP packet or from a compound RTCP packet (RFC 3550 §6.1; the first
 * REMB found is returned).
 * @returns the REMB, or null when there is none or the packet is malformed (never throws)
 */
export function decodeRemb(packet: Uint8Array): Remb | null {
  const v = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  let at = 0;
  while (at + 4 <= packet.length) {
    if (packet[at]! >> 6 !== 2) return null;
    const size = (v.getUint16(at + 2) + 1) * 4;
    if (at + size > packet.length) return null;
    const isRemb =
      (packet[at]! & 0x1f) === FMT_AFB &&
      packet[at + 1] === PT_PSFB &&
      size >= 20 &&
      REMB_ID.every((b, i) => packet[at + 12 + i] === b);
    if (isRemb) {
      const count = packet[at + 16]!;
      if (20 + 4 * count > size) return null;
      const exp = packet[at + 17]! >> 2;
      const mantissa = ((packet[at + 17]! & 3) << 16) | v.getUint16(at + 18);
      const ssrcs: number[] = [];
      for (let i = 0; i < count; i++) ssrcs.push(v.getUint32(at + 20 + 4 * i));
      return { senderSsrc: v.getUint32(at + 4), bitrateBps: mantissa * 2 ** exp, ssrcs };
    }
    at += size;
  }
  return null;
}

/** Options of {@link RembGenerator}. */
export interface RembGeneratorOptions {
  /** SSRC put in the REMB's sender field, e.g. werift's `transceiver.receiver.rtcpSsrc`. */
  senderSsrc: number;
  /** The most the SFU wants from this publisher in total (all layers, audio included), bps. */
  maxBitrateBps: number;
  /** Interval between REMBs once started, ms; default 1000 (libwebrtc sends about once a second). */
  intervalMs?: number;
  /** Interval during the first `startupMs` after the first RTP packet, ms; default 200. */
  startupIntervalMs?: number;
  /** Length of the startup phase, ms; default 3000 (libwebrtc trusts REMB for 2 s after its first RTCP report). */
  startupMs?: number;
  /** An SSRC with no packet for this long is left out of the REMB, ms; default 5000. */
  ssrcTimeoutMs?: number;
}

/**
 * When to send which REMB to one publisher connection. Feed it every RTP packet's SSRC
 * ({@link onRtp}) and poll it ({@link poll}) from a timer or on each packet; it answers with the
 * bytes to send, or undefined. Sending starts with the first packet, at `startupIntervalMs` for
 * `startupMs` (so the sender's start phase sees it), then every `intervalMs`; a changed maximum
 * ({@link setMaxBitrate}) goes out at the next poll.
 */
export class RembGenerator {
  private readonly senderSsrc: number;
  private maxBitrateBps: number;
  private readonly intervalMs: number;
  private readonly startupIntervalMs: number;
  private readonly startupMs: number;
  private readonly ssrcTimeoutMs: number;
  private readonly lastSeen = new Map<number, number>();
  private firstPacketAt: number | null = null;
  private lastSentAt: number | null = null;
  private changed = false;

  /** @throws RangeError if `senderSsrc` is not a uint32 or `maxBitrateBps` is not a finite number >= 0 */
  constructor(options: RembGeneratorOptions) {
    if (!isUint32(options.senderSsrc)) throw new RangeError(`REMB sender SSRC ${options.senderSsrc} is not a uint32`);
    this.senderSsrc = options.senderSsrc;
    this.maxBitrateBps = RembGenerator.checkRate(options.maxBitrateBps);
    this.intervalMs = options.intervalMs ?? 1000;
    this.startupIntervalMs = options.startupIntervalMs ?? 200;
    this.startupMs = options.startupMs ?? 3000;
    this.ssrcTimeoutMs = options.ssrcTimeoutMs ?? 5000;
  }

  private static checkRate(bps: number): number {
    if (!Number.isFinite(bps) || bps < 0) throw new RangeError(`bitrate ${bps} must be a finite number >= 0`);
    return bps;
  }

  /** The maximum currently announced, bps. */
  get bitrateBps(): number {
    return this.maxBitrateBps;
  }

  /**
   * Changes the announced maximum (e.g. when subscribers' needs change); sent at the next poll.
   * @throws RangeError if `bps` is not a finite number >= 0
   */
  setMaxBitrate(bps: number): void {
    RembGenerator.checkRate(bps);
    if (bps !== this.maxBitrateBps) this.changed = true;
    this.maxBitrateBps = bps;
  }

  /** An RTP packet of `ssrc` (a uint32) arrived at `nowMs` (ms; any clock, the same for every call). */
  onRtp(ssrc: number, nowMs: number): void {
    if (this.firstPacketAt === null) this.firstPacketAt = nowMs;
    this.lastSeen.set(ssrc, nowMs);
  }

  /**
   * The REMB to send now, if one is due.
   * @param nowMs time, ms (the clock of {@link onRtp})
   * @returns the RTCP packet bytes, or undefined (nothing received yet, or not due)
   */
  poll(nowMs: number): Uint8Array | undefined {
    if (this.firstPacketAt === null) return undefined;
    const interval = nowMs - this.firstPacketAt < this.startupMs ? this.startupIntervalMs : this.intervalMs;
    if (!this.changed && this.lastSentAt !== null && nowMs - this.lastSentAt < interval) return undefined;
    const ssrcs: number[] = [];
    for (const [ssrc, at] of this.lastSeen) {
      if (nowMs - at > this.ssrcTimeoutMs) this.lastSeen.delete(ssrc);
      else if (ssrcs.length < 255) ssrcs.push(ssrc);
    }
    if (ssrcs.length === 0) return undefined;
    this.lastSentAt = nowMs;
    this.changed = false;
    return encodeRemb({ senderSsrc: this.senderSsrc, bitrateBps: this.maxBitrateBps, ssrcs });
  }
}

/**
 * A subscriber connection's bandwidth estimate from the REMBs its receiver sends (the latest
 * value; REMB already carries the receiver's smoothed estimate). Stale after `staleMs`.
 */
export class RembEstimate {
  private value: number | undefined;
  private at = 0;

  /** @param staleMs an estimate older than this is unknown, ms; default 5000 (libwebrtc sends REMB at least once a second) */
  constructor(private readonly staleMs = 5000) {}

  /** A REMB arrived: `bitrateBps` (bps) at `nowMs` (ms; one clock for every call). Non-finite or negative values are ignored. */
  onRemb(bitrateBps: number, nowMs: number): void {
    if (!Number.isFinite(bitrateBps) || bitrateBps < 0) return;
    this.value = bitrateBps;
    this.at = nowMs;
  }

  /** The estimate, bps; undefined before the first REMB or when the last is older than `staleMs`. */
  estimate(nowMs: number): number | undefined {
    if (this.value === undefined || nowMs - this.at > this.staleMs) return undefined;
    return this.value;
  }
}
