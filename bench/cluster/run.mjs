#!/usr/bin/env node
/**
 * Scale-out benchmark (issue #13): three `dari serve` nodes in one Redis against one node, in
 * the same run, on this machine (see README.md in this folder).
 *
 *   node bench/cluster/run.mjs [--joins 2000] [--pairs 30] [--relay-seconds 5] [--conns 10000]
 *
 *  1. join latency: rooms of 2; the first member joins through the room's node, the second
 *     through another node (cluster: relayed) or the same one (single node); connect → `joined`,
 *     ms, p50/p99 of the second joins, --join-lanes joins in flight.
 *  2. relay rate: --pairs pairs bounce an SDP-sized offer/answer (bench/signaling's relay load);
 *     cluster: `a` on the room's node, `b` on the next node, so every message crosses a node link.
 *  3. memory: --conns connections per node in rooms of 10, joined round robin over the nodes
 *     (2 of 3 relayed); RSS growth per connection, summed over the nodes.
 * Prints a table with the ratios and a final `RESULT {json}` line. Every process started here is
 * killed on exit; a watchdog aborts after 10 minutes. Only 127.0.0.1 is used.
 */
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { spawnServer, DARI_BIN, dariBenchFlags } from '../signaling/servers.mjs';
import { connectAll, openDari, closeAll, runRelay, fakeSdp, sleep } from '../signaling/clients.mjs';
import { performance } from 'node:perf_hooks';
import { mintToken, DEV_API_KEY, DEV_API_SECRET } from '../../packages/server/dist/src/index.js';
import { startRedis } from '../../packages/testkit/dist/src/index.js';

const { values: opt } = parseArgs({
  options: {
    joins: { type: 'string', default: '2000' }, // second-member joins measured (rooms of 2)
    'join-lanes': { type: 'string', default: '1' }, // joins in flight (1: latency without queueing)
    pairs: { type: 'string', default: '30' },
    'relay-window': { type: 'string', default: '10' },
    'relay-seconds': { type: 'string', default: '5' },
    'sdp-bytes': { type: 'string', default: '3000' },
    conns: { type: 'string', default: '10000' }, // connections per node in the memory phase; 0 = skip
  },
});
const num = (k) => Number(opt[k]);
const command = `node bench/cluster/run.mjs ${Object.entries(opt).map(([k, v]) => `--${k} ${v}`).join(' ')}`;

process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));
setTimeout(() => { console.error('watchdog: benchmark took over 10 min, aborting'); process.exit(1); }, 600_000).unref();

const MiB = 1024 * 1024;
const round = (x, d = 1) => (x == null || !Number.isFinite(x) ? null : Math.round(x * 10 ** d) / 10 ** d);
const token = (room, identity) => mintToken({ apiKey: DEV_API_KEY, apiSecret: DEV_API_SECRET, room, identity });

