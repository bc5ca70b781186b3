/**
 * The composite as a fallback within SFU rooms (issue #10 item 3), sans-I/O: a browser subscriber
 * whose bandwidth estimate (REMB, draft-alvestrand-rmcat-remb) cannot carry the videos it
 * subscribes to, even at their lowest simulcast layers, receives the room's composite video
 * instead (its audio stays the separate tracks), and returns to the separate videos when it
 * recovers. {@link CompositeFallback} holds the per-subscriber state and decides; the core feeds
 * it one {@link FallbackSample} per browser subscriber at each tick and applies its decisions
 * (the subscription policy's `compositeFallback`, the `composite-fallback` action).
 *
 * The *need* of a subscriber is the sum of the lowest layers' measured bitrates of the videos the
 * room's policy gives it (a video it renders at 0×0 does not count; an unmeasured layer counts
 * {@link CompositeFallbackOptions.unmeasuredVideoBps}), plus
 * {@link CompositeFallbackOptions.audioBps} per audio track it receives.
 *
 * REMB's nature (see layer-selection.ts): a receiver's estimate tracks what it receives (libwebrtc
 * caps it near 1.5× the incoming rate), so it ramps up after a join and after more videos start,
 * and once a subscriber gets only a low-rate composite it may never climb past the need by itself.
 * Hence:
 * - no judgement during {@link CompositeFallbackOptions.rampUpMs} after the first estimate, after
 *   the number of videos grows and after every return to the tracks;
 * - fall back when the estimate stays below the need for {@link CompositeFallbackOptions.holdMs}
 *   *and* the subscriber reports loss (a NACK) meanwhile: an estimate a little under what arrives
 *   with no loss is the estimator reacting to delay (a busy CPU, a brief queue), not a link that
 *   cannot carry the videos (seen on a loaded machine: REMB at 0.8–0.9× the incoming rate with
 *   every packet delivered);
 * - recover when the estimate stays at or above `recoverRatio` × the need for `holdMs` (the
 *   composite's encoder follows its subscribers' REMB, so on a recovered network the estimate
 *   climbs with it), or at a timed *probe*: after `probeIntervalMs` in the composite the
 *   subscriber gets the tracks back; a fallback within `probeMs` of a return (a probe that
 *   showed congestion) doubles the interval up to `maxProbeIntervalMs`; one after it resets it.
 */

/** Options of {@link CompositeFallback}; times in ms, rates in bps. Defaults in {@link COMPOSITE_FALLBACK_DEFAULTS}. */
export interface CompositeFallbackOptions {
  /** Whether subscribers may fall back at all. Default true. */
  enabled?: boolean;
  /**
   * No decision for this long after a subscriber's first estimate, after its number of videos
   * grows, and after each return to the tracks (the estimate ramps with what it receives), ms.
   * Default 5000 (libwebrtc's receive-side estimate reaches the incoming rate within 2–4 s).
   */
  rampUpMs?: number;
  /** The estimate must stay below the need (fall back) or above `recoverRatio` × the need (recover) this long, ms. Default 2000 (two REMB intervals). */
  holdMs?: number;
  /** Recover when the estimate is at least this multiple of the need. Default 1.5 (the tracks' lowest layers then fit with libwebrtc's 1.5× headroom). */
  recoverRatio?: number;
  /** A subscriber in the composite gets the tracks back for a probe after this long, ms; doubles after a failed probe. Default 20000. */
  probeIntervalMs?: number;
  /** Ceiling of the probe interval, ms. Default 160000. */
  maxProbeIntervalMs?: number;
  /** A fallback within this long of a return to the tracks is a failed probe (it doubles the interval), ms. Default 10000 (> rampUpMs + holdMs). */
  probeMs?: number;
  /** What an unmeasured lowest layer (paused, not arrived yet) counts for, bps. Default 150000 (the SDK's `q` layer `maxBitrate`). */
  unmeasuredVideoBps?: number;
  /** What each audio track received counts for, bps. Default 40000 (Opus at 32 kbps with RTP overhead). */
  audioBps?: number;
}

export const COMPOSITE_FALLBACK_DEFAULTS = Object.freeze({
  enabled: true,
  rampUpMs: 5000,
  holdMs: 2000,
  recoverRatio: 1.5,
  probeIntervalMs: 20_000,
  maxProbeIntervalMs: 160_000,
  probeMs: 10_000,
  unmeasuredVideoBps: 150_000,
  audioBps: 40_000,
});

export type ResolvedFallbackOptions = Required<CompositeFallbackOptions>;

/**
 * Fills in defaults and checks ranges.
 * @throws RangeError naming the option when one is out of range
 */
export function resolveFallbackOptions(options: CompositeFallbackOptions = {}): ResolvedFallbackOptions {
  const o: ResolvedFallbackOptions = { ...COMPOSITE_FALLBACK_DEFAULTS };
  for (const [k, v] of Object.entries(options)) if (v !== undefined && k in o) (o as Record<string, unknown>)[k] = v;
  if (typeof o.enabled !== 'boolean') throw new RangeError(`composite fallback option enabled must be a boolean, got ${String(o.enabled)}`);
  for (const k of ['rampUpMs', 'holdMs', 'probeIntervalMs', 'maxProbeIntervalMs', 'probeMs', 'unmeasuredVideoBps', 'audioBps'] as const) {
    if (!Number.isFinite(o[k]) || o[k] < 0) throw new RangeError(`composite fallback option ${k} must be a finite number >= 0, got ${o[k]}`);
  }
  if (!Number.isFinite(o.recoverRatio) || o.recoverRatio < 1) throw new RangeError(`composite fallback option recoverRatio must be a finite number >= 1, got ${o.recoverRatio}`);
  if (o.maxProbeIntervalMs < o.probeIntervalMs) throw new RangeError(`composite fallback option maxProbeIntervalMs (${o.maxProbeIntervalMs}) must be >= probeIntervalMs (${o.probeIntervalMs})`);
  return o;
}

