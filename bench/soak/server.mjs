/**
 * The soak's server process: `dari serve` (startServer from the build, dev mode on loopback,
 * an `auto` room policy, the embedded TURN server) plus a sampler answering the driver over IPC.
 * Run by bench/soak/run.mjs with `--expose-gc`; not meant to be started by hand.
 *
 * Samples (docs in bench/soak/README.md): RSS, V8 heap used, external and array buffers, open
 * file descriptors (/proc/self/fd), active resources by type (process.getActiveResourcesInfo():
 * timers, TCP and UDP handles, …) and event-loop delay (perf_hooks, p50/p99/max since the last
 * sample), plus what the server holds (rooms, participants, SFU peer connections, TURN
 * allocations). A `quiet` sample waits until the server holds nothing, then collects garbage
 * twice first: those are the ones compared for growth.
 */
import { createHook } from 'node:async_hooks';
import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const dist = (p) => new URL(`../../packages/server/dist/src/${p}`, import.meta.url).href;
const { startServer } = await import(dist('serve.js'));
const { resolveConfig, validateConfig } = await import(dist('config.js'));
const { createLogger } = await import(dist('logger.js'));

const server = await startServer(resolveConfig(validateConfig({ port: 0, turn: { port: 0 }, signaling: { stateFile: '' } })), createLogger('warn', { format: 'json' }));
// DARI_SOAK_TRACE_TIMERS=1: where each live timer was created, so a growing count can be traced.
const timerSites = new Map();
if (process.env.DARI_SOAK_TRACE_TIMERS) {
  createHook({
    init(id, type) {
      if (type !== 'Timeout') return;
      const frames = (new Error().stack ?? '').split('\n').slice(1).map((l) => l.trim()).filter((l) => !l.includes('node:') && !l.includes('async_hooks'));
      timerSites.set(id, frames.slice(0, 3).join(' < '));
    },
    destroy(id) {
      timerSites.delete(id);
    },
  }).enable();
}
function liveTimerSites() {
  const bySite = {};
  for (const site of timerSites.values()) bySite[site] = (bySite[site] ?? 0) + 1;
  return bySite;
}

const eld = monitorEventLoopDelay({ resolution: 10 });
eld.enable();

async function held() {
  const core = server.signaling.core.stats();
  const turn = server.turn ? await server.turn.service.snapshot() : { allocations: 0 };
  return { rooms: core.rooms, participants: core.participants, connections: core.connections, sfuPeerConnections: server.sfu.stats().peerConnections, turnAllocations: turn.allocations };
}

const total = (h) => h.rooms + h.participants + h.connections + h.sfuPeerConnections + h.turnAllocations;

async function sample(kind) {
  const m = process.memoryUsage();
  const resources = {};
  for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1;
  const s = {
    kind,
    t: Date.now(),
    rss: m.rss,
    heapUsed: m.heapUsed,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    fds: readdirSync('/proc/self/fd').length,
    resources,
    handles: Object.values(resources).reduce((a, b) => a + b, 0),
    timers: resources['Timeout'] ?? 0,
    eldP50Ms: eld.percentile(50) / 1e6,
    eldP99Ms: eld.percentile(99) / 1e6,
    eldMaxMs: eld.max / 1e6,
    ...(await held()),
    ...(process.env.DARI_SOAK_TRACE_TIMERS ? { timerSites: liveTimerSites() } : {}),
  };
  eld.reset();
  return s;
}

async function quiet(timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let h = await held();
  while (total(h) > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    h = await held();
  }
  // Two collections: the second reclaims what finalizers of the first released.
  globalThis.gc?.();
  await new Promise((r) => setImmediate(r));
  globalThis.gc?.();
  return { ...(await sample('quiet')), settled: total(h) === 0 };
}

process.on('message', (msg) => {
  if (msg.type === 'sample') void sample('busy').then((s) => process.send({ type: 'sample', id: msg.id, sample: s }));
  else if (msg.type === 'quiet') quiet(msg.timeoutMs ?? 20_000).then((s) => process.send({ type: 'sample', id: msg.id, sample: s }));
  else if (msg.type === 'stop') server.close().then(() => process.exit(0));
});
process.on('disconnect', () => process.exit(0));

const turn = server.turn.service.endpoints.find((e) => e.protocol === 'udp');
process.send({ type: 'ready', url: server.url, ws: server.wsUrl, turn: { address: turn.address, port: turn.port } });
