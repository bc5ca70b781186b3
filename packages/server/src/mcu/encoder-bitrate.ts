/**
 * The MCU composite's encoder bitrate from its subscribers' bandwidth estimates (REMB,
 * draft-alvestrand-rmcat-remb), sans-I/O: estimates and `now` in, a bitrate to set (or nothing)
 * out. One encoding goes to every subscriber, so the lowest estimate counts.
 *
 * A receiver's REMB is not only a capacity: libwebrtc's receive-side estimate (AIMD) is capped at
 * 1.5× the throughput it measures + 10 kbps, and grows by ~8 % a second, so a composite of still
 * pictures, which the encoder sends at a few kbps, gets a REMB of ~15 kbps on an idle link, and a
 * picture that starts moving sends far more than the REMB for a while. Following either down would
 * starve the picture. On congestion the receiver's estimate falls, to 0.85× what it receives. So
 * the encoder goes
 * - up to the estimate whenever the estimate is above it (room to grow), and
 * - down to the estimate only when the estimate fell (by 5 % or more between two reports) below
 *   what the composite sends (`sendingBps`) while the encoder fills at least half of its bitrate:
 *   the path no longer carries it;
 * otherwise it stays. A fall is followed for 2 s (or two `minIntervalMs`) after it was seen (it may
 * wait for the rate limit), then forgotten; a fall that ends within 5 % of the bitrate is settled
 * at once, so a later decline in steps under 5 % is followed only when one of them is a fall of 5 %.
 * Always within [{@link MIN_ENCODER_BITRATE_BPS}, `maxBitrateBps`], at most one change per
 * `minIntervalMs` and only by at least `minChange` of the current value (libvpx
 * resets its rate control on each change, so it should not chase every REMB).
 */
import { MIN_COMPOSITE_BITRATE_BPS } from '@dari/media';

/** The lowest bitrate the composite's encoder is set to, bps (the floor of CompositeMixer.setBitrate). */
export const MIN_ENCODER_BITRATE_BPS = MIN_COMPOSITE_BITRATE_BPS;

/** A fall of the estimate by this fraction between two reports counts as congestion… */
const FALL = 0.05;
/** …when the encoder fills at least this fraction of its bitrate (otherwise the REMB only reflects the little it sends). */
const FILLED = 0.5;
/** A fall is followed down for this long after it was seen (at least two rate-limit periods), ms, then forgotten. */
const CONGESTION_MEMORY_MS = 2000;

export interface EncoderBitrateOptions {
  /** The ceiling, bps (`mcu.maxBitrateBps`). */
  maxBitrateBps: number;
  /** The encoder's bitrate now, bps. */
  startBps: number;
  /** Fewest ms between two changes. Default 1000. */
  minIntervalMs?: number;
  /** Smallest change worth making, as a fraction of the current bitrate. Default 0.05. */
  minChange?: number;
}

export class EncoderBitrate {
  private current: number;
  private changedAt = Number.NEGATIVE_INFINITY;
  private lastEstimate: number | null = null;
  /** When the estimate last fell under what is sent (congestion): a lower one may be followed down until CONGESTION_MEMORY_MS after it. */
  private congestedAt = Number.NEGATIVE_INFINITY;
  private readonly minIntervalMs: number;
  private readonly minChange: number;

  constructor(private readonly options: EncoderBitrateOptions) {
    this.current = options.startBps;
    this.minIntervalMs = options.minIntervalMs ?? 1000;
    this.minChange = options.minChange ?? 0.05;
  }

  /** The bitrate set last, bps. */
  get bitrateBps(): number {
    return this.current;
  }

  /**
   * The subscribers' lowest estimate now (bps; null: none known, the bitrate stays).
   * @param sendingBps what the composite sends now, bps (measured where it enters the SFU)
   * @param now ms, one monotonic clock for every call
   * @returns the bitrate to set the encoder to, bps, or undefined for no change now
   */
  update(estimateBps: number | null, sendingBps: number, now: number): number | undefined {
    if (estimateBps === null || !Number.isFinite(estimateBps)) {
      this.lastEstimate = null;
      return undefined;
    }
    const fell = this.lastEstimate !== null && estimateBps < this.lastEstimate * (1 - FALL);
    if (fell && estimateBps < sendingBps && sendingBps >= FILLED * this.current) this.congestedAt = now;
    this.lastEstimate = estimateBps;
    const target = Math.round(Math.max(MIN_ENCODER_BITRATE_BPS, Math.min(estimateBps, this.options.maxBitrateBps)));
    if (target < this.current && now - this.congestedAt > Math.max(CONGESTION_MEMORY_MS, 2 * this.minIntervalMs)) return undefined;
    if (Math.abs(target - this.current) < this.minChange * this.current) {
      this.congestedAt = Number.NEGATIVE_INFINITY; // already where the congested path allows
      return undefined;
    }
    if (now - this.changedAt < this.minIntervalMs) return undefined;
    this.current = target;
    this.changedAt = now;
    this.congestedAt = Number.NEGATIVE_INFINITY;
    return target;
  }
}
