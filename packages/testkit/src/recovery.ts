/**
 * Recovery measurements on a {@link Participant} page: when video frames of a remote
 * publication were presented (requestVideoFrameCallback, logged by joinWithSdk), in wall-clock
 * ms since the epoch, so a test can compare them with the moment it restored a link or
 * restarted a server.
 */
import type { Participant } from './chromium.js';

/**
 * Frames of `key` (`identity:source`, e.g. `alice:camera`) presented after `sinceEpochMs`.
 * @returns their presentation times, ms since the epoch
 */
export function framesSince(p: Participant, key: string, sinceEpochMs: number): Promise<number[]> {
  return p.page.evaluate(
    ({ key, since }) => {
      const times = ((window as unknown as Record<string, { frameTimes: Record<string, number[]> }>)['log']!.frameTimes[key] ?? []).map((t) => performance.timeOrigin + t);
      return times.filter((t) => t > since);
    },
    { key, since: sinceEpochMs },
  );
}

/**
 * Waits (polling every 100 ms) until `count` frames of `key` were presented after `sinceEpochMs`.
 * @returns the first of them, ms since the epoch
 * @throws Error naming the key and what arrived, after `timeoutMs`
 */
export async function waitForFramesSince(p: Participant, key: string, sinceEpochMs: number, count = 5, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let seen: number[] = [];
  while (Date.now() < deadline) {
    seen = await framesSince(p, key, sinceEpochMs);
    if (seen.length >= count) return seen[0]!;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${p.identity}: ${seen.length} frames of ${key} since ${new Date(sinceEpochMs).toISOString()} within ${timeoutMs} ms (wanted ${count})`);
}

/**
 * The longest gap between consecutive frames of `key` presented in [`fromEpochMs`, `toEpochMs`],
 * ms, counting the edges (from → first frame, last frame → to); the whole span when none came.
 */
export async function longestFrameGap(p: Participant, key: string, fromEpochMs: number, toEpochMs: number): Promise<number> {
  const frames = (await framesSince(p, key, fromEpochMs)).filter((t) => t <= toEpochMs);
  let last = fromEpochMs;
  let gap = 0;
  for (const t of [...frames, toEpochMs]) {
    gap = Math.max(gap, t - last);
    last = t;
  }
  return gap;
}
