/**
 * A resumable, bounded fuzz campaign. Its directory holds everything needed to continue:
 * ```
 * state.json               seed, and per target: next case index, cases, messages, time, tags seen
 * corpus/<target>.jsonl    interesting cases (each one showed a behaviour not seen before)
 * findings/<target>-<kind>-<hash>.json   crashes, broken invariants and hangs, each a
 *                          self-contained case: `node bench/fuzz/run.mjs --replay FILE`
 * progress.log             one line per target and run
 * ```
 * Each target runs in a worker thread; a heartbeat in shared memory catches a case that never
 * returns, which is then re-run in trace mode to capture the hanging input.
 */
import { Worker } from 'node:worker_threads';
import { mkdirSync, readFileSync, writeFileSync, existsSync, appendFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { targetOf, type Finding } from './targets.js';
import type { CaseRecord, TargetName } from './target.js';
import type { WorkerInput, WorkerMessage } from './worker.js';

export interface CampaignOptions {
  targets: TargetName[];
  /** The campaign directory (created, or resumed when it exists). */
  dir: string;
  /** Wall time of this run, s, shared by the targets (in turn when jobs is 1). */
  seconds: number;
  /** Per target: stop once its campaign total reaches this many messages. */
  goals?: Partial<Record<TargetName, number>>;
  /** Seed of a new campaign; a resumed one keeps its own. Default random. */
  seed?: number;
  /** Targets run at once (worker threads). Default 1. */
  jobs?: number;
  /** A step slower than this is a hang, ms. Default 250. */
  budgetMs?: number;
  /** A case without progress for this long is an infinite loop, ms. Default 10000. */
  watchdogMs?: number;
  log?: (line: string) => void;
}

export interface TargetTotals {
  nextIndex: number;
  cases: number;
  messages: number;
  elapsedMs: number;
  tags: string[];
}

interface State {
  version: 1;
  seed: number;
  targets: Partial<Record<TargetName, TargetTotals>>;
}

export interface TargetReport {
  target: TargetName;
  /** This run. */
  cases: number;
  messages: number;
  elapsedMs: number;
  /** The whole campaign so far. */
  total: TargetTotals;
  corpus: number;
  findings: { file: string; kind: Finding["kind"]; error: string; signature: string; repeats: number }[];
}

export interface CampaignReport {
  dir: string;
  seed: number;
  targets: TargetReport[];
}

const freshTotals = (): TargetTotals => ({ nextIndex: 0, cases: 0, messages: 0, elapsedMs: 0, tags: [] });

export async function runCampaign(opts: CampaignOptions): Promise<CampaignReport> {
  const log = opts.log ?? (() => {});
  mkdirSync(join(opts.dir, 'corpus'), { recursive: true });
  mkdirSync(join(opts.dir, 'findings'), { recursive: true });
  const statePath = join(opts.dir, 'state.json');
  const state: State = existsSync(statePath) ? (JSON.parse(readFileSync(statePath, 'utf8')) as State) : { version: 1, seed: opts.seed ?? Math.floor(Math.random() * 2 ** 31), targets: {} };
  const save = () => writeFileSync(statePath, `${JSON.stringify(state, null, 1)}\n`);
  save();
  const jobs = Math.max(1, opts.jobs ?? 1);
  const started = Date.now();
  const end = started + opts.seconds * 1000;
  const queue = [...opts.targets];
  const reports: TargetReport[] = [];
  const worker = async (): Promise<void> => {
    for (let name = queue.shift(); name; name = queue.shift()) {
      // In turn, each target gets an equal share of what is left of the run.
      const share = jobs >= opts.targets.length ? end : Date.now() + (end - Date.now()) / (queue.length + 1);
      reports.push(await runTarget(name, share, state, save, opts, log));
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, opts.targets.length) }, worker));
  reports.sort((a, b) => opts.targets.indexOf(a.target) - opts.targets.indexOf(b.target));
  return { dir: opts.dir, seed: state.seed, targets: reports };
}

