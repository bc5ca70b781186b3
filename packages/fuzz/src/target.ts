/**
 * What a fuzz target is to the runner: it generates and runs one case from a seeded generator,
 * records the concrete steps it fed the system under test (so a failure can be replayed without
 * the generator), checks invariants after each step, and reports tags of the behaviour it saw
 * (a cheap stand-in for coverage: a case that shows a new tag joins the corpus).
 */
import type { Rng } from './rng.js';

export const TARGET_NAMES = ['stun', 'turn', 'signaling'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

/** A self-contained case: the target's configuration and the concrete steps, JSON-able. */
export interface CaseRecord {
  target: TargetName;
  config?: unknown;
  steps: unknown[];
}

/** An invariant the system under test broke (as opposed to an exception it threw). */
export class InvariantError extends Error {
  override readonly name = 'InvariantError';
}

/** Throws an {@link InvariantError} with `message` unless `condition` holds. */
export function check(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new InvariantError(typeof message === 'string' ? message : message());
}

export interface CaseOutcome {
  /** Inputs fed to the system under test (datagrams, frames, text messages). */
  messages: number;
  /** The longest single step, ms (the hang detector's measure). */
  slowestStepMs: number;
  /** Behaviour seen (response codes, error codes, action kinds). */
  tags: Iterable<string>;
}

export interface CaseContext {
  /** Interesting cases so far (the corpus), oldest first. */
  corpus: readonly CaseRecord[];
  /** The case being run; targets push each step before executing it. */
  record: CaseRecord;
  /** Called with each step before it runs (trace mode of the hang detector). */
  trace?: ((step: unknown) => void) | undefined;
}

export interface Target {
  readonly name: TargetName;
  /** Cases the corpus starts with (RFC vectors, one message of each kind, typical flows). */
  seeds(): CaseRecord[];
  /** Generates and runs one case; throws on a crash or a broken invariant. */
  run(rng: Rng, ctx: CaseContext): CaseOutcome | Promise<CaseOutcome>;
  /** Runs a recorded case with the same checks. */
  replay(record: CaseRecord, trace?: (step: unknown) => void): CaseOutcome | Promise<CaseOutcome>;
}

/** Times a step, ms. */
export function timed<T>(fn: () => T, slowest: { ms: number }): T {
  const t0 = performance.now();
  const out = fn();
  const ms = performance.now() - t0;
  if (ms > slowest.ms) slowest.ms = ms;
  return out;
}
