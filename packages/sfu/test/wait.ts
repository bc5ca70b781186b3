/** Waiting on a condition in the werift tests (real connections: no event for every state we wait on). */

/**
 * Resolves once `cond()` holds, checked every 10 ms.
 * @throws Error `timed out waiting for <what>` after `timeoutMs` ms (default 10,000)
 */
export async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
