#!/usr/bin/env node
/**
 * STUN Binding benchmark: `dari turn` on its native fast path and on its TypeScript path against
 * coturn `turnserver` (see README.md in this folder).
 *
 *   node bench/stun/run.mjs [--servers dari-native,dari-ts,coturn] [--rounds 2] [--gens 1,2]
 *                           [--sockets 8] [--window 16] [--seconds 5] [--warmup 1]
 *
 * The servers run with the same TURN settings as bench/turn (Binding needs no credentials).
 * For each generator count G in --gens and each round: G generator processes (gen.mjs), each with
 * --sockets sockets × --window outstanding Binding requests (closed loop), against each server in
 * turn. Binding responses/s, latency p50/p99, server and generator CPU during the measured
 * --seconds. Ratio of each Dari path to coturn, best rate of each server. Prints tables, the
 * reproduce command and a final `RESULT {json}` line. Every process started is killed on exit.
 */
import { parseArgs } from 'node:util';
import { execSync, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { startDari, startCoturn, findPort, round, sleep, table, spawnTracked, tempDir, threadNames, waitQuiet, systemCpu, cpuSplit } from '../turn/common.mjs';

const { values: opt } = parseArgs({
  options: {
    servers: { type: 'string', default: 'dari-native,dari-ts,coturn' },
    workers: { type: 'string', default: '' }, // dari turn --relay-threads (default: one per core)
    generator: { type: 'string', default: 'c' }, // c (gen.c, built here with cc) or node (gen.mjs)
    rounds: { type: 'string', default: '2' },
    gens: { type: 'string', default: '1,2' }, // generator process counts to run
    sockets: { type: 'string', default: '8' }, // sockets per generator process
    window: { type: 'string', default: '16' }, // outstanding requests per socket
    seconds: { type: 'string', default: '5' }, // measured window per run
    warmup: { type: 'string', default: '1' }, // s before counting
    'quiet-wait': { type: 'string', default: '20' }, // s to wait, before each run, for other load on the machine to stop
  },
});
const ROUNDS = Number(opt.rounds);
const GENS = opt.gens.split(',').map(Number);
const SOCKETS = Number(opt.sockets);
const WINDOW = Number(opt.window);
const SECONDS = Number(opt.seconds);
const WARMUP = Number(opt.warmup);
const QUIET_WAIT = Number(opt['quiet-wait']);
const SERVERS = opt.servers.split(',');
for (const s of SERVERS) if (!['dari-native', 'dari-ts', 'coturn'].includes(s)) throw new Error(`--servers: unknown server ${s} (dari-native, dari-ts, coturn)`);
const DARI_FLAGS = { 'dari-native': ['--fast-path', 'native'], 'dari-ts': ['--fast-path', 'typescript'] };
const RELAY = { 'dari-native': [20000, 23999], 'dari-ts': [24000, 27999], coturn: [28000, 31999] };
const command = `node bench/stun/run.mjs --servers ${opt.servers}${opt.workers ? ` --workers ${opt.workers}` : ''} --generator ${opt.generator} --rounds ${opt.rounds} --gens ${opt.gens} --sockets ${opt.sockets} --window ${opt.window} --seconds ${opt.seconds} --warmup ${opt.warmup} --quiet-wait ${opt['quiet-wait']}`;
const GEN = fileURLToPath(new URL('./gen.mjs', import.meta.url));
if (!['c', 'node'].includes(opt.generator)) throw new Error(`--generator: c or node, not ${opt.generator}`);
/** The C generator (gen.c), built here: a few µs of CPU per request less than gen.mjs, so it is not the limit. */
const GEN_C = opt.generator === 'c' ? (() => {
  const out = join(tempDir('bench-stun-gen-'), 'stun-gen');
  execFileSync('cc', ['-O2', '-o', out, fileURLToPath(new URL('./gen.c', import.meta.url))], { stdio: 'inherit' });
  return out;
})() : undefined;
const CORES = os.cpus().length;
setTimeout(() => {
  console.error('watchdog: benchmark took over 10 min, aborting');
  process.exit(1);
}, 600_000).unref();

const fmt = (x, d = 0) => (x == null || !Number.isFinite(x) ? '-' : round(x, d).toLocaleString('en-US'));
const mean = (xs) => {
  const v = xs.filter((x) => x != null && Number.isFinite(x));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
};

/** One run: G generators against `server` on `port`; server CPU over the measured window. */
async function run(server, port, gens) {
  const children = Array.from({ length: gens }, (_, id) =>
    GEN_C
      ? spawnTracked(GEN_C, [port, SOCKETS, WINDOW, WARMUP, SECONDS, id].map(String))
      : spawnTracked(process.execPath, [GEN, JSON.stringify({ port, sockets: SOCKETS, window: WINDOW, warmupS: WARMUP, seconds: SECONDS, id })]),
  );
  const results = children.map(
    (c) =>
      new Promise((resolve) => {
        let got = null;
        const err = [];
        createInterface({ input: c.stdout }).on('line', (l) => {
          if (l.startsWith('GEN ')) got = JSON.parse(l.slice(4));
        });
        createInterface({ input: c.stderr }).on('line', (l) => err.length < 10 && err.push(l));
        c.done.then((e) => resolve(got ?? { error: `generator exited ${JSON.stringify(e)}: ${err.join(' | ')}` }));
      }),
  );
  await sleep(WARMUP * 1000);
  const c0 = server.cpu();
  const sp0 = cpuSplit(server.pid);
  const s0 = systemCpu();
  const t0 = performance.now();
  await sleep(SECONDS * 1000);
  const cpuS = server.cpu() - c0;
  const sp1 = cpuSplit(server.pid);
  const s1 = systemCpu();
  const wallS = (performance.now() - t0) / 1000;
  const machinePct = (100 * CORES * (s1.busy - s0.busy)) / Math.max(1, s1.total - s0.total);
  const gen = await Promise.all(results);
  const failed = gen.filter((g) => g.error);
  if (failed.length) throw new Error(`${server.name}: ${failed.map((g) => g.error).join('; ')}`);
  const rate = gen.reduce((a, g) => a + g.responsesPerS, 0);
  const received = gen.reduce((a, g) => a + g.received, 0);
  return {
    server: server.name,
    gens,
    responsesPerS: rate,
    sent: gen.reduce((a, g) => a + g.sent, 0),
    received,
    lost: gen.reduce((a, g) => a + g.lost, 0),
    p50Ms: mean(gen.map((g) => g.p50Ms)),
    p99Ms: Math.max(...gen.map((g) => g.p99Ms)),
    serverCpuPct: (100 * cpuS) / wallS,
    serverSysPct: (100 * (sp1.sys - sp0.sys)) / Math.max(1e-9, sp1.sys - sp0.sys + sp1.user - sp0.user),
    serverCpuSPer100k: (cpuS / (rate * wallS)) * 1e5,
    generatorCpuPct: gen.reduce((a, g) => a + g.cpuPct, 0),
    generatorCpuPctEach: gen.map((g) => round(g.cpuPct, 0)),
    machineCpuPct: machinePct,
  };
}

const result = {
  command,
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, coturn: execSync('turnserver --version 2>&1 || true').toString().trim().split('\n').pop() },
  settings: { servers: SERVERS, workers: opt.workers || 'one per core', generator: opt.generator, rounds: ROUNDS, gens: GENS, sockets: SOCKETS, window: WINDOW, seconds: SECONDS, warmup: WARMUP, outstandingPerGenerator: SOCKETS * WINDOW },
  runs: [],
};
let failed = false;
const list = [];
try {
  for (const [i, name] of SERVERS.entries()) {
    const port = await findPort(3478 + 2 * i + (i > 0 ? 10 : 0));
    const opts = { port, minPort: RELAY[name][0], maxPort: RELAY[name][1] };
    const s = name === 'coturn' ? await startCoturn(opts) : await startDari({ ...opts, extra: [...DARI_FLAGS[name], ...(opt.workers ? ['--relay-threads', opt.workers] : [])] });
    s.name = name;
    s.port = port;
    list.push(s);
  }
  result.servers = Object.fromEntries(list.map((s) => [s.name, s.name === 'coturn'
    ? { cmd: s.command, relayThreads: s.info.generalServers, threads: threadNames(s.pid).length, netEngine: s.info.netEngine }
    : { cmd: s.command, workers: s.counts.workers, fastPath: s.counts.fastPath, threads: threadNames(s.pid).length }]));
  for (const g of GENS) {
    for (let r = 1; r <= ROUNDS; r++) {
      for (const s of list) {
        if (!s.alive()) throw new Error(`${s.name} is not running:\n${s.tail()}`);
        const quiet = await waitQuiet(QUIET_WAIT);
        const bg = quiet.load;
        if (bg > 20) console.error(`    warning: background load ${round(bg, 0)} % of one core before this run (other processes on the machine), after waiting ${round(quiet.waitedS, 0)} s`);
        const x = await run(s, s.port, g);
        x.round = r;
        x.backgroundCpuPct = bg;
        result.runs.push(x);
        console.error(`[${new Date().toISOString().slice(11, 19)}] ${s.name} G=${g} round ${r}: ${fmt(x.responsesPerS)} responses/s, server CPU ${fmt(x.serverCpuPct)} %, generators ${fmt(x.generatorCpuPct)} % CPU, p50 ${fmt(x.p50Ms, 2)} ms, lost ${x.lost}`);
        await sleep(500);
      }
    }
  }
} catch (err) {
  failed = true;
  result.error = String(err?.stack ?? err);
  console.error(err);
} finally {
  await Promise.all(list.map((s) => s.stop()));
}