/** One node: no Redis (the anchor), or a cluster member with the `local` selector (placement follows the first join). */
function startNode(id, redisUrl) {
  const cluster = redisUrl
    ? ['--redis-url', redisUrl, '--set', `cluster.nodeId=${id}`, '--set', 'cluster.selector=local', '--set', 'cluster.drainTimeoutS=0']
    : [];
  return spawnServer(id, [DARI_BIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--log-level', 'info', '--set', 'turn.enabled=false', ...dariBenchFlags(100), ...cluster]);
}

const redises = new Set();
process.on('exit', () => { for (const r of redises) void r.kill(); }); // SIGKILL is sent synchronously

/** A fresh set of servers: one anchor node, or three nodes and a Redis. */
async function servers(kind) {
  if (kind === 'single') {
    const node = await startNode('single');
    return { nodes: [node], stop: () => node.stop() };
  }
  const redis = await startRedis();
  redises.add(redis);
  const nodes = await Promise.all(['N1', 'N2', 'N3'].map((id) => startNode(id, redis.url)));
  await sleep(2500); // every node has seen the others (heartbeat 1 s)
  return { nodes, stop: async () => { await Promise.all(nodes.map((n) => n.stop())); await redis.stop(); redises.delete(redis); } };
}

/** Phase 1: second-member join latency, rooms of 2. */
async function benchJoins(kind) {
  const s = await servers(kind);
  const clients = [];
  try {
    const n = num('joins');
    const firsts = [];
    for (let r = 0; r < n; r++) firsts.push({ room: `j${r}`, identity: 'a', node: r % s.nodes.length });
    const seconds = firsts.map((f) => ({ room: f.room, identity: 'b', node: (f.node + 1) % s.nodes.length }));
    for (const spec of [...firsts, ...seconds]) spec.token = await token(spec.room, spec.identity);
    const open = (spec) => openDari(s.nodes[spec.node].ws, spec);
    const a = await connectAll(open, firsts, 50);
    clients.push(...a.clients);
    await sleep(500);
    const b = await connectAll(open, seconds, num('join-lanes'));
    clients.push(...b.clients);
    return { joined: b.clients.length, failures: b.failures, p50Ms: round(b.joinMs.quantile(0.5), 2), p99Ms: round(b.joinMs.quantile(0.99), 2), joinsPerS: round(b.clients.length / b.seconds) };
  } finally {
    closeAll(clients);
    await s.stop();
  }
}

/** Phase 2: offer/answer relay; server CPU summed over the nodes. */
async function benchRelay(kind) {
  const s = await servers(kind);
  const clients = [];
  try {
    const pairs = [];
    for (let k = 0; k < num('pairs'); k++) {
      const node = k % s.nodes.length;
      const a = await openDari(s.nodes[node].ws, { room: `p${k}`, identity: 'a', token: await token(`p${k}`, 'a') });
      const b = await openDari(s.nodes[(node + 1) % s.nodes.length].ws, { room: `p${k}`, identity: 'b', token: await token(`p${k}`, 'b') });
      clients.push(a, b);
      pairs.push([a, b]);
    }
    await sleep(500);
    const sdp = fakeSdp(num('sdp-bytes'));
    const cpu = [];
    const mark = () => cpu.push(s.nodes.reduce((sum, n) => sum + n.stats().cpuS, 0));
    const r = await runRelay(pairs, {
      frames: () => ({ offer: JSON.stringify({ type: 'sdp', to: 'b', description: { type: 'offer', sdp } }), answer: JSON.stringify({ type: 'sdp', to: 'a', description: { type: 'answer', sdp } }) }),
      isRelay: (text) => text.startsWith('{"type":"sdp"'),
      window: num('relay-window'),
      seconds: num('relay-seconds'),
      mark,
    });
    const cpuS = cpu[1] - cpu[0];
    return { perS: round(r.relayed / r.seconds), perNodePerS: round(r.relayed / r.seconds / s.nodes.length), serverCpuS: round(cpuS, 2), perCpuS: round(r.relayed / cpuS), generatorCpuPct: round((100 * r.generatorCpuS) / r.seconds) };
  } finally {
    closeAll(clients);
    await s.stop();
  }
}

const CONNS = fileURLToPath(new URL('./conns.mjs', import.meta.url));
const holders = new Set();
process.on('exit', () => { for (const h of holders) h.kill('SIGKILL'); });

/** A connection-holder process (conns.mjs), its descriptor limit raised; resolves once its tokens are minted. */
async function holder(spec) {
  const child = spawn('bash', ['-c', 'ulimit -Sn "$(ulimit -Hn)" && exec "$0" "$@"', process.execPath, CONNS, JSON.stringify(spec)], { stdio: ['pipe', 'pipe', 'inherit'] });
  holders.add(child);
  child.once('exit', () => holders.delete(child));
  const lines = createInterface({ input: child.stdout });
  const next = (prefix) => new Promise((resolve, reject) => {
    lines.on('line', (l) => { if (l.startsWith(prefix)) resolve(l.slice(prefix.length).trim()); });
    child.once('exit', (code) => reject(new Error(`connection holder exited (${code})`)));
  });
  await next('TOKENS');
  return { go: () => { child.stdin.write('go\n'); return next('READY').then(JSON.parse); }, stop: () => child.stdin.end() };
}

/**
 * Phase 3: --conns connections per node, rooms of 10, joined round robin over the nodes, held by
 * one process per node's worth of clients.
 */
async function benchMemory(kind) {
  const s = await servers(kind);
  const hs = [];
  try {
    const per = num('conns');
    const urls = s.nodes.map((x) => x.ws);
    for (let k = 0; k < s.nodes.length; k++) hs.push(await holder({ urls, start: k * per, count: per }));
    await sleep(1000);
    const before = s.nodes.map((x) => x.stats().rssBytes);
    const t0 = performance.now();
    const ready = await Promise.all(hs.map((h) => h.go()));
    const joinWallS = (performance.now() - t0) / 1000;
    await sleep(3000);
    const idle = s.nodes.map((x) => x.stats().rssBytes);
    const joined = ready.reduce((n, r) => n + r.joined, 0);
    const growth = idle.reduce((sum, v, i) => sum + v - before[i], 0);
    return {
      connections: joined, failures: ready.map((r) => r.failures), joinWallS: round(joinWallS, 1),
      rssIdleMiB: idle.map((v) => round(v / MiB)), rssPerConnKiB: round(growth / joined / 1024, 2),
      problems: s.nodes.flatMap((x) => x.problems).slice(0, 5),
    };
  } finally {
    for (const h of hs) h.stop();
    await sleep(500);
    await s.stop();
  }
}

const result = { machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version }, command };
const joins = { single: await benchJoins('single'), cluster: await benchJoins('cluster') };
joins.addedP50Ms = round(joins.cluster.p50Ms - joins.single.p50Ms, 2);
joins.ratioP50 = round(joins.cluster.p50Ms / joins.single.p50Ms, 2);
joins.ratioP99 = round(joins.cluster.p99Ms / joins.single.p99Ms, 2);
result.joins = joins;
if (num('relay-seconds') > 0) {
  const relay = { single: await benchRelay('single'), cluster: await benchRelay('cluster') };
  relay.perNodeRatio = round(relay.cluster.perNodePerS / relay.single.perS, 2);
  relay.perCpuRatio = round(relay.cluster.perCpuS / relay.single.perCpuS, 2);
  relay.totalRatio = round(relay.cluster.perS / relay.single.perS, 2);
  result.relay = relay;
}
if (num('conns') > 0) {
  // The anchor holds as many connections as one cluster node.
  const single = await benchMemory('single');
  const cluster = await benchMemory('cluster');
  result.memory = { single, cluster, ratio: round(cluster.rssPerConnKiB / single.rssPerConnKiB, 2) };
}

const j = result.joins, r = result.relay, m = result.memory;
console.log(`\nScale-out benchmark (${result.machine.cpus} cores, ${result.machine.model}, Node ${result.machine.node})`);
console.log(`| measure | one node | three nodes | ratio (3/1) |\n|---|---|---|---|`);
console.log(`| join latency p50, ms (second member of a room; cluster: through another node) | ${j.single.p50Ms} | ${j.cluster.p50Ms} | ${j.ratioP50} (+${j.addedP50Ms} ms) |`);
console.log(`| join latency p99, ms | ${j.single.p99Ms} | ${j.cluster.p99Ms} | ${j.ratioP99} |`);
if (r) {
  console.log(`| relayed offer/answer, msg/s (all nodes) | ${r.single.perS} | ${r.cluster.perS} | ${r.totalRatio} |`);
  console.log(`| relay rate per node, msg/s | ${r.single.perNodePerS} | ${r.cluster.perNodePerS} | ${r.perNodeRatio} |`);
  console.log(`| relay per server CPU-second, msg | ${r.single.perCpuS} | ${r.cluster.perCpuS} | ${r.perCpuRatio} |`);
}
if (m) console.log(`| RSS per connection, KiB (${m.single.connections} on one node / ${m.cluster.connections} on three) | ${m.single.rssPerConnKiB} | ${m.cluster.rssPerConnKiB} | ${m.ratio} |`);
console.log(`\nreproduce: ${command}`);
console.log(`RESULT ${JSON.stringify(result)}`);
process.exit(0);
