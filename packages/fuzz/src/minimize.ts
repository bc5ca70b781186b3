/**
 * Shrinks a failing case for a readable regression file: drops steps (halves, then quarters, ...
 * then single steps, as in delta debugging) while the replay still fails with the same signature.
 * Bounded by a number of replays.
 */
import { targetOf, describeError } from './targets.js';
import type { CaseRecord } from './target.js';

/** The signature the replay of `record` fails with, or undefined when it passes. */
export async function failureOf(record: CaseRecord): Promise<string | undefined> {
  try {
    const out = targetOf(record.target).replay(record);
    if (out instanceof Promise) await out;
    return undefined;
  } catch (err) {
    return describeError(err).signature;
  }
}

/**
 * @param maxReplays upper bound of replays tried; default 2000
 * @returns the smallest record found that fails like `record` (the record itself if it passes)
 */
export async function minimize(record: CaseRecord, maxReplays = 2000): Promise<CaseRecord> {
  const signature = await failureOf(record);
  if (signature === undefined) return record;
  let best = record;
  let replays = 0;
  for (let chunk = Math.max(1, Math.floor(best.steps.length / 2)); chunk >= 1 && replays < maxReplays; chunk = Math.floor(chunk / 2)) {
    let progress = true;
    while (progress && replays < maxReplays) {
      progress = false;
      for (let at = 0; at < best.steps.length && replays < maxReplays; at += chunk) {
        const steps = [...best.steps.slice(0, at), ...best.steps.slice(at + chunk)];
        if (steps.length === 0) continue;
        const candidate: CaseRecord = { ...best, steps };
        replays++;
        if ((await failureOf(candidate)) === signature) {
          best = candidate;
          progress = true;
          at -= chunk;
        }
      }
    }
  }
  return best;
}
