#!/usr/bin/env node
/**
 * The fuzz campaign (see README.md in this folder): the STUN/TURN codec, the sans-I/O TURN
 * server and the signaling core, resumable and bounded in time and count.
 *
 *   node bench/fuzz/run.mjs [--target stun,turn,signaling|all] [--seconds 60] [--count N | --count stun=N,turn=N]
 *                           [--dir DIR | --resume DIR] [--seed N] [--jobs 1] [--budget-ms 250] [--watchdog-ms 10000]
 *   node bench/fuzz/run.mjs --replay FILE|DIR      re-run saved findings or regression cases
 *   node bench/fuzz/run.mjs --minimize FILE [--out FILE --why TEXT --fix TEXT]   shrink a finding into a regression case
 *
 * Needs the build (`npx tsc -b packages/fuzz`, or `npm run build`). Prints per target the cases,
 * messages, time, rate and findings of this run and of the whole campaign, the command to resume
 * and to replay each finding, and a last line `RESULT {json}`. Exits 1 when there are findings.
 */
import { parseArgs } from 'node:util';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const { values: opt } = parseArgs({
  options: {
    target: { type: 'string', default: 'all' },
    seconds: { type: 'string', default: '60' },
    count: { type: 'string' },
    dir: { type: 'string' },
    resume: { type: 'string' },
    seed: { type: 'string' },
    jobs: { type: 'string', default: '1' },
    'budget-ms': { type: 'string', default: '250' },
    'watchdog-ms': { type: 'string', default: '10000' },
    replay: { type: 'string' },
    minimize: { type: 'string' },
    out: { type: 'string' },
    why: { type: 'string' },
    fix: { type: 'string' },
  },
});

const dist = new URL('../../packages/fuzz/dist/src/index.js', import.meta.url);
if (!existsSync(dist)) {
  console.error('bench/fuzz: build first: npx tsc -b packages/fuzz (or npm run build)');
  process.exit(2);
}
const { runCampaign, targetOf, describeError, minimize, failureOf, TARGET_NAMES } = await import(dist.href);

if (opt.replay) process.exit(await replay(resolve(opt.replay)));
if (opt.minimize) process.exit(await shrink(resolve(opt.minimize)));

