/**
 * The loop of one target in a worker thread: case after case from the seeded generator until the
 * deadline or the message goal, reporting progress, findings and new corpus entries to the
 * campaign. A heartbeat in shared memory lets the campaign see a case that never returns (an
 * infinite loop): it then runs that case again here in trace mode, which posts each step before
 * it runs, so the hanging input is known.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { caseRng } from './rng.js';
import { targetOf, describeError, type Finding } from './targets.js';
import type { CaseRecord, TargetName } from './target.js';

export interface WorkerInput {
  target: TargetName;
  seed: number;
  startIndex: number;
  /** Stop once this many messages have been fed in this run. */
  goalMessages: number;
  /** Stop at this time, ms since the epoch. */
  deadline: number;
  /** A step slower than this is a hang, ms. */
  budgetMs: number;
  corpus: CaseRecord[];
  tags: string[];
  /** Int32Array view: [current case index, cases done]. */
  heartbeat: SharedArrayBuffer;
  /** Trace mode: run only this case, posting each step. */
  trace?: number;
}

export type WorkerMessage =
  | { type: 'progress'; nextIndex: number; cases: number; messages: number }
  | { type: 'finding'; finding: Finding; repeats: number }
  | { type: 'corpus'; at: number; record: CaseRecord; tags: string[] }
  | { type: 'trace-config'; config: unknown }
  | { type: 'trace-step'; step: unknown }
  | { type: 'done'; nextIndex: number; cases: number; messages: number };

/** Findings of one signature kept per run; the rest are only counted. */
const KEEP_PER_SIGNATURE = 3;

async function main(input: WorkerInput): Promise<void> {
  const port = parentPort!;
  const target = targetOf(input.target);
  const hb = new Int32Array(input.heartbeat);
  const corpus = input.corpus;
  if (input.trace !== undefined) {
    const record: CaseRecord = { target: input.target, steps: [] };
    let configSent = false;
    const trace = (step: unknown) => {
      if (!configSent && record.config !== undefined) {
        port.postMessage({ type: 'trace-config', config: record.config } satisfies WorkerMessage);
        configSent = true;
      }
      port.postMessage({ type: 'trace-step', step } satisfies WorkerMessage);
    };
    try {
      await target.run(caseRng(input.seed, input.target, input.trace), { corpus, record, trace });
    } catch {
      // The trace is what matters; the campaign saves it.
    }
    port.postMessage({ type: 'done', nextIndex: input.trace + 1, cases: 1, messages: 0 } satisfies WorkerMessage);
    return;
  }
  // Decoders build an Error per bad input; without stack traces that costs a sixth. A finding's
  // case is replayed with stacks on to report where it failed.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  const seen = new Set(input.tags);
  const bySignature = new Map<string, number>();
  let cases = 0;
  let messages = 0;
  let index = input.startIndex;
  let lastReport = Date.now();
  while (Date.now() < input.deadline && messages < input.goalMessages) {
    Atomics.store(hb, 0, index);
    const record: CaseRecord = { target: input.target, steps: [] };
    try {
      const run = target.run(caseRng(input.seed, input.target, index), { corpus, record });
      const outcome = run instanceof Promise ? await run : run;
      messages += outcome.messages;
      if (outcome.slowestStepMs > input.budgetMs) {
        // Confirm on a second run, so that a GC pause or a busy machine is not a finding.
        const again = target.replay(record);
        const ms = (again instanceof Promise ? await again : again).slowestStepMs;
        if (ms > input.budgetMs / 2) report({ kind: 'hang', target: input.target, error: `a step took ${Math.round(Math.max(ms, outcome.slowestStepMs))} ms (budget ${input.budgetMs} ms)`, signature: `hang|${input.target}`, index, seed: input.seed, ms, record });
      }
      const fresh = [...outcome.tags].filter((t) => !seen.has(t));
      if (fresh.length > 0) {
        for (const t of fresh) seen.add(t);
        corpus.push(record);
        port.postMessage({ type: 'corpus', at: index, record, tags: fresh } satisfies WorkerMessage);
      }
    } catch (err) {
      Error.stackTraceLimit = stackTraceLimit;
      let error = err;
      try {
        const again = target.replay(record);
        if (again instanceof Promise) await again;
      } catch (withStack) {
        error = withStack;
      }
      Error.stackTraceLimit = 0;
      report({ ...describeError(error), target: input.target, index, seed: input.seed, record });
    }
    cases++;
    index++;
    Atomics.add(hb, 1, 1);
    if (Date.now() - lastReport >= 500) {
      lastReport = Date.now();
      port.postMessage({ type: 'progress', nextIndex: index, cases, messages } satisfies WorkerMessage);
    }
  }
  port.postMessage({ type: 'done', nextIndex: index, cases, messages } satisfies WorkerMessage);

  function report(finding: Finding): void {
    const n = (bySignature.get(finding.signature) ?? 0) + 1;
    bySignature.set(finding.signature, n);
    if (n <= KEEP_PER_SIGNATURE || n % 1000 === 0) port.postMessage({ type: 'finding', finding, repeats: n } satisfies WorkerMessage);
  }
}

if (parentPort) await main(workerData as WorkerInput);