const rows = [];
for (const g of GENS) {
  for (const name of SERVERS) {
    const rs = result.runs.filter((x) => x.server === name && x.gens === g);
    if (!rs.length) continue;
    rows.push({
      server: name,
      gens: g,
      responsesPerS: round(mean(rs.map((x) => x.responsesPerS)), 0),
      eachRound: rs.map((x) => round(x.responsesPerS, 0)),
      p50Ms: round(mean(rs.map((x) => x.p50Ms)), 3),
      p99Ms: round(mean(rs.map((x) => x.p99Ms)), 3),
      lost: rs.reduce((a, x) => a + x.lost, 0),
      serverCpuPct: round(mean(rs.map((x) => x.serverCpuPct)), 0),
      serverSysPct: round(mean(rs.map((x) => x.serverSysPct)), 0),
      serverCpuSPer100k: round(mean(rs.map((x) => x.serverCpuSPer100k)), 3),
      generatorCpuPct: round(mean(rs.map((x) => x.generatorCpuPct)), 0),
      machineCpuPct: round(mean(rs.map((x) => x.machineCpuPct)), 0),
      backgroundCpuPctMax: round(Math.max(...rs.map((x) => x.backgroundCpuPct)), 0),
    });
  }
}
result.summary = rows;
const best = (name) => rows.filter((r) => r.server === name).sort((a, b) => b.responsesPerS - a.responsesPerS)[0];
const bc = best('coturn');
result.best = {};
result.ratios = {};
for (const name of SERVERS) {
  const b = best(name);
  if (b) result.best[name] = { gens: b.gens, responsesPerS: b.responsesPerS, serverCpuSPer100k: b.serverCpuSPer100k };
  if (b && bc && name !== 'coturn') result.ratios[name] = { rate: round(b.responsesPerS / bc.responsesPerS, 2), cpuPerResponse: round(b.serverCpuSPer100k / bc.serverCpuSPer100k, 2) };
}

