/**
 * Active speaker detection for SFU rooms, sans-I/O: audio levels in (the RFC 6464 client-to-mixer
 * audio level of each forwarded audio packet, see ../rtp/audio-level.ts), an ordered list of
 * active speakers out. No timers: the caller passes its clock (`now`, ms) to every call and
 * calls {@link ActiveSpeakerDetector.tick} every 200–300 ms.
 */

/** One entry of the active speaker list. */
export interface ActiveSpeaker {
  identity: string;
  /**
   * Smoothed level, 0..1: the mean level in dBov over the window, as a linear amplitude
   * (10^(dBov/20): 1 = 0 dBov, 0.1 = -20 dBov, 0.01 = -40 dBov), as LiveKit reports it.
   * Rounded to 4 decimals.
   */
  level: number;
}

/** Tuning of {@link ActiveSpeakerDetector}; every field is optional. */
export interface ActiveSpeakerOptions {
  /** Smoothing window, ms. Levels and the speech fraction are computed over it. Default 400. */
  windowMs?: number;
  /**
   * Speech threshold, dBov (≤ 0): a packet at least this loud counts as speech. Default -50
   * (RFC 6464 level ≤ 50).
   */
  thresholdDbov?: number;
  /**
   * Fraction (0..1) of the window's packets that must be speech for a participant to become an
   * active speaker, so a click or a cough does not count. Default 0.5.
   */
  minSpeechFraction?: number;
  /**
   * The window's speech packets must also span at least this long, ms (first to last), so a
   * stream's first few packets or a lone click are not enough. Default 100.
   */
  minSpeechMs?: number;
  /** An active speaker with no speech packet for longer than this, ms, drops out. Default 1000. */
  silenceMs?: number;
  /**
   * Hysteresis, ms: a speaker moves ahead of the one before it in the list (the first being the
   * dominant speaker) only after being continuously louder than it, as seen by successive
   * ticks, for this long. Default 500.
   */
  switchDelayMs?: number;
  /**
   * Count a packet as speech only when its V bit is set too. Default false: libwebrtc leaves the
   * V bit clear when its voice detector is off, which is the usual case.
   */
  requireVoiceFlag?: boolean;
}

/** The defaults of {@link ActiveSpeakerOptions}. */
export const ACTIVE_SPEAKER_DEFAULTS: Readonly<Required<ActiveSpeakerOptions>> = Object.freeze({
  windowMs: 400,
  thresholdDbov: -50,
  minSpeechFraction: 0.5,
  minSpeechMs: 100,
  silenceMs: 1000,
  switchDelayMs: 500,
  requireVoiceFlag: false,
});

/** Samples kept per participant and window; beyond it the oldest go first (bounds memory under a packet flood). */
const MAX_SAMPLES = 512;

interface Sample {
  t: number;
  /** Level, dBov (-127..0). */
  dbov: number;
  speech: boolean;
}

interface SpeakerState {
  samples: Sample[];
  /** Time of the last speech packet, ms; -Infinity before the first. */
  lastSpeechAt: number;
  active: boolean;
  /** Smoothed level of the last tick: mean dBov over the window (-127 when it is empty). */
  dbov: number;
  /** Identity → since when (ms) this speaker has been continuously louder than that one. */
  louderThan: Map<string, number>;
}

/**
 * Active speaker detection from per-packet audio levels.
 *
 * - A participant becomes active when at least `minSpeechFraction` of its packets in the last
 *   `windowMs` are speech (at least as loud as `thresholdDbov`) and those span `minSpeechMs`;
 *   it drops out after `silenceMs` with no speech packet (this also covers a sender that
 *   stopped sending, e.g. Opus DTX or a removed track).
 * - Active speakers are ranked by their smoothed level (the mean in dBov of the packets of the
 *   last `windowMs`, quiet ones included). The order is sticky: a speaker overtakes the one ahead of it only
 *   after being louder for `switchDelayMs`, so the dominant speaker (the first) does not flap
 *   when two people talk at once. Newcomers join at the end, ranked among themselves; when the
 *   list was empty, the loudest newcomer is dominant at once; when the dominant speaker drops
 *   out, the next one takes over at once.
 *
 * ```ts
 * const detector = new ActiveSpeakerDetector();
 * detector.push('ana', 30, true, now);   // per audio packet: RFC 6464 level (-dBov), V bit
 * const speakers = detector.tick(now);   // every 200–300 ms: the new list, or undefined
 * ```
 */
export class ActiveSpeakerDetector {
  private readonly options: Readonly<Required<ActiveSpeakerOptions>>;
  private readonly states = new Map<string, SpeakerState>();
  /** Identities of the current list, dominant first. */
  private order: string[] = [];
  private last: ActiveSpeaker[] = [];

  /** @throws RangeError when an option is out of its range (e.g. `windowMs` ≤ 0, `thresholdDbov` > 0) */
  constructor(options: ActiveSpeakerOptions = {}) {
    const o = { ...ACTIVE_SPEAKER_DEFAULTS };
    for (const [k, v] of Object.entries(options) as [keyof ActiveSpeakerOptions, unknown][]) {
      if (v !== undefined) (o as Record<string, unknown>)[k] = v;
    }
    const check = (ok: boolean, key: keyof ActiveSpeakerOptions, range: string) => {
      if (!ok) throw new RangeError(`active speaker option ${key} must be ${range}, got ${String(o[key])}`);
    };
    check(o.windowMs > 0, 'windowMs', '> 0');
    check(o.thresholdDbov >= -127 && o.thresholdDbov <= 0, 'thresholdDbov', 'in -127..0');
    check(o.minSpeechFraction > 0 && o.minSpeechFraction <= 1, 'minSpeechFraction', 'in (0, 1]');
    check(o.minSpeechMs >= 0, 'minSpeechMs', '≥ 0');
    check(o.silenceMs >= 0, 'silenceMs', '≥ 0');
    check(o.switchDelayMs >= 0, 'switchDelayMs', '≥ 0');
    this.options = o;
  }