/** What the core knows of one browser subscriber at a tick. */
export interface FallbackSample {
  /** The subscriber's REMB estimate, bps; undefined when unknown or stale. */
  estimateBps: number | undefined;
  /** The lowest layers of its videos plus its audio, bps (see the module comment). */
  needBps: number;
  /** Videos counted in the need. */
  videos: number;
  /** Generic NACKs (RFC 4585 §6.2.1) the subscriber sent since the previous sample: evidence of loss. Default 0. */
  nacks?: number;
}

/**
 * Why a subscriber went to the composite (`on`) or back to the tracks:
 * `estimate-below-need` (on), `probe-failed` (on: congestion during a probe),
 * `estimate-recovered` (off), `probe` (off: a timed recovery attempt), `no-video` (off: nothing
 * left to carry), `disabled` (off), `left` (off: the subscriber went away).
 */
export type FallbackReason = 'estimate-below-need' | 'probe-failed' | 'estimate-recovered' | 'probe' | 'no-video' | 'disabled' | 'left';

/** A change of one subscriber's path. */
export interface FallbackDecision {
  on: boolean;
  reason: FallbackReason;
  /** The estimate and need when it was decided, bps. */
  estimateBps: number | undefined;
  needBps: number;
}

interface State {
  composite: boolean;
  /** No decision before this time (null: no estimate seen yet). */
  graceUntil: number | null;
  /** Since when the condition for a change holds (null: it does not). */
  since: number | null;
  videos: number;
  /** Back on the tracks until this time: a fallback before it is a failed probe. */
  probeUntil: number;
  /** In the composite: when the next probe starts. */
  probeAt: number;
  /** The probe interval now, ms. */
  interval: number;
  /** When the subscriber last reported loss (a NACK). */
  lossAt: number;
}

/** Per-subscriber fallback state and decisions; see the module comment. */
export class CompositeFallback {
  readonly options: ResolvedFallbackOptions;
  private readonly states = new Map<string, State>();

  /** @throws RangeError when an option is out of range */
  constructor(options: CompositeFallbackOptions = {}) {
    this.options = resolveFallbackOptions(options);
  }

  /** Whether the subscriber is in the composite now. */
  inComposite(subscriber: string): boolean {
    return this.states.get(subscriber)?.composite ?? false;
  }

  /** Subscribers in the composite now. */
  get size(): number {
    let n = 0;
    for (const s of this.states.values()) if (s.composite) n++;
    return n;
  }

  /**
   * One sample of `subscriber` at `now` (ms, one monotonic clock).
   * @returns a decision when its path changes
   */
  sample(subscriber: string, sample: FallbackSample, now: number): FallbackDecision | undefined {
    const o = this.options;
    let st = this.states.get(subscriber);
    if (!st) this.states.set(subscriber, (st = { composite: false, graceUntil: null, since: null, videos: 0, probeUntil: 0, probeAt: 0, interval: o.probeIntervalMs, lossAt: -Infinity }));
    const { estimateBps, needBps } = sample;
    if ((sample.nacks ?? 0) > 0) st.lossAt = now;
    const decide = (on: boolean, reason: FallbackReason): FallbackDecision => {
      st.composite = on;
      st.since = null;
      return { on, reason, estimateBps, needBps };
    };
    if (!o.enabled || sample.videos === 0 || needBps <= 0) {
      st.videos = sample.videos;
      st.since = null;
      return st.composite ? decide(false, o.enabled ? 'no-video' : 'disabled') : undefined;
    }
    const more = sample.videos > st.videos;
    st.videos = sample.videos;
    if (estimateBps === undefined) {
      st.since = null;
      return undefined;
    }
    if (st.graceUntil === null || (more && !st.composite)) st.graceUntil = now + o.rampUpMs;
    if (st.composite) {
      if (now >= st.probeAt) return this.back(st, decide, 'probe', now);
      if (estimateBps >= needBps * o.recoverRatio) {
        st.since ??= now;
        if (now - st.since >= o.holdMs) return this.back(st, decide, 'estimate-recovered', now);
      } else st.since = null;
      return undefined;
    }
    if (now < st.graceUntil || estimateBps >= needBps) {
      st.since = null;
      return undefined;
    }
    st.since ??= now;
    // Below the need for holdMs, with loss reported since shortly before it went below.
    if (now - st.since < o.holdMs || st.lossAt < st.since - o.holdMs) return undefined;
    const failedProbe = now < st.probeUntil;
    st.interval = failedProbe ? Math.min(st.interval * 2, o.maxProbeIntervalMs) : o.probeIntervalMs;
    st.probeAt = now + st.interval;
    return decide(true, failedProbe ? 'probe-failed' : 'estimate-below-need');
  }

  /**
   * The subscriber went away.
   * @returns an `off` decision (`left`) when it was in the composite
   */
  remove(subscriber: string): FallbackDecision | undefined {
    const st = this.states.get(subscriber);
    this.states.delete(subscriber);
    return st?.composite ? { on: false, reason: 'left', estimateBps: undefined, needBps: 0 } : undefined;
  }

  private back(st: State, decide: (on: boolean, reason: FallbackReason) => FallbackDecision, reason: FallbackReason, now: number): FallbackDecision {
    st.graceUntil = now + this.options.rampUpMs;
    st.probeUntil = now + this.options.probeMs;
    return decide(false, reason);
  }
}
