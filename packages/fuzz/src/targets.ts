/** The fuzz targets by name, and what a finding is. */
import { CodecTarget } from './codec-target.js';
import { TurnTarget } from './turn-target.js';
import { SignalingTarget } from './signaling-target.js';
import { InvariantError, type CaseRecord, type Target, type TargetName } from './target.js';

export function targetOf(name: TargetName): Target {
  switch (name) {
    case 'stun':
      return new CodecTarget();
    case 'turn':
      return new TurnTarget();
    case 'signaling':
      return new SignalingTarget();
  }
}

/** A crash (an exception), a broken invariant, or a hang (a step over the time budget). */
export interface Finding {
  kind: 'crash' | 'invariant' | 'hang';
  target: TargetName;
  /** What went wrong, one line. */
  error: string;
  stack?: string | undefined;
  /** Groups findings of one cause: kind, error with numbers blanked, first frame. */
  signature: string;
  /** The case index and campaign seed that generated it. */
  index: number;
  seed: number;
  /** For hangs: the slowest step, ms. */
  ms?: number | undefined;
  record: CaseRecord;
}

/** Describes an exception thrown by a case. */
export function describeError(err: unknown): { kind: 'crash' | 'invariant'; error: string; stack?: string | undefined; signature: string } {
  const kind = err instanceof InvariantError ? 'invariant' : 'crash';
  const e = err instanceof Error ? err : new Error(String(err));
  const error = `${e.name}: ${e.message}`.split('\n')[0]!.slice(0, 500);
  const frame = (e.stack ?? '').split('\n').find((l) => l.includes('/dist/src/') && !l.includes('/fuzz/dist/src/target.js')) ?? '';
  const where = frame.replace(/^.*\/dist\/src\//, '').replace(/:\d+\)?$/, '');
  // Data in messages (quoted texts, hex, numbers) would make every finding its own cause.
  const gist = error.replace(/"(?:[^"\\]|\\.)*"/g, '"…"').replace(/\{.*\}/g, '{…}').replace(/[0-9a-f]{6,}/g, 'H').replace(/\d+/g, 'N').slice(0, 100);
  return { kind, error, stack: e.stack, signature: `${kind}|${gist}|${kind === 'crash' ? where : ''}` };
}
