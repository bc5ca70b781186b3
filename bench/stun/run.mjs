#!/usr/bin/env node
/**
 * STUN Binding benchmark: `dari turn` against coturn `turnserver` (see README.md in this folder).
 *
 *   node bench/stun/run.mjs [--rounds 2] [--gens 1,2] [--sockets 8] [--window 16] [--seconds 5] [--warmup 1]
 *
 * Both servers run with the same TURN settings as bench/turn (Binding needs no credentials).
 * For each generator count G in --gens and each round: G generator processes (gen.mjs), each with
 * --sockets sockets × --window outstanding Binding requests (closed loop), against Dari, then
 * coturn (alternating). Binding responses/s, latency p50/p99, server and generator CPU during the
 * measured --seconds. Ratio Dari/coturn of the best rate of each server. Prints tables, the
 * reproduce command and a final `RESULT {json}` line. Every process started is killed on exit.
 */
import { parseArgs } from 'node:util';
import { execSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { startDari, startCoturn, findPort, round, sleep, table, spawnTracked, threadNames, waitQuiet, systemCpu, cpuSplit } from '../turn/common.mjs';

const { values: opt } = parseArgs({
  options: {
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
const command = `node bench/stun/run.mjs --rounds ${opt.rounds} --gens ${opt.gens} --sockets ${opt.sockets} --window ${opt.window} --seconds ${opt.seconds} --warmup ${opt.warmup} --quiet-wait ${opt['quiet-wait']}`;
const GEN = fileURLToPath(new URL('./gen.mjs', import.meta.url));
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
    spawnTracked(process.execPath, [GEN, JSON.stringify({ port, sockets: SOCKETS, window: WINDOW, warmupS: WARMUP, seconds: SECONDS, id })]),
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
  settings: { rounds: ROUNDS, gens: GENS, sockets: SOCKETS, window: WINDOW, seconds: SECONDS, warmup: WARMUP, outstandingPerGenerator: SOCKETS * WINDOW },
  runs: [],
};
let failed = false;
let dari;
let coturn;
try {
  const ports = { dari: await findPort(3478), coturn: await findPort(3479) };
  dari = await startDari({ port: ports.dari, minPort: 20000, maxPort: 24999 });
  coturn = await startCoturn({ port: ports.coturn, minPort: 25000, maxPort: 29999 });
  result.servers = {
    dari: dari.command,
    coturn: coturn.command,
    coturnRelayThreads: coturn.info.generalServers,
    coturnThreads: threadNames(coturn.pid).length,
    coturnNetEngine: coturn.info.netEngine,
  };
  for (const g of GENS) {
    for (let r = 1; r <= ROUNDS; r++) {
      for (const [s, port] of [[dari, ports.dari], [coturn, ports.coturn]]) {
        if (!s.alive()) throw new Error(`${s.name} is not running:\n${s.tail()}`);
        const quiet = await waitQuiet(QUIET_WAIT);
        const bg = quiet.load;
        if (bg > 20) console.error(`    warning: background load ${round(bg, 0)} % of one core before this run (other processes on the machine), after waiting ${round(quiet.waitedS, 0)} s`);
        const x = await run(s, port, g);
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
  await Promise.all([dari?.stop(), coturn?.stop()]);
}

const rows = [];
for (const g of GENS) {
  for (const name of ['dari', 'coturn']) {
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
const bd = best('dari');
const bc = best('coturn');
if (bd && bc) {
  result.best = { dari: { gens: bd.gens, responsesPerS: bd.responsesPerS }, coturn: { gens: bc.gens, responsesPerS: bc.responsesPerS } };
  result.ratio = round(bd.responsesPerS / bc.responsesPerS, 2);
  result.cpuCostRatio = round(bd.serverCpuSPer100k / bc.serverCpuSPer100k, 2);
}

console.log(`\nDari STUN Binding benchmark: ${result.machine.cpus} CPUs (${result.machine.model}), Node ${process.version}, coturn ${result.machine.coturn}`);
if (result.servers) {
  console.log(`dari:   ${result.servers.dari}`);
  console.log(`coturn: ${result.servers.coturn}  (relay threads ${result.servers.coturnRelayThreads}, ${result.servers.coturnThreads} threads, net engine ${result.servers.coturnNetEngine})`);
}
if (rows.length) {
  table(`Binding requests (20-byte, no attributes), closed loop: G generator processes × ${SOCKETS} sockets × ${WINDOW} outstanding; ${SECONDS} s measured after ${WARMUP} s; mean of ${ROUNDS} rounds`, ['', ...rows.map((r) => `${r.server} G=${r.gens}`)], [
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
  if (result.ratio != null) {
    console.log(`\nDari/coturn (best of each): ${fmt(bd.responsesPerS)} (G=${bd.gens}) / ${fmt(bc.responsesPerS)} (G=${bc.gens}) = ${result.ratio} (target >= 1.0); CPU cost ratio ${result.cpuCostRatio}`);
  }
}
console.log(`\nreproduce: ${command}`);
if (result.error) console.log(`ERROR: ${result.error.split('\n')[0]}`);
console.log(`RESULT ${JSON.stringify(result)}`);
process.exit(failed ? 1 : 0);
