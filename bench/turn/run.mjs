#!/usr/bin/env node
/**
 * TURN relay benchmark: `dari turn` on its native fast path and on its TypeScript path, against
 * coturn `turnserver` (see README.md in this folder).
 *
 *   node bench/turn/run.mjs [--servers dari-native,dari-ts,coturn] [--clients 10,100] [--rounds 2]
 *                           [--z 0,1] [--n 150000,12000] [--allocations 10000] [--profile] [--perf]
 *
 * 1. Relay throughput: the same turnutils_uclient load (ChannelData, 170-byte messages,
 *    turnutils_peer echoing) against each server, in turn (native, TypeScript, coturn, native, …)
 *    for each client count. Per run: steady relayed rate, loss, RTT, jitter, server CPU-s per
 *    100,000 relayed packets. Ratios of each Dari path to coturn.
 * 2. Memory: a fresh server, 10,000 live allocations made by our own client (allocations.mjs);
 *    VmRSS before and with them, per allocation. Each server in turn.
 * 3. --profile: one more Dari run (last client count) under `node --cpu-prof`; top functions by self time.
 * Prints tables, the reproduce command and a final `RESULT {json}` line. Every process started is
 * killed on exit (also on error and Ctrl-C); every phase is bounded; only 127.0.0.1 is used.
 */