console.log(`\nDari STUN Binding benchmark: ${result.machine.cpus} CPUs (${result.machine.model}), Node ${process.version}, coturn ${result.machine.coturn}`);
for (const [name, x] of Object.entries(result.servers ?? {})) {
  console.log(`${name}: ${x.cmd}`);
  console.log(name === 'coturn' ? `        relay threads ${x.relayThreads}, ${x.threads} threads, net engine ${x.netEngine}` : `        ${x.workers} workers on the ${x.fastPath} path, ${x.threads} threads`);
}
if (rows.length) {
  table(`Binding requests (20-byte, no attributes), closed loop: G generator processes (${opt.generator === 'c' ? 'gen.c' : 'gen.mjs'}) × ${SOCKETS} sockets × ${WINDOW} outstanding; ${SECONDS} s measured after ${WARMUP} s; mean of ${ROUNDS} rounds`, ['', ...rows.map((r) => `${r.server} G=${r.gens}`)], [
    ['responses/s', ...rows.map((r) => fmt(r.responsesPerS))],
    ['  each round', ...rows.map((r) => r.eachRound.map((x) => fmt(x)).join(' / '))],
    ['latency p50 / p99 ms', ...rows.map((r) => `${fmt(r.p50Ms, 2)} / ${fmt(r.p99Ms, 2)}`)],
    ['lost (1 s timeout)', ...rows.map((r) => r.lost)],
    ['server CPU % of one core', ...rows.map((r) => fmt(r.serverCpuPct))],
    ['  of which kernel (stime) %', ...rows.map((r) => fmt(r.serverSysPct))],
    ['server CPU-s / 100k responses', ...rows.map((r) => fmt(r.serverCpuSPer100k, 3))],
    ['generator CPU % (all G)', ...rows.map((r) => fmt(r.generatorCpuPct))],
    [`machine CPU % (of ${CORES * 100})`, ...rows.map((r) => fmt(r.machineCpuPct))],
    ['background load % before (max)', ...rows.map((r) => fmt(r.backgroundCpuPctMax))],
  ]);
  for (const [name, r] of Object.entries(result.ratios)) {
    const b = result.best[name];
    console.log(`${name}/coturn (best of each): ${fmt(b.responsesPerS)} (G=${b.gens}) / ${fmt(bc.responsesPerS)} (G=${bc.gens}) = ${r.rate} (target >= 1.0); CPU per response ratio ${r.cpuPerResponse}`);
  }
}
console.log(`\nreproduce: ${command}`);
if (result.error) console.log(`ERROR: ${result.error.split('\n')[0]}`);
console.log(`RESULT ${JSON.stringify(result)}`);
process.exit(failed ? 1 : 0);
