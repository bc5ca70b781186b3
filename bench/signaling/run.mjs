#!/usr/bin/env node
/**
 * Signaling benchmark of Dari (see README.md in this folder).
 *
 *   node bench/signaling/run.mjs [--sizes 1000,10000] [--seconds 10] [--rate 1] ...
 *
 * For each size N, against a fresh `dari serve` process:
 *  1. connections: N clients join rooms of --room-size; server RSS before/after (bytes, per connection);
 *  2. fan-out: each client broadcasts --rate signals/s for --seconds; delivered frames/s,
 *     fan-out latency p50/p99 (ms, send → receipt by each room member), server CPU-seconds;
 *     then a short closed-loop "max" phase (--window signals in flight per client) for saturation.
 * Once: 3. offer/answer relay rate, Dari `sdp` vs the PeerJS server `OFFER`/`ANSWER`, --pairs pairs,
 *     --relay-window messages in flight per pair, --relay-seconds; messages/s and CPU-s per 10,000.
 * Prints a table and a final `RESULT {json}` line. Servers run in their own processes and are
 * killed on exit, even on error.
 */
import { parseArgs } from 'node:util';
import { execSync, spawnSync } from 'node:child_process';
import os from 'node:os';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { startDari, startPeerJs, dariBenchFlags } from './servers.mjs';
import { connectAll, openDari, openPeerJs, closeAll, runFanout, runRelay, fakeSdp, sleep } from './clients.mjs';
import { mintToken, DEV_API_KEY, DEV_API_SECRET } from '../../packages/server/dist/src/index.js';

const { values: opt } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000,10000' }, // client counts N
    seconds: { type: 'string', default: '10' }, // open-loop fan-out phase, s
    rate: { type: 'string', default: '1' }, // broadcast signals/s per client in the open loop
    'max-seconds': { type: 'string', default: '3' }, // closed-loop (saturation) phase, s; 0 = skip
    window: { type: 'string', default: '1' }, // own signals in flight per client in the closed loop
    'room-size': { type: 'string', default: '10' },
    pairs: { type: 'string', default: '50' }, // relay phase
    'relay-window': { type: 'string', default: '10' }, // messages in flight per pair
    'relay-seconds': { type: 'string', default: '5' }, // 0 = skip
    'relay-rounds': { type: 'string', default: '1' }, // Dari, PeerJS, then PeerJS, Dari, ... (ABBA); figures are means
    'sdp-bytes': { type: 'string', default: '3000' },
    // A Dari build saved with `node bench/sfu/run.mjs --save-build DIR`: the relay also runs it
    // in every round (before, after, PeerJS; then PeerJS, after, before; ...), ratio after/before.
    before: { type: 'string', default: '' },
  },
});
const num = (k) => Number(opt[k]);
const sizes = opt.sizes.split(',').map(Number);
const ROOM = num('room-size');
const command = `node bench/signaling/run.mjs ${Object.entries(opt).filter(([k, v]) => k !== 'before' || v).map(([k, v]) => `--${k} ${v}`).join(' ')}`;
const BEFORE_BIN = opt.before ? resolve(opt.before, 'packages/server/bin/dari.js') : null;
if (BEFORE_BIN && !existsSync(BEFORE_BIN)) throw new Error(`--before: no saved build at ${opt.before} (save one with node bench/sfu/run.mjs --save-build DIR)`);