import { parseArgs } from 'node:util';
import { execSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import { startDari, startCoturn, startPeer, findPort, round, sleep, table, threadNames, fdCount, tempDir, waitQuiet, spawnTracked, ROOT } from './common.mjs';
import { runUclient } from './uclient.mjs';

const { values: opt } = parseArgs({
  options: {
    servers: { type: 'string', default: 'dari-native,dari-ts,coturn' }, // which servers, in this order
    workers: { type: 'string', default: '' }, // dari turn --relay-threads (default: one per core)
    clients: { type: 'string', default: '10,100' }, // uclient -m (one allocation each, -c)
    z: { type: 'string', default: '0,1' }, // uclient -z per client count (ms between packets per client)
    n: { type: 'string', default: '150000,12000' }, // uclient -n per client count (messages per client)
    rounds: { type: 'string', default: '2' }, // A B repetitions per client count
    length: { type: 'string', default: '170' }, // uclient -l, bytes
    procs: { type: 'string', default: '1' }, // uclient processes sharing the clients
    allocations: { type: 'string', default: '10000' }, // memory phase, per server; 0 = skip
    'quiet-wait': { type: 'string', default: '20' }, // s to wait, before each run, for other load on the machine to stop
    profile: { type: 'boolean', default: false }, // extra Dari run under --cpu-prof (last client count)
    perf: { type: 'boolean', default: false }, // extra Dari and coturn runs under `perf record` (last client count)
  },
});
const list = (k) => opt[k].split(',').map(Number);
const clientCounts = list('clients');
const zs = list('z');
const ns = list('n');
const at = (arr, i) => arr[Math.min(i, arr.length - 1)];
const ROUNDS = Number(opt.rounds);
const LENGTH = Number(opt.length);
const PROCS = Number(opt.procs);
const ALLOCS = Number(opt.allocations);
const SERVERS = opt.servers.split(',');
for (const s of SERVERS) if (!['dari-native', 'dari-ts', 'coturn'].includes(s)) throw new Error(`--servers: unknown server ${s} (dari-native, dari-ts, coturn)`);
const DARI_FLAGS = { 'dari-native': ['--fast-path', 'native'], 'dari-ts': ['--fast-path', 'typescript'] };
const WORKER_FLAGS = opt.workers ? ['--relay-threads', opt.workers] : [];
const QUIET_WAIT = Number(opt['quiet-wait']);
const command = `node bench/turn/run.mjs --servers ${opt.servers}${opt.workers ? ` --workers ${opt.workers}` : ''} --clients ${opt.clients} --z ${opt.z} --n ${opt.n} --rounds ${opt.rounds} --length ${opt.length} --procs ${opt.procs} --allocations ${opt.allocations} --quiet-wait ${opt['quiet-wait']}${opt.profile ? ' --profile' : ''}${opt.perf ? ' --perf' : ''}`;

for (const bin of ['turnserver', 'turnutils_uclient', 'turnutils_peer', ...(opt.perf ? ['perf'] : [])]) {
  if (spawnSync('bash', ['-c', `command -v ${bin}`]).status !== 0) throw new Error(`${bin} not found (Debian package coturn)`);
}
if (!existsSync(join(ROOT, 'packages/server/dist/src/cli.js')) || !existsSync(join(ROOT, 'packages/stun/dist/src/index.js'))) {
  throw new Error('build first: npx tsc -b packages/server');
}

// 10,000 allocations need 10,000 client sockets here and 10,000 relay sockets in the server:
// raise the soft fd limit to the hard one by re-running under `ulimit -Sn` (servers get it too).
const [softFd, hardFd] = execSync('ulimit -Sn; ulimit -Hn', { shell: '/bin/bash' }).toString().split('\n').map(Number);
const needFd = ALLOCS + 1000;
if (hardFd < needFd) throw new Error(`${ALLOCS} allocations need ${needFd} file descriptors; the hard limit is ${hardFd}`);
if (softFd < needFd) {
  const r = spawnSync('bash', ['-c', 'ulimit -Sn "$(ulimit -Hn)" && exec "$0" "$@"', process.execPath, ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
const FD_LIMIT = hardFd;
setTimeout(() => {
  console.error('watchdog: benchmark took over 25 min, aborting');
  process.exit(1);
}, 1_500_000).unref();

// Relay port ranges: disjoint, below the ephemeral range (32768–60999 here) used by client sockets.
const RELAY = { 'dari-native': [20000, 23999], 'dari-ts': [24000, 27999], coturn: [28000, 31999] };
const MEM_RELAY = [20000, 31999]; // one server at a time in the memory phase
const MiB = 1024 * 1024;

const fmt = (x, d = 1) => (x == null || !Number.isFinite(x) ? '-' : round(x, d).toLocaleString('en-US'));
const mean = (xs) => {
  const v = xs.filter((x) => x != null && Number.isFinite(x));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
};
const rateOf = (r) => r.steady?.echoesPerS ?? r.echoesPerSActive;

/** Starts one of the servers under test. */
function startServer(name, { port, minPort, maxPort, nodeFlags = [], extra = [] }) {
  if (name === 'coturn') return startCoturn({ port, minPort, maxPort, extra, ulimitN: FD_LIMIT });
  return startDari({ port, minPort, maxPort, nodeFlags, ulimitN: FD_LIMIT, extra: [...DARI_FLAGS[name], ...WORKER_FLAGS, ...extra] });
}

// ------------------------------------------------------------------ 1. relay throughput

const allRuns = [];
let serverInfo = null;

async function throughput() {
  const peerPort = await findPort(3480);
  const peer = await startPeer(peerPort);
  const list = [];
  const servers = { peer: `turnutils_peer -L 127.0.0.1 -p ${peerPort}` };
  serverInfo = servers;
  const runs = allRuns; // module-level, so runs done before an error are still reported
  try {
    for (const [i, name] of SERVERS.entries()) {
      const port = await findPort(3478 + 2 * i + (i > 0 ? 10 : 0));
      const s = await startServer(name, { port, minPort: RELAY[name][0], maxPort: RELAY[name][1] });
      s.name = name;
      s.port = port;
      list.push(s);
      servers[name] = { cmd: s.command, pid: s.pid, threads: s.memory().threads, threadNames: threadNames(s.pid) };
      if (name === 'coturn') Object.assign(servers.coturn, { relayThreads: s.info.generalServers, netEngine: s.info.netEngine });
      else Object.assign(servers[name], { workers: s.counts.workers, fastPath: s.counts.fastPath });
    }
    const idle = await idleCpu(list, 2000);
    list.forEach((s, i) => (servers[s.name].idleCpuPct = idle[i]));
    for (let i = 0; i < clientCounts.length; i++) {
      const clients = clientCounts[i];
      const z = at(zs, i);
      const n = at(ns, i);
      for (let round_ = 1; round_ <= ROUNDS; round_++) {
        for (const s of list) {
          console.error(`[${new Date().toISOString().slice(11, 19)}] ${s.name}: ${clients} clients, -z ${z}, -n ${n}, round ${round_}/${ROUNDS} ...`);
          if (!s.alive()) throw new Error(`${s.name} is not running:\n${s.tail()}`);
          const quiet = await waitQuiet(QUIET_WAIT);
          const bg = quiet.load;
          if (bg > 20) console.error(`    warning: background load ${round(bg, 0)} % of one core before this run (other processes on the machine), after waiting ${round(quiet.waitedS, 0)} s`);
          const r = await runUclient(s, { serverName: s.name, port: s.port, peerPort, clients, n, z, length: LENGTH, procs: PROCS, peerPid: peer.pid, timeoutMs: 150_000 });
          r.round = round_;
          r.backgroundCpuPct = bg;
          r.serverAlive = s.alive();
          runs.push(r);
          console.error(`    steady ${fmt(r.steady?.echoesPerS, 0)} echoes/s (offered ${fmt(r.steady?.sentPerS, 0)}/s), active-window ${fmt(r.echoesPerSActive, 0)}/s, loss ${fmt(r.lossPct, 2)} %, RTT ${fmt(r.rttMs, 2)} ms, server CPU ${fmt(r.serverCpuS, 2)} s, wall ${fmt(r.wallS)} s`);
          if (!r.ok) console.error(`    uclient problems: ${JSON.stringify(r.failures)}`);
          if (!s.alive()) throw new Error(`${s.name} died during the run:\n${s.tail()}`);
          await sleep(1500);
        }
      }
    }
  } finally {
    for (const s of list) {
      if (s.name === 'coturn') servers.coturn.errors = s.info.errors.slice(0, 5);
      else {
        servers[s.name].warnings = s.counts.warnings.slice(0, 5);
        servers[s.name].allocationsLogged = { created: s.counts.created, deleted: s.counts.deleted };
      }
    }
    await Promise.all([...list.map((s) => s.stop()), peer.stop()]);
  }
  return { servers, runs };
}

/** CPU % of one core each server uses while idle (coturn's relay threads, Dari's timers). */
async function idleCpu(list, ms) {
  const a = list.map((s) => s.cpu());
  await sleep(ms);
  return list.map((s, i) => round((100 * (s.cpu() - a[i])) / (ms / 1000), 1));
}

// ------------------------------------------------------------------ 2. memory

async function memoryPhase(kind, count) {
  const { createAllocations } = await import('./allocations.mjs');
  const port = await findPort(3490);
  const s = await startServer(kind, { port, minPort: MEM_RELAY[0], maxPort: MEM_RELAY[1], extra: kind === 'coturn' ? ['--user-quota', '0', '--total-quota', '0'] : [] });
  let res;
  try {
    await sleep(2000);
    const before = s.memory();
    const cpu0 = s.cpu();
    console.error(`[${new Date().toISOString().slice(11, 19)}] ${kind}: creating ${count} allocations ...`);
    res = await createAllocations({ port, count, user: 'alice', password: 'secret', window: 200, deadlineMs: 120_000 });
    await sleep(3000); // let the server settle (logging, GC) before reading RSS
    const withAllocs = s.memory();
    const out = {
      server: kind,
      requested: count,
      allocated: res.ok,
      failed: res.failed,
      errors: res.errors,
      seconds: round(res.seconds, 2),
      allocationsPerS: round(res.ok / res.seconds, 0),
      serverCpuS: round(s.cpu() - cpu0, 2),
      rssBeforeMiB: round(before.rssBytes / MiB, 1),
      rssWithMiB: round(withAllocs.rssBytes / MiB, 1),
      hwmMiB: round(withAllocs.hwmBytes / MiB, 1),
      perAllocationKiB: res.ok ? round((withAllocs.rssBytes - before.rssBytes) / res.ok / 1024, 2) : null,
      serverFds: fdCount(s.pid),
      threads: withAllocs.threads,
      command: s.command,
    };
    if (kind === 'coturn') out.relayThreads = s.info.generalServers;
    console.error(`    ${res.ok}/${count} in ${fmt(res.seconds, 2)} s; RSS ${out.rssBeforeMiB} → ${out.rssWithMiB} MiB (${out.perAllocationKiB} KiB/allocation)`);
    return out;
  } finally {
    await res?.close();
    await s.stop();
  }
}

// ------------------------------------------------------------------ 3. profile

async function profileDari() {
  const dir = tempDir('bench-dari-prof-');
  const i = clientCounts.length - 1;
  const clients = clientCounts[i];
  const n = at(ns, i);
  const z = at(zs, i);
  const ports = { dari: await findPort(3478), peer: await findPort(3480) };
  const peer = await startPeer(ports.peer);
  // The TypeScript path: on the native one the datagrams never reach JavaScript. One worker, so
  // the profile is the main thread's (--cpu-prof profiles the main thread only).
  const dari = await startDari({ port: ports.dari, minPort: RELAY['dari-ts'][0], maxPort: RELAY['dari-ts'][1], ulimitN: FD_LIMIT, nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${dir}`], extra: ['--fast-path', 'typescript', '--relay-threads', '0'] });
  let r;
  try {
    console.error(`[${new Date().toISOString().slice(11, 19)}] profile: dari under --cpu-prof, ${clients} clients, -z ${z}, -n ${n} ...`);
    r = await runUclient(dari, { serverName: 'dari-ts', port: ports.dari, peerPort: ports.peer, clients, n, z, length: LENGTH, procs: PROCS, peerPid: peer.pid, timeoutMs: 150_000 });
  } finally {
    await dari.stop(); // SIGTERM: dari shuts down cleanly and node writes the profile
    await peer.stop();
  }
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) return { error: 'no .cpuprofile written' };
  return { clients, n, z, echoesPerS: round(rateOf(r), 0), lossPct: round(r.lossPct, 2), ...summarizeProfile(JSON.parse(readFileSync(join(dir, file), 'utf8'))) };
}

/** Self time per function (and per file) from a V8 .cpuprofile. */
function summarizeProfile(p) {
  const byId = new Map(p.nodes.map((nd) => [nd.id, nd]));
  const self = new Map();
  const dt = p.timeDeltas;
  for (let k = 0; k < p.samples.length; k++) self.set(p.samples[k], (self.get(p.samples[k]) ?? 0) + (dt[k + 1] ?? dt[k] ?? 0));
  const fn = new Map();
  const file = new Map();
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const cf = byId.get(id).callFrame;
    if (cf.functionName === '(idle)') {
      idle += us;
      continue;
    }
    const url = cf.url.replace(/^file:\/\//, '').replace(ROOT, '');
    const name = `${cf.functionName || '(anonymous)'} ${url ? `${url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}` : ''}`.trim();
    fn.set(name, (fn.get(name) ?? 0) + us);
    const f = url ? (url.startsWith('node:') ? url : url.split('/').slice(-3).join('/')) : cf.functionName;
    file.set(f, (file.get(f) ?? 0) + us);
    total += us;
  }
  const top = (m, k) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, us]) => ({ name, pct: round((100 * us) / total, 1) }));
  // Percentages are of busy (non-idle) time of the main thread.
  return { sampledS: round((total + idle) / 1e6, 2), busyS: round(total / 1e6, 2), topFunctions: top(fn, 25), topFiles: top(file, 15) };
}

// ------------------------------------------------------------------ 4. perf

/**
 * One run per server (last client count) with `perf record -g` (cpu-clock, 999 Hz) attached to
 * the server for up to 6 s of the steady window; samples split by binary (kernel, node, libc,
 * JIT-compiled JS, turnserver) and the top symbols. Shows where the CPU goes below JavaScript.
 */
async function perfPhase(kind) {
  const dir = tempDir('bench-perf-');
  const i = clientCounts.length - 1;
  const clients = clientCounts[i];
  const n = at(ns, i);
  const z = at(zs, i);
  const ports = { server: await findPort(3478), peer: await findPort(3480) };
  const peer = await startPeer(ports.peer);
  const opts = { port: ports.server, ulimitN: FD_LIMIT };
  const s = await startServer(kind, { port: opts.port, minPort: RELAY[kind][0], maxPort: RELAY[kind][1], nodeFlags: kind === 'coturn' ? [] : ['--perf-basic-prof-only-functions'] });
  const file = join(dir, 'perf.data');
  const seconds = Math.max(2, Math.min(6, (n * Math.max(z, 0.1)) / 1000 - 6));
  let perf = null;
  let r;
  try {
    await waitQuiet(QUIET_WAIT);
    console.error(`[${new Date().toISOString().slice(11, 19)}] perf: ${kind}, ${clients} clients, -z ${z}, -n ${n}, perf record for ${seconds} s of the steady window ...`);
    r = await runUclient(s, {
      serverName: kind, port: ports.server, peerPort: ports.peer, clients, n, z, length: LENGTH, procs: PROCS, peerPid: peer.pid, timeoutMs: 150_000,
      onSteady: () => (perf = spawnTracked('perf', ['record', '-q', '-o', file, '-F', '999', '-g', '-p', String(s.pid), '--', 'sleep', String(seconds)])),
    });
    await perf?.done;
  } finally {
    await perf?.stop();
    await s.stop();
    await peer.stop();
  }
  if (!perf || !existsSync(file)) return { server: kind, error: 'perf record did not run' };
  const report = (sort) => {
    const out = spawnSync('perf', ['report', '-i', file, '--stdio', '--no-children', '--sort', sort], { timeout: 120_000, maxBuffer: 64 * 1024 * 1024 }).stdout?.toString() ?? '';
    return out.split('\n').map((l) => /^\s+([\d.]+)%\s+(.*\S)\s*$/.exec(l)).filter(Boolean).map((m) => ({ pct: Number(m[1]), name: m[2] }));
  };
  const byDso = report('dso').slice(0, 8).map((x) => ({ name: x.name.replace(/\[JIT\] tid \d+/, '[JIT] (JavaScript)'), pct: x.pct }));
  return { server: kind, clients, n, z, seconds, echoesPerS: round(rateOf(r), 0), lossPct: round(r.lossPct, 2), byDso, topSymbols: report('sym').slice(0, 20) };
}

// ------------------------------------------------------------------ main

const result = {
  command,
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, coturn: execSync('turnserver --version 2>&1 || true').toString().trim().split('\n').pop(), fdLimit: FD_LIMIT },
  settings: { servers: SERVERS, workers: opt.workers || 'one per core', clients: clientCounts, z: zs, n: ns, rounds: ROUNDS, length: LENGTH, procs: PROCS, relayPorts: RELAY },
};
let failed = false;
try {
  await throughput();
  result.memory = [];
  if (ALLOCS > 0) for (const name of SERVERS) result.memory.push(await memoryPhase(name, ALLOCS));
  if (opt.profile) result.profile = await profileDari();
  if (opt.perf) {
    result.perf = [];
    for (const name of SERVERS) result.perf.push(await perfPhase(name));
  }
} catch (err) {
  failed = true;
  result.error = String(err?.stack ?? err);
  console.error(err);
}
result.servers = serverInfo;
result.runs = allRuns;

// ------------------------------------------------------------------ report

const runs = result.runs ?? [];
const summary = [];
for (let i = 0; i < clientCounts.length; i++) {
  const row = { clients: clientCounts[i], z: at(zs, i), n: at(ns, i) };
  for (const name of SERVERS) {
    const rs = runs.filter((r) => r.server === name && r.clients === clientCounts[i]);
    if (!rs.length) continue;
    row[name] = {
      rounds: rs.length,
      echoesPerS: round(mean(rs.map(rateOf)), 0),
      echoesPerSEachRound: rs.map((r) => round(rateOf(r), 0)),
      relayedPacketsPerS: round(2 * mean(rs.map(rateOf)), 0),
      offeredPerS: round(mean(rs.map((r) => r.steady?.sentPerS)), 0),
      activeWindowEchoesPerS: round(mean(rs.map((r) => r.echoesPerSActive)), 0),
      lossPct: round(mean(rs.map((r) => r.lossPct)), 2),
      rttMs: round(mean(rs.map((r) => r.rttMs)), 2),
      jitterMs: round(mean(rs.map((r) => r.jitterMs)), 2),
      serverCpuSPer100kPackets: round(mean(rs.map((r) => r.serverCpuSPer100kPackets)), 3),
      serverCpuPct: round(mean(rs.map((r) => r.serverCpuPctActive)), 0),
      serverCpuPctSteady: round(mean(rs.map((r) => r.steady?.serverCpuPct)), 0),
      serverSysPct: round(mean(rs.map((r) => (100 * r.serverSysS) / (r.serverUserS + r.serverSysS))), 0),
      uclientCpuPct: round(mean(rs.map((r) => (100 * r.uclientCpuS) / r.activeS)), 0),
      peerCpuPct: round(mean(rs.map((r) => (100 * r.peerCpuS) / r.activeS)), 0),
      rcvbufErrors: round(mean(rs.map((r) => r.rcvbufErrors)), 0),
      serverSocketDrops: round(mean(rs.map((r) => r.serverListenerDrops)), 0),
      sentPerRun: rs[0].sent,
      wallS: round(mean(rs.map((r) => r.wallS)), 1),
      uclientOk: rs.every((r) => r.ok),
      backgroundCpuPctMax: round(Math.max(...rs.map((r) => r.backgroundCpuPct)), 0),
      machineCpuPct: round(mean(rs.map((r) => (100 * r.machineCpuS) / r.wallS)), 0),
    };
  }
  row.ratios = {};
  for (const name of ['dari-native', 'dari-ts']) {
    if (!row[name] || !row.coturn) continue;
    row.ratios[name] = {
      rate: round(row[name].echoesPerS / row.coturn.echoesPerS, 2),
      cpuPerPacket: round(row[name].serverCpuSPer100kPackets / row.coturn.serverCpuSPer100kPackets, 2),
    };
  }
  summary.push(row);
}
result.summary = summary;

console.log(`\nDari TURN relay benchmark: ${result.machine.cpus} CPUs (${result.machine.model}), Node ${process.version}, ${result.machine.coturn}`);
if (result.servers) {
  for (const name of SERVERS) {
    const x = result.servers[name];
    if (!x) continue;
    console.log(`${name}: ${x.cmd}`);
    if (name === 'coturn') console.log(`        relay threads ("Total General servers"): ${x.relayThreads}; net engine ${x.netEngine}; ${x.threads} threads [${x.threadNames.join(', ')}]; idle CPU ${x.idleCpuPct} %`);
    else console.log(`        ${x.workers} workers on the ${x.fastPath} path (from its ready line); ${x.threads} threads; idle CPU ${x.idleCpuPct} %`);
  }
  console.log(`peer: ${result.servers.peer}`);
}
if (summary.length && runs.length) {
  const cols = summary.flatMap((r) => SERVERS.filter((k) => r[k]).map((k) => [r, k]));
  const v = (f) => cols.map(([r, k]) => f(r[k], r));
  table(`Relay throughput (ChannelData, ${LENGTH}-byte messages, echoed by turnutils_peer; mean of ${ROUNDS} rounds, servers in turn)`, ['', ...cols.map(([r, k]) => `${k} m=${r.clients}`)], [
    ['uclient -z / -n', ...v((x, r) => `${r.z} / ${r.n}`)],
    ['offered msgs/s (steady)', ...v((x) => fmt(x.offeredPerS, 0))],
    ['relayed echoes/s (steady)', ...v((x) => fmt(x.echoesPerS, 0))],
    ['  each round', ...v((x) => x.echoesPerSEachRound.map((e) => fmt(e, 0)).join(' / '))],
    ['relayed packets/s (2 per echo)', ...v((x) => fmt(x.relayedPacketsPerS, 0))],
    ['echoes/s, whole run incl. ramp-up', ...v((x) => fmt(x.activeWindowEchoesPerS, 0))],
    ['loss % (uclient)', ...v((x) => fmt(x.lossPct, 2))],
    ['avg RTT ms (uclient)', ...v((x) => fmt(x.rttMs, 2))],
    ['avg jitter ms (uclient)', ...v((x) => fmt(x.jitterMs, 2))],
    ['server CPU-s / 100k relayed pkts', ...v((x) => fmt(x.serverCpuSPer100kPackets, 3))],
    ['server CPU % of one core, steady', ...v((x) => fmt(x.serverCpuPctSteady, 0))],
    ['server CPU % of one core, whole run', ...v((x) => fmt(x.serverCpuPct, 0))],
    ['  of which kernel (stime) %', ...v((x) => fmt(x.serverSysPct, 0))],
    ['uclient / peer CPU %', ...v((x) => `${fmt(x.uclientCpuPct, 0)} / ${fmt(x.peerCpuPct, 0)}`)],
    ['background load % before (max)', ...v((x) => fmt(x.backgroundCpuPctMax, 0))],
    ['UDP rcvbuf drops (all / server socks)', ...v((x) => `${fmt(x.rcvbufErrors, 0)} / ${fmt(x.serverSocketDrops, 0)}`)],
    ['messages sent per run', ...v((x) => fmt(x.sentPerRun, 0))],
    ['uclient wall s', ...v((x) => fmt(x.wallS, 1))],
  ]);
  table('Dari / coturn (targets: native rate >= 1.0 at CPU per packet <= 1.0; TypeScript rate >= 0.7)', ['', ...summary.map((r) => `m=${r.clients}`)], [
    ['native: relayed rate ratio', ...summary.map((r) => r.ratios['dari-native']?.rate)],
    ['native: CPU per packet ratio', ...summary.map((r) => r.ratios['dari-native']?.cpuPerPacket)],
    ['TypeScript: relayed rate ratio', ...summary.map((r) => r.ratios['dari-ts']?.rate)],
    ['TypeScript: CPU per packet ratio', ...summary.map((r) => r.ratios['dari-ts']?.cpuPerPacket)],
    ['loss % native / TypeScript / coturn', ...summary.map((r) => `${fmt(r['dari-native']?.lossPct, 2)} / ${fmt(r['dari-ts']?.lossPct, 2)} / ${fmt(r.coturn?.lossPct, 2)}`)],
  ]);
}
if (result.memory?.length) {
  const m = result.memory;
  table('Memory: live allocations (own client, UDP, long-term credentials), fresh server', ['', ...m.map((x) => x.server)], [
    ['allocations made / asked', ...m.map((x) => `${x.allocated} / ${x.requested}`)],
    ['failures', ...m.map((x) => JSON.stringify(x.errors))],
    ['time s (allocations/s)', ...m.map((x) => `${x.seconds} (${x.allocationsPerS})`)],
    ['VmRSS before MiB', ...m.map((x) => x.rssBeforeMiB)],
    ['VmRSS with allocations MiB', ...m.map((x) => x.rssWithMiB)],
    ['RSS per allocation KiB', ...m.map((x) => x.perAllocationKiB)],
    ['server fds / threads', ...m.map((x) => `${x.serverFds} / ${x.threads}`)],
  ]);
}
if (result.profile?.topFunctions) {
  const p = result.profile;
  table(`Dari TypeScript path, one thread, CPU profile (--cpu-prof, ${p.clients} clients, -z ${p.z}, -n ${p.n}: ${p.echoesPerS} echoes/s, loss ${p.lossPct} %; ${p.sampledS} s sampled, ${p.busyS} s busy), self time, % of busy time`, ['function', '%'], p.topFunctions.map((f) => [f.name, f.pct]));
  table('by file', ['file', '%'], p.topFiles.map((f) => [f.name, f.pct]));
}
for (const p of result.perf ?? []) {
  if (p.error) {
    console.log(`\nperf ${p.server}: ${p.error}`);
    continue;
  }
  table(`perf record, ${p.server} (${p.clients} clients, -z ${p.z}: ${p.echoesPerS} echoes/s, loss ${p.lossPct} %; ${p.seconds} s at 999 Hz): samples by binary`, ['binary', '%'], p.byDso.map((x) => [x.name, x.pct]));
  table(`perf record, ${p.server}: top symbols ([k] kernel, [.] user space)`, ['symbol', '%'], p.topSymbols.map((x) => [x.name, x.pct]));
}
if (runs.length) {
  console.log('\nuclient commands (per client count):');
  for (const c of clientCounts) {
    const r = runs.find((x) => x.clients === c);
    if (r) console.log(`  ${r.command}   # -p = the server's port`);
  }
}
console.log(`\nreproduce: ${command}`);
if (result.error) console.log(`ERROR: ${result.error.split('\n')[0]}`);
console.log(`RESULT ${JSON.stringify(result)}`);
process.exit(failed ? 1 : 0);