async function runTarget(name: TargetName, deadline: number, state: State, save: () => void, opts: CampaignOptions, log: (line: string) => void): Promise<TargetReport> {
  const totals = (state.targets[name] ??= freshTotals());
  const corpusPath = join(opts.dir, 'corpus', `${name}.jsonl`);
  const corpus: { at: number; record: CaseRecord }[] = existsSync(corpusPath)
    ? readFileSync(corpusPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { at: number; record: CaseRecord })
    : targetOf(name).seeds().map((record) => ({ at: -1, record }));
  if (!existsSync(corpusPath)) writeFileSync(corpusPath, corpus.map((e) => `${JSON.stringify(e)}\n`).join(''));
  const goal = opts.goals?.[name] ?? Infinity;
  const report: TargetReport = { target: name, cases: 0, messages: 0, elapsedMs: 0, total: totals, corpus: corpus.length, findings: [] };
  const t0 = Date.now();
  const base = { cases: totals.cases, messages: totals.messages, elapsedMs: totals.elapsedMs };
  const saveFinding = (f: Finding, repeats: number) => {
    const hash = createHash('sha1').update(JSON.stringify(f.record)).digest('hex').slice(0, 10);
    const file = join(opts.dir, 'findings', `${name}-${f.kind}-${hash}.json`);
    writeFileSync(file, `${JSON.stringify(f, null, 1)}\n`);
    const known = report.findings.find((x) => x.signature === f.signature);
    if (known) known.repeats = Math.max(known.repeats, repeats);
    else report.findings.push({ file, kind: f.kind, error: f.error, signature: f.signature, repeats });
    log(`${name}: ${f.kind} at case ${f.index}: ${f.error}\n  replay: node bench/fuzz/run.mjs --replay ${file}`);
  };
  while (Date.now() < deadline && totals.messages < goal) {
    const hb = new SharedArrayBuffer(8);
    const input: WorkerInput = {
      target: name, seed: state.seed, startIndex: totals.nextIndex, goalMessages: goal - totals.messages, deadline, budgetMs: opts.budgetMs ?? 250,
      corpus: corpus.map((e) => e.record), tags: totals.tags, heartbeat: hb,
    };
    const stalled = await new Promise<{ index: number; error?: string } | null>((resolve) => {
      const w = new Worker(new URL('./worker.js', import.meta.url), { workerData: input });
      const beats = new Int32Array(hb);
      let last = -1;
      let lastChange = Date.now();
      const watchdog = setInterval(() => {
        const done = Atomics.load(beats, 1);
        if (done !== last) {
          last = done;
          lastChange = Date.now();
        } else if (Date.now() - lastChange > (opts.watchdogMs ?? 10_000)) {
          clearInterval(watchdog);
          const index = Atomics.load(beats, 0);
          void w.terminate().then(() => resolve({ index }));
        }
      }, 200);
      const apply = (n: { nextIndex: number; cases: number; messages: number }) => {
        totals.nextIndex = n.nextIndex;
        totals.cases = base.cases + report.cases + n.cases;
        totals.messages = base.messages + report.messages + n.messages;
        totals.elapsedMs = base.elapsedMs + (Date.now() - t0);
        save();
      };
      w.on('message', (m: WorkerMessage) => {
        if (m.type === 'progress') apply(m);
        else if (m.type === 'finding') saveFinding(m.finding, m.repeats);
        else if (m.type === 'corpus') {
          corpus.push({ at: m.at, record: m.record });
          totals.tags.push(...m.tags);
          appendFileSync(corpusPath, `${JSON.stringify({ at: m.at, record: m.record })}\n`);
        } else if (m.type === 'done') {
          clearInterval(watchdog);
          apply(m);
          report.cases += m.cases;
          report.messages += m.messages;
          resolve(null);
        }
      });
      // A worker that dies (an uncaught error outside a case's try, out of memory) is a crash of its case.
      w.on('error', (err) => {
        clearInterval(watchdog);
        resolve({ index: Atomics.load(beats, 0), error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
      });
      w.on('exit', (code) => {
        clearInterval(watchdog);
        resolve({ index: Atomics.load(beats, 0), error: `worker exited with code ${code}` });
      });
    });
    if (stalled === null) break;
    // An infinite loop or a dead worker: capture the input by running the case again, step by step.
    const { index, error } = stalled;
    const record = await traceCase(name, state.seed, index, corpus.filter((e) => e.at < index).map((e) => e.record), opts.watchdogMs ?? 10_000);
    const what = error ?? `case ${index} made no progress for ${opts.watchdogMs ?? 10_000} ms`;
    saveFinding({ kind: error ? 'crash' : 'hang', target: name, error: what, signature: `${error ? 'crash' : 'hang'}|${name}|worker`, index, seed: state.seed, record }, 1);
    report.cases = totals.cases - base.cases;
    report.messages = totals.messages - base.messages;
    totals.nextIndex = index + 1;
    save();
  }
  report.cases = totals.cases - base.cases;
  report.messages = totals.messages - base.messages;
  report.elapsedMs = Date.now() - t0;
  totals.elapsedMs = base.elapsedMs + report.elapsedMs;
  report.corpus = corpus.length;
  save();
  const rate = report.messages / Math.max(0.001, report.elapsedMs / 1000);
  const line = `${new Date().toISOString()} ${name}: ${report.cases} cases, ${report.messages} messages in ${(report.elapsedMs / 1000).toFixed(1)} s (${Math.round(rate)}/s); campaign total ${totals.messages} messages, ${totals.cases} cases, ${(totals.elapsedMs / 1000).toFixed(1)} s; corpus ${corpus.length}; findings ${report.findings.length}`;
  appendFileSync(join(opts.dir, 'progress.log'), `${line}\n`);
  log(line);
  return report;
}

/** Runs case `index` in a fresh worker in trace mode; returns the steps it got to. */
async function traceCase(name: TargetName, seed: number, index: number, corpus: CaseRecord[], watchdogMs: number): Promise<CaseRecord> {
  const record: CaseRecord = { target: name, steps: [] };
  const input: WorkerInput = { target: name, seed, startIndex: index, goalMessages: 1, deadline: Infinity, budgetMs: Infinity, corpus, tags: [], heartbeat: new SharedArrayBuffer(8), trace: index };
  await new Promise<void>((resolve) => {
    const w = new Worker(new URL('./worker.js', import.meta.url), { workerData: input });
    const timer = setTimeout(() => void w.terminate().then(() => resolve()), watchdogMs);
    w.on('message', (m: WorkerMessage) => {
      if (m.type === 'trace-config') record.config = m.config;
      else if (m.type === 'trace-step') record.steps.push(m.step);
      else if (m.type === 'done') {
        clearTimeout(timer);
        void w.terminate().then(() => resolve());
      }
    });
    w.on('error', () => resolve());
  });
  return record;
}