const targets = opt.target === 'all' ? [...TARGET_NAMES] : opt.target.split(',');
for (const t of targets) if (!TARGET_NAMES.includes(t)) fail(`--target: unknown target ${t}; use ${TARGET_NAMES.join(', ')} or all`);
if (opt.resume && !existsSync(join(opt.resume, 'state.json'))) fail(`--resume: no campaign in ${opt.resume} (state.json missing); start one with --dir`);
const dir = resolve(opt.resume ?? opt.dir ?? join('.bench-out', 'fuzz'));
const seconds = Number(opt.seconds);
if (!(seconds > 0)) fail('--seconds must be a positive number');
const goals = {};
if (opt.count) {
  for (const part of opt.count.split(',')) {
    const [k, v] = part.includes('=') ? part.split('=') : [null, part];
    const n = Number(v.replace(/_/g, ''));
    if (!(n > 0)) fail(`--count: bad number ${v}`);
    for (const t of k ? [k] : targets) goals[t] = n;
  }
}
const command = ['node bench/fuzz/run.mjs', `--target ${targets.join(',')}`, `--seconds ${seconds}`, ...(opt.count ? [`--count ${opt.count}`] : []), `--jobs ${opt.jobs}`].join(' ');
console.log(`fuzz campaign in ${dir}: ${targets.join(', ')}, ${seconds} s${opt.count ? `, goal ${opt.count} messages` : ''}`);
const started = Date.now();
const report = await runCampaign({
  targets, dir, seconds, goals, jobs: Number(opt.jobs), budgetMs: Number(opt['budget-ms']), watchdogMs: Number(opt['watchdog-ms']),
  ...(opt.seed ? { seed: Number(opt.seed) } : {}),
  log: (line) => console.log(line),
});

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const rows = [['target', 'cases', 'messages', 'time s', 'msg/s', 'findings', '|', 'total cases', 'total messages', 'total s', 'corpus']];
let findings = 0;
for (const r of report.targets) {
  findings += r.findings.length;
  rows.push([r.target, fmt(r.cases), fmt(r.messages), (r.elapsedMs / 1000).toFixed(1), fmt(r.messages / Math.max(0.001, r.elapsedMs / 1000)), String(r.findings.length), '|', fmt(r.total.cases), fmt(r.total.messages), (r.total.elapsedMs / 1000).toFixed(1), String(r.corpus)]);
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
console.log('');
for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
const stunTurn = report.targets.filter((r) => r.target !== 'signaling').reduce((n, r) => n + r.total.messages, 0);
console.log(`\nSTUN/TURN messages in the campaign so far: ${fmt(stunTurn)}; seed ${report.seed}; this run ${((Date.now() - started) / 1000).toFixed(1)} s`);
for (const r of report.targets) for (const f of r.findings) console.log(`${r.target} ${f.kind}${f.repeats > 1 ? ` (×${f.repeats})` : ''}: ${f.error}\n  replay: node bench/fuzz/run.mjs --replay ${f.file}`);
console.log(`reproduce: ${command} --dir <new dir> --seed ${report.seed}`);
console.log(`resume:    ${command} --resume ${dir}`);
console.log(`RESULT ${JSON.stringify({ dir, seed: report.seed, targets: report.targets.map((r) => ({ target: r.target, cases: r.cases, messages: r.messages, elapsedMs: r.elapsedMs, findings: r.findings, total: { cases: r.total.cases, messages: r.total.messages, elapsedMs: r.total.elapsedMs }, corpus: r.corpus })) })}`);
process.exit(findings > 0 ? 1 : 0);

/** Replays finding or regression files (a file, or every .json in a directory). */
async function replay(path) {
  const { gunzipSync } = await import('node:zlib');
  const files = statSync(path).isDirectory() ? readdirSync(path).filter((f) => /\.json(\.gz)?$/.test(f)).map((f) => join(path, f)) : [path];
  let failed = 0;
  for (const file of files) {
    const saved = JSON.parse(file.endsWith('.gz') ? gunzipSync(readFileSync(file)).toString('utf8') : readFileSync(file, 'utf8'));
    const record = saved.record ?? saved;
    const t0 = performance.now();
    try {
      const out = await targetOf(record.target).replay(record);
      if (out.slowestStepMs > Number(opt['budget-ms'])) throw new Error(`hang: a step took ${out.slowestStepMs.toFixed(0)} ms (budget ${opt['budget-ms']} ms)`);
      console.log(`ok    ${file}: ${out.messages} messages, slowest step ${out.slowestStepMs.toFixed(1)} ms, ${(performance.now() - t0).toFixed(0)} ms`);
    } catch (err) {
      failed++;
      const d = describeError(err);
      console.log(`FAIL  ${file}: ${d.kind}: ${d.error}\n${d.stack ?? ''}`);
    }
  }
  return failed > 0 ? 1 : 0;
}

/** Shrinks a finding (steps dropped while it fails alike) and writes it as a regression case. */
async function shrink(path) {
  const { writeFileSync } = await import('node:fs');
  const saved = JSON.parse(readFileSync(path, 'utf8'));
  const record = saved.record ?? saved;
  const before = await failureOf(record);
  if (!before) {
    console.log(`${path} passes: nothing to minimize`);
    return 1;
  }
  const small = await minimize(record);
  const out = { why: opt.why ?? saved.error ?? before, fix: opt.fix ?? '', found: { seed: saved.seed, index: saved.index, error: saved.error }, record: small };
  const text = `${JSON.stringify(out, null, 1)}\n`;
  if (opt.out) writeFileSync(opt.out, text);
  console.log(`${record.steps.length} steps → ${small.steps.length}, failing with ${before}${opt.out ? `; written to ${opt.out}` : `\n${text}`}`);
  return 0;
}

function fail(message) {
  console.error(`bench/fuzz: ${message}`);
  process.exit(2);
}
