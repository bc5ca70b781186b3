/**
 * The MCU composite's encoder bitrate from its subscribers' bandwidth estimates (REMB,
 * draft-alvestrand-rmcat-remb), sans-I/O: estimates and `now` in, a bitrate to set (or nothing)
 * out. The encoder follows the lowest estimate, since one encoding goes to every subscriber,
 * clamped to [{@link MIN_ENCODER_BITRATE_BPS}, `maxBitrateBps`], and changes at most once per
 * `minIntervalMs` and only by at least `minChange` of the current value (libvpx resets its rate
 * control on each change, so it should not chase every REMB).
 */

/** The lowest bitrate the composite's encoder is set to, bps (the floor of CompositeMixer.setBitrate). */
export const MIN_ENCODER_BITRATE_BPS = 50_000;

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
   * @param now ms, one monotonic clock for every call
   * @returns the bitrate to set the encoder to, bps, or undefined for no change now
   */
  update(estimateBps: number | null, now: number): number | undefined {
    if (estimateBps === null || !Number.isFinite(estimateBps)) return undefined;
    const target = Math.round(Math.max(MIN_ENCODER_BITRATE_BPS, Math.min(estimateBps, this.options.maxBitrateBps)));
    if (Math.abs(target - this.current) < this.minChange * this.current) return undefined;
    if (now - this.changedAt < this.minIntervalMs) return undefined;
    this.current = target;
    this.changedAt = now;
    return target;
  }
}