// 10,000 client sockets need as many descriptors here (and in the server): raise the soft limit
// to the hard one by re-running under `ulimit -Sn`; the hard limit cannot be raised without privileges.
const [softFd, hardFd] = execSync('ulimit -Sn; ulimit -Hn', { shell: '/bin/bash' }).toString().split('\n').map(Number);
const needFd = Math.max(...sizes) + 1000;
if (hardFd < needFd) throw new Error(`N=${Math.max(...sizes)} needs ${needFd} file descriptors per process; the hard limit is ${hardFd}`);
if (softFd < needFd) {
  const r = spawnSync('bash', ['-c', 'ulimit -Sn "$(ulimit -Hn)" && exec "$0" "$@"', process.execPath, ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
// The exit handler in servers.mjs kills the server processes on any exit, including these signals.
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));
setTimeout(() => { console.error('watchdog: benchmark took over 10 min, aborting'); process.exit(1); }, 600_000).unref();

const MiB = 1024 * 1024;
const round = (x, d = 1) => (x == null || !Number.isFinite(x) ? null : Math.round(x * 10 ** d) / 10 ** d);

/** Server CPU-seconds between the two `mark()` calls a phase makes. */
function cpuMeter(server) {
  const marks = [];
  return { mark: () => marks.push(server.stats().cpuS), cpuS: () => marks[1] - marks[0] };
}

/** Mints N tokens for rooms of ROOM members: room r<k>, identity u<i>. */
async function dariSpecs(n) {
  const specs = [];
  for (let i = 0; i < n; i++) specs.push({ room: `r${Math.floor(i / ROOM)}`, identity: `u${i}` });
  await Promise.all(specs.map(async (s) => (s.token = await mintToken({ apiKey: DEV_API_KEY, apiSecret: DEV_API_SECRET, room: s.room, identity: s.identity }))));
  return specs;
}

function summarizeFanout(f, cpuS) {
  return {
    sentPerS: round(f.sent / f.windowS), deliveredPerS: round(f.received / f.windowS),
    p50Ms: round(f.latency.quantile(0.5), 2), p99Ms: round(f.latency.quantile(0.99), 2),
    serverCpuS: round(cpuS, 2), serverCpuPct: round((100 * cpuS) / f.windowS), generatorCpuPct: round((100 * f.generatorCpuS) / f.windowS),
    skippedBackpressure: f.skipped, deliveryRatio: round(f.receivedTotal / (f.sent * ROOM), 4),
  };
}

/** Phases 1 and 2 for N clients against a fresh server. */
async function benchSize(n) {
  const server = await startDari(ROOM);
  let clients = [];
  try {
    const specs = await dariSpecs(n);
    await sleep(1000);
    const before = server.stats();
    const conn = await connectAll((s) => openDari(server.ws, s), specs);
    clients = conn.clients;
    await sleep(3000); // let joins, logging and GC settle before reading the idle RSS
    const idle = server.stats();
    const out = {
      n, joined: clients.length, joinFailures: conn.failures, joinWallS: round(conn.seconds, 2), joinsPerS: round(clients.length / conn.seconds),
      joinP50Ms: round(conn.joinMs.quantile(0.5), 2), joinP99Ms: round(conn.joinMs.quantile(0.99), 2), joinServerCpuS: round(idle.cpuS - before.cpuS, 2),
      rssBeforeMiB: round(before.rssBytes / MiB), rssIdleMiB: round(idle.rssBytes / MiB),
      rssPerConnKiB: round((idle.rssBytes - before.rssBytes) / clients.length / 1024, 2),
    };
    const openLoop = cpuMeter(server);
    out.fanout = { rate: num('rate'), ...summarizeFanout(await runFanout(clients, { rate: num('rate'), seconds: num('seconds'), mark: openLoop.mark }), openLoop.cpuS()) };
    if (num('max-seconds') > 0) {
      const closed = cpuMeter(server);
      out.max = { window: num('window'), ...summarizeFanout(await runFanout(clients, { window: num('window'), seconds: num('max-seconds'), mark: closed.mark }), closed.cpuS()) };
    }
    const end = server.stats();
    out.peakRssMiB = round(end.peakRssBytes / MiB);
    out.rssEndMiB = round(end.rssBytes / MiB);
    out.disconnected = clients.filter((c) => c.ws.readyState !== c.ws.OPEN).length;
    out.serverProblems = server.problems.slice(0, 5);
    return out;
  } finally {
    closeAll(clients);
    await server.stop();
  }
}

/** Phase 3 against one server: P pairs bounce an SDP-sized offer/answer (a → b offer, b → a answer). */
async function benchRelay(kind) {
  const P = num('pairs');
  const sdp = fakeSdp(num('sdp-bytes'));
  const server = kind === 'dari' ? await startDari(2) : kind === 'before' ? await startDari(2, BEFORE_BIN) : await startPeerJs();
  let clients = [];
  try {
    let conn, frames, isRelay, keepAlive;
    if (kind === 'dari' || kind === 'before') {
      const specs = [];
      for (let k = 0; k < P; k++) for (const identity of ['a', 'b']) specs.push({ room: `p${k}`, identity });
      for (const s of specs) s.token = await mintToken({ apiKey: DEV_API_KEY, apiSecret: DEV_API_SECRET, room: s.room, identity: s.identity });
      conn = await connectAll((s) => openDari(server.ws, s), specs, 20);
      const offer = JSON.stringify({ type: 'sdp', to: 'b', description: { type: 'offer', sdp } });
      const answer = JSON.stringify({ type: 'sdp', to: 'a', description: { type: 'answer', sdp } });
      frames = () => ({ offer, answer });
      isRelay = (t) => t.startsWith('{"type":"sdp"');
    } else {
      const ids = [];
      for (let k = 0; k < P; k++) ids.push(`a${k}-${process.pid}`, `b${k}-${process.pid}`);
      conn = await connectAll((id) => openPeerJs(server.ws, id), ids, 20);
      // The PeerJS client's payload: {sdp, type: 'media' | 'data', connectionId}; the server adds `src`.
      const msg = (type, dst, sdpType) => JSON.stringify({ type, dst, payload: { sdp: { type: sdpType, sdp }, type: 'media', connectionId: 'mc_bench' } });
      frames = ([a, b]) => ({ offer: msg('OFFER', b.id, 'offer'), answer: msg('ANSWER', a.id, 'answer') });
      isRelay = (t) => t.startsWith('{"type":"OFFER"') || t.startsWith('{"type":"ANSWER"');
      keepAlive = () => { for (const c of clients) c.ws.send('{"type":"HEARTBEAT"}'); }; // peer drops clients silent for 90 s
    }
    clients = conn.clients;
    if (clients.length !== 2 * P) throw new Error(`${kind}: only ${clients.length}/${2 * P} relay clients ready: ${JSON.stringify(conn.failures)}`);
    const pairs = Array.from({ length: P }, (_, k) => [clients[2 * k], clients[2 * k + 1]]);
    const meter = cpuMeter(server);
    const r = await runRelay(pairs, { frames, isRelay, window: num('relay-window'), seconds: num('relay-seconds'), mark: meter.mark, keepAlive });
    return {
      relayedPerS: round(r.relayed / r.seconds), serverCpuS: round(meter.cpuS(), 2),
      serverCpuSPer10k: round((meter.cpuS() / r.relayed) * 10_000, 3), generatorCpuPct: round((100 * r.generatorCpuS) / r.seconds),
      frameBytes: frames(pairs[0]).offer.length, unexpectedFrames: r.other,
    };
  } finally {
    closeAll(clients);
    await server.stop();
  }
}

/** Means over relay rounds (each field), with each round's rate kept. */
function meanRelay(rs) {
  const mean = (f) => rs.reduce((a, r) => a + f(r), 0) / rs.length;
  return {
    relayedPerS: round(mean((r) => r.relayedPerS)), serverCpuS: round(mean((r) => r.serverCpuS), 2),
    serverCpuSPer10k: round(mean((r) => r.serverCpuSPer10k), 3), generatorCpuPct: round(mean((r) => r.generatorCpuPct)),
    frameBytes: rs[0].frameBytes, unexpectedFrames: rs.reduce((a, r) => a + r.unexpectedFrames, 0),
    relayedPerSPerRound: rs.map((r) => r.relayedPerS),
  };
}

/** Prints rows of [label, ...values] as aligned columns. */
function table(title, head, rows) {
  const cells = [head, ...rows].map((r) => r.map((c) => (c == null ? '-' : String(c))));
  const w = head.map((_, j) => Math.max(...cells.map((r) => r[j].length)));
  console.log(`\n${title}`);
  for (const r of cells) console.log(r.map((c, j) => (j === 0 ? c.padEnd(w[j]) : c.padStart(w[j]))).join('   '));
}

const result = {
  command, machine: { cpus: os.cpus().length, node: process.version },
  settings: { roomSize: ROOM, serverFlags: dariBenchFlags(ROOM).filter((f) => f !== '--set'), ...Object.fromEntries(Object.entries(opt).map(([k, v]) => [k, k === 'sizes' ? sizes : Number(v)])) },
  sizes: [], relay: null,
};
let failed = false;
try {
  for (const n of sizes) {
    console.error(`N=${n}: joining, then ${opt.seconds} s fan-out at ${opt.rate} signals/s/client, ${opt['max-seconds']} s closed loop ...`);
    result.sizes.push(await benchSize(n));
  }
  if (num('relay-seconds') > 0) {
    console.error(`relay: ${opt.pairs} pairs, ${opt['relay-window']} in flight per pair, ${opt['relay-seconds']} s each for Dari and PeerJS ...`);
    const runs = { dari: [], peerjs: [], before: [] };
    const order = BEFORE_BIN ? ['before', 'dari', 'peerjs'] : ['dari', 'peerjs'];
    for (let r = 0; r < num('relay-rounds'); r++) {
      for (const kind of r % 2 === 0 ? order : [...order].reverse()) runs[kind].push(await benchRelay(kind));
    }
    const dari = meanRelay(runs.dari);
    const peerjs = meanRelay(runs.peerjs);
    result.relay = {
      pairs: num('pairs'), window: num('relay-window'), rounds: runs.dari.length, dari, peerjs,
      ratioDariToPeerJs: round(dari.relayedPerS / peerjs.relayedPerS, 2),
      ratioPerRound: runs.dari.map((d, k) => round(d.relayedPerS / runs.peerjs[k].relayedPerS, 2)),
      cpuPerMessageDariToPeerJs: round(dari.serverCpuSPer10k / peerjs.serverCpuSPer10k, 2),
      cpuPerMessagePerRound: runs.dari.map((d, k) => round(d.serverCpuSPer10k / runs.peerjs[k].serverCpuSPer10k, 2)),
    };
    if (BEFORE_BIN) {
      const before = meanRelay(runs.before);
      Object.assign(result.relay, {
        before, beforeBuild: opt.before,
        ratioAfterToBefore: round(dari.relayedPerS / before.relayedPerS, 2),
        ratioAfterToBeforePerRound: runs.dari.map((d, k) => round(d.relayedPerS / runs.before[k].relayedPerS, 2)),
        cpuPerMessageAfterToBefore: round(dari.serverCpuSPer10k / before.serverCpuSPer10k, 2),
        cpuPerMessageAfterToBeforePerRound: runs.dari.map((d, k) => round(d.serverCpuSPer10k / runs.before[k].serverCpuSPer10k, 2)),
        ratioBeforeToPeerJs: round(before.relayedPerS / peerjs.relayedPerS, 2),
      });
    }
  }
} catch (err) {
  failed = true;
  result.error = String(err?.stack ?? err);
  console.error(err);
}

const S = result.sizes;
const col = (f) => S.map(f);
console.log(`\nDari signaling benchmark: ${result.machine.cpus} CPUs, Node ${process.version}; rooms of ${ROOM};`);
console.log(`server flags: ${dariBenchFlags(ROOM).join(' ')} (rate limit and room size raised for the benchmark)`);
if (S.length) {
  table('Connections and fan-out (server = separate dari serve process)', ['', ...col((s) => `N=${s.n}`)], [
    ['clients joined', ...col((s) => s.joined)],
    ['join failures', ...col((s) => JSON.stringify(s.joinFailures))],
    ['join wall time (s)', ...col((s) => s.joinWallS)],
    ['joins/s', ...col((s) => s.joinsPerS)],
    ['join latency p50 / p99 (ms, 200 joining at once)', ...col((s) => `${s.joinP50Ms} / ${s.joinP99Ms}`)],
    ['server CPU-s for all joins', ...col((s) => s.joinServerCpuS)],
    ['server RSS before clients (MiB)', ...col((s) => s.rssBeforeMiB)],
    ['server RSS all joined, idle (MiB)', ...col((s) => s.rssIdleMiB)],
    ['RSS per connection (KiB)', ...col((s) => s.rssPerConnKiB)],
    [`fan-out, open loop: signals/s per client`, ...col((s) => s.fanout.rate)],
    ['  signals sent/s (all clients)', ...col((s) => s.fanout.sentPerS)],
    ['  delivered frames/s', ...col((s) => s.fanout.deliveredPerS)],
    ['  fan-out latency p50 / p99 (ms)', ...col((s) => `${s.fanout.p50Ms} / ${s.fanout.p99Ms}`)],
    ['  server CPU-s (% of one core)', ...col((s) => `${s.fanout.serverCpuS} (${s.fanout.serverCpuPct} %)`)],
    ['  load generator CPU (% of one core)', ...col((s) => s.fanout.generatorCpuPct)],
    ['  sends skipped (client backpressure)', ...col((s) => s.fanout.skippedBackpressure)],
    ['  delivered / expected (incl. 5 s drain)', ...col((s) => s.fanout.deliveryRatio)],
    ...(S[0].max ? [
      [`fan-out, closed loop: in flight per client`, ...col((s) => s.max?.window)],
      ['  delivered frames/s (saturation)', ...col((s) => s.max?.deliveredPerS)],
      ['  fan-out latency p50 / p99 (ms)', ...col((s) => `${s.max?.p50Ms} / ${s.max?.p99Ms}`)],
      ['  server CPU-s (% of one core)', ...col((s) => `${s.max?.serverCpuS} (${s.max?.serverCpuPct} %)`)],
      ['  load generator CPU (% of one core)', ...col((s) => s.max?.generatorCpuPct)],
    ] : []),
    ['server peak RSS (MiB)', ...col((s) => s.peakRssMiB)],
    ['clients disconnected at end', ...col((s) => s.disconnected)],
    ['server warn/error log lines', ...col((s) => s.serverProblems.length)],
  ]);
}
if (result.relay) {
  const { dari, peerjs } = result.relay;
  const R = result.relay.rounds;
  table(`Offer/answer relay: ${result.relay.pairs} pairs, ${result.relay.window} in flight per pair, ${opt['relay-seconds']} s, ~${opt['sdp-bytes']} B SDP${R > 1 ? `, ${R} rounds (ABBA), means` : ''}`, ['', 'Dari', 'PeerJS 1.x'], [
    ['relayed messages/s', dari.relayedPerS, peerjs.relayedPerS],
    ...(R > 1 ? [['  each round', dari.relayedPerSPerRound.join(' '), peerjs.relayedPerSPerRound.join(' ')]] : []),
    ['server CPU-s per 10,000 messages', dari.serverCpuSPer10k, peerjs.serverCpuSPer10k],
    ['server CPU-s in phase', dari.serverCpuS, peerjs.serverCpuS],
    ['load generator CPU (% of one core)', dari.generatorCpuPct, peerjs.generatorCpuPct],
    ['client frame (bytes)', dari.frameBytes, peerjs.frameBytes],
  ]);
  console.log(`\nrelay ratio Dari/PeerJS: ${result.relay.ratioDariToPeerJs} (target >= 1.0)${R > 1 ? `; per round ${result.relay.ratioPerRound.join(' ')}` : ''}`);
  console.log(`server CPU per message Dari/PeerJS: ${result.relay.cpuPerMessageDariToPeerJs}${R > 1 ? `; per round ${result.relay.cpuPerMessagePerRound.join(' ')}` : ''}`);
  const b = result.relay.before;
  if (b) {
    console.log(`\nDari before (${result.relay.beforeBuild}): ${b.relayedPerS} msg/s (rounds ${b.relayedPerSPerRound.join(' ')}), ${b.serverCpuSPer10k} CPU-s per 10,000; before/PeerJS ${result.relay.ratioBeforeToPeerJs}`);
    console.log(`relay ratio Dari after/before: ${result.relay.ratioAfterToBefore}${R > 1 ? `; per round ${result.relay.ratioAfterToBeforePerRound.join(' ')}` : ''}`);
    console.log(`server CPU per message after/before: ${result.relay.cpuPerMessageAfterToBefore}${R > 1 ? `; per round ${result.relay.cpuPerMessageAfterToBeforePerRound.join(' ')}` : ''}`);
  }
}
console.log(`\nreproduce: ${command}`);
console.log(`RESULT ${JSON.stringify(result)}`);
process.exit(failed ? 1 : 0);
