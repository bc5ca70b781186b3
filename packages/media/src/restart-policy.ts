/**
 * When to restart a crashed worker: exponential backoff, reset once a worker has run long enough,
 * and a ceiling of crashes per window after which the supervisor gives up (a worker that dies on
 * every start would otherwise burn a core forever). Sans-I/O: times in, decisions out.
 */

export interface RestartPolicyOptions {
  /** First restart delay, ms. Default 250. */
  initialDelayMs?: number;
  /** Longest restart delay, ms. Default 8000. */
  maxDelayMs?: number;
  /** A worker that ran this long before crashing restarts after `initialDelayMs` again, ms. Default 30000. */
  stableAfterMs?: number;
  /** Crashes tolerated within `windowMs`; the next one gives up. Default 5. 0 never restarts. */
  maxCrashes?: number;
  /** Window of `maxCrashes`, ms. Default 60000. */
  windowMs?: number;
}

export type RestartDecision = { action: 'restart'; delayMs: number } | { action: 'give-up'; reason: string };

export class RestartPolicy {
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly stableAfterMs: number;
  private readonly maxCrashes: number;
  private readonly windowMs: number;
  private crashes: number[] = [];
  private delayMs: number;
  private startedAt: number | null = null;

  constructor(options: RestartPolicyOptions = {}) {
    this.initialDelayMs = options.initialDelayMs ?? 250;
    this.maxDelayMs = options.maxDelayMs ?? 8000;
    this.stableAfterMs = options.stableAfterMs ?? 30_000;
    this.maxCrashes = options.maxCrashes ?? 5;
    this.windowMs = options.windowMs ?? 60_000;
    this.delayMs = this.initialDelayMs;
  }

  /** A worker process came up (said `ready`) at `now` (ms, any monotonic clock). */
  started(now: number): void {
    this.startedAt = now;
  }

  /** A worker process died unexpectedly at `now`: restart it after `delayMs`, or give up. */
  crashed(now: number): RestartDecision {
    if (this.startedAt !== null && now - this.startedAt >= this.stableAfterMs) this.delayMs = this.initialDelayMs;
    this.startedAt = null;
    this.crashes = this.crashes.filter((t) => now - t < this.windowMs);
    this.crashes.push(now);
    if (this.crashes.length > this.maxCrashes) {
      return { action: 'give-up', reason: `${this.crashes.length} crashes within ${this.windowMs} ms` };
    }
    const delayMs = this.delayMs;
    this.delayMs = Math.min(this.maxDelayMs, this.delayMs * 2);
    return { action: 'restart', delayMs };
  }
}