  /**
   * Records one audio packet's level.
   * @param identity the publishing participant
   * @param level RFC 6464 level, 0..127 in -dBov (out-of-range values are clamped; NaN is ignored)
   * @param voice the packet's V bit
   * @param now clock, ms (monotonic; a value older than the previous packet's counts as that time)
   */
  push(identity: string, level: number, voice: boolean, now: number): void {
    if (!Number.isFinite(level) || !Number.isFinite(now)) return;
    const dbov = -Math.min(127, Math.max(0, level));
    let s = this.states.get(identity);
    if (!s) {
      s = { samples: [], lastSpeechAt: -Infinity, active: false, dbov: -127, louderThan: new Map() };
      this.states.set(identity, s);
    }
    const t = Math.max(now, s.samples.at(-1)?.t ?? -Infinity);
    const speech = dbov >= this.options.thresholdDbov && (voice || !this.options.requireVoiceFlag);
    s.samples.push({ t, dbov, speech });
    if (s.samples.length > MAX_SAMPLES) s.samples.shift();
    if (speech) s.lastSpeechAt = t;
  }

  /** Forgets a participant (it left or unpublished its microphone); the next tick reports the change. */
  remove(identity: string): void {
    this.states.delete(identity);
    for (const s of this.states.values()) s.louderThan.delete(identity);
  }

  /** The current list, dominant speaker first (as last returned by {@link tick}). */
  get speakers(): readonly ActiveSpeaker[] {
    return this.last;
  }

  /**
   * Re-evaluates the speakers at `now`.
   * @param now clock, ms
   * @returns the new list, dominant speaker first, when its identities or their order changed
   *   since the previous tick; undefined otherwise (levels alone changing do not count)
   */
  tick(now: number): ActiveSpeaker[] | undefined {
    const o = this.options;
    const active: string[] = [];
    for (const [identity, s] of this.states) {
      const from = now - o.windowMs;
      let drop = 0;
      while (drop < s.samples.length && s.samples[drop]!.t <= from) drop++;
      if (drop > 0) s.samples.splice(0, drop);
      let sum = 0;
      let speech = 0;
      let firstSpeech = Infinity;
      let lastSpeech = -Infinity;
      for (const x of s.samples) {
        sum += x.dbov;
        if (!x.speech) continue;
        speech++;
        firstSpeech = Math.min(firstSpeech, x.t);
        lastSpeech = x.t;
      }
      // The mean in dB, not of power, so that a short shout does not outweigh steady speech.
      // An empty window (the sender stopped, or Opus DTX between its sparse packets) is silence.
      s.dbov = s.samples.length === 0 ? -127 : sum / s.samples.length;
      const speaking = speech > 0 && speech / s.samples.length >= o.minSpeechFraction && lastSpeech - firstSpeech >= o.minSpeechMs;
      if (!s.active && speaking) s.active = true;
      if (s.active && now - s.lastSpeechAt > o.silenceMs) s.active = false;
      if (s.active) active.push(identity);
      else {
        s.louderThan.clear();
        if (s.samples.length === 0) this.states.delete(identity);
      }
    }
    this.updateHysteresis(active, now);
    this.updateOrder(active, now);
    const changed = this.order.length !== this.last.length || this.order.some((id, i) => this.last[i]!.identity !== id);
    this.last = this.order.map((identity) => ({ identity, level: toLevel(this.states.get(identity)!.dbov) }));
    return changed ? this.last : undefined;
  }

  /** Starts or stops the pairwise "louder since" timers among active speakers. */
  private updateHysteresis(active: string[], now: number): void {
    const set = new Set(active);
    for (const a of active) {
      const sa = this.states.get(a)!;
      for (const other of [...sa.louderThan.keys()]) if (!set.has(other)) sa.louderThan.delete(other);
      for (const b of active) {
        if (a === b) continue;
        if (sa.dbov > this.states.get(b)!.dbov) {
          if (!sa.louderThan.has(b)) sa.louderThan.set(b, now);
        } else sa.louderThan.delete(b);
      }
    }
  }

  /**
   * Drops speakers that went quiet, appends newcomers (loudest first), then lets a speaker
   * overtake the one ahead of it once it has been louder for `switchDelayMs`.
   */
  private updateOrder(active: string[], now: number): void {
    const set = new Set(active);
    const order = this.order.filter((id) => set.has(id));
    const known = new Set(order);
    const byLevel = (a: string, b: string) => this.states.get(b)!.dbov - this.states.get(a)!.dbov || (a < b ? -1 : a > b ? 1 : 0);
    order.push(...active.filter((id) => !known.has(id)).sort(byLevel));
    // Bubble sort on "has been louder for switchDelayMs". That relation implies "louder now",
    // a strict total order, so every swap removes an inversion of it: n passes are enough.
    const beats = (a: string, b: string) => {
      const since = this.states.get(a)!.louderThan.get(b);
      return since !== undefined && now - since >= this.options.switchDelayMs;
    };
    for (let pass = 0, swapped = true; swapped && pass < order.length; pass++) {
      swapped = false;
      for (let i = 1; i < order.length; i++) {
        if (beats(order[i]!, order[i - 1]!)) {
          [order[i - 1], order[i]] = [order[i]!, order[i - 1]!];
          swapped = true;
        }
      }
    }
    this.order = order;
  }
}

/** dBov → linear amplitude 0..1, 4 decimals. */
function toLevel(dbov: number): number {
  return Math.round(10 ** (dbov / 20) * 1e4) / 1e4;
}
