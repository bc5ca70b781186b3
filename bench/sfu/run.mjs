#!/usr/bin/env node
/**
 * SFU forwarding benchmark: Dari's SFU (werift) against Janus's VideoRoom plugin (see README.md
 * in this folder).
 *
 *   node bench/sfu/run.mjs [--n 10,50,100,200] [--seconds 10] [--rounds 2] [--only dari|janus]
 *                          [--bots 1] [--batch 10] [--pin on|off] [--video-kbps 500] [--quiet-wait 15]
 *                          [--max-other-load 30] [--retries 1] [--budget 540] [--snapshot on|off]
 *                          [--janus-ice-lite] [--dari-build DIR] [--save-build DIR] [--compare DIR]
 *
 * For each N, `--rounds` times Dari then Janus (a fresh server process per run): one publisher
 * (synthetic VP8 ~500 kbps at 30 fps + Opus 50 packets/s, in its own bot process) and N
 * subscribers (in `--bots` bot processes), all werift. Once every subscriber stream flows, a
 * window of `--seconds`: server CPU-seconds (utime + stime from /proc/<pid>/stat) per 1,000
 * packets received by the subscribers, subscriber loss, added latency (send → receive through
 * the server) p50 / p99, streams sustained, bot CPU. A run with more than `--max-other-load` % of
 * a core of foreign load in its window is repeated (`--retries`, within `--budget` s). Prints a
 * table (means over the rounds), `RESULT sfu N=…`
 * lines, a summary `RESULT sfu summary …` line against the targets, the command to reproduce and
 * `RESULT_JSON {…}`. Everything is bounded in time; every process is killed on exit (errors and
 * Ctrl-C included); only local addresses are used (127.0.0.1; Janus: see janus-bot.mjs).
 */
import { parseArgs } from 'node:util';
import { spawn, execSync } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { startDari, startJanus, janusVersion, snapshotDari, cpuSeconds, memory, killAll, sleep, newestJs, ROOT } from './servers.mjs';
import { LatencyHistogram, nowMs } from './media.mjs';

const { values: opt } = parseArgs({
  options: {
    n: { type: 'string', default: '10,50,100,200' },
    seconds: { type: 'string', default: '10' },
    only: { type: 'string', default: '' }, // dari | janus
    bots: { type: 'string', default: '1' }, // subscriber bot processes
    batch: { type: 'string', default: '10' }, // subscribers connecting at once, per bot process
    pin: { type: 'string', default: 'on' }, // on: server on CPU 0, bots on CPU 1 (taskset)
    'video-kbps': { type: 'string', default: '500' },
    settle: { type: 'string', default: '2' }, // s between "all streams flowing" and the window
    'quiet-wait': { type: 'string', default: '15' }, // s to wait, before each run, for other load on the machine to drop below 25 % of a core
    'janus-ice-lite': { type: 'boolean', default: false },
    snapshot: { type: 'string', default: 'on' }, // on: run a copy of the Dari build taken at the start (others rebuild dist)
    'max-other-load': { type: 'string', default: '30' }, // % of a core: a run with more foreign load in its window is repeated once
    retries: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '2' }, // Dari, Janus, Dari, Janus … per N; figures are means
    'idle-seconds': { type: 'string', default: '3' }, // after the window: server CPU with everyone connected and no media; 0 = skip
    budget: { type: 'string', default: '540' }, // s: no repeated runs after this much time
    'save-build': { type: 'string', default: '' }, // save a snapshot of the current Dari build into DIR (inside the repository) and exit
    'dari-build': { type: 'string', default: '' }, // measure a build saved with --save-build instead of the current one
    compare: { type: 'string', default: '' }, // before/after: a saved build (DIR) against the current one, per N in ABBA order (rounds 2), no Janus
  },
});
const NS = opt.n.split(',').map(Number).filter((n) => n > 0);
const SECONDS = Number(opt.seconds);
/** `dari-before` is the saved build of --compare; `dari` the current (or --dari-build) one. */
const SYSTEMS = opt.compare ? ['dari-before', 'dari'] : opt.only ? opt.only.split(',') : ['dari', 'janus'];
const isDari = (system) => system === 'dari' || system === 'dari-before';
const BOTS = Math.max(1, Number(opt.bots));
const BATCH = Math.max(1, Number(opt.batch));
const PIN = opt.pin !== 'off' && os.cpus().length >= 2;
const SERVER_CPU = PIN ? 0 : null;
const BOT_CPU = PIN ? os.cpus().length - 1 : null;
const MEDIA = { videoKbps: Number(opt['video-kbps']) };
const SETTLE_S = Number(opt.settle);
const QUIET_WAIT_S = Number(opt['quiet-wait']);
const MAX_OTHER_LOAD = Number(opt['max-other-load']);
const RETRIES = Math.max(0, Number(opt.retries));
const ROUNDS = Math.max(1, Number(opt.rounds));
const BUDGET_MS = Number(opt.budget) * 1000;
const IDLE_S = Number(opt['idle-seconds']);
const STARTED = Date.now();
for (const s of SYSTEMS) if (s !== 'janus' && !(s === 'dari' || (opt.compare && s === 'dari-before'))) throw new Error(`--only: dari or janus, not ${s}`);
const command = `node bench/sfu/run.mjs --n ${NS.join(',')} --seconds ${SECONDS} --rounds ${ROUNDS}${opt.only ? ` --only ${opt.only}` : ''} --bots ${BOTS} --batch ${BATCH} --pin ${PIN ? 'on' : 'off'} --video-kbps ${MEDIA.videoKbps} --quiet-wait ${QUIET_WAIT_S} --max-other-load ${MAX_OTHER_LOAD} --retries ${RETRIES} --budget ${opt.budget} --idle-seconds ${IDLE_S} --snapshot ${opt.snapshot}${opt['janus-ice-lite'] ? ' --janus-ice-lite' : ''}${opt['dari-build'] ? ` --dari-build ${opt['dari-build']}` : ''}${opt.compare ? ` --compare ${opt.compare}` : ''}`;

// Bounded: the whole benchmark (default sizes: ~6–8 min) and every phase below.
const WATCHDOG_MS = 20 * 60_000;
setTimeout(() => {
  console.error(`watchdog: benchmark took over ${WATCHDOG_MS / 60_000} min, aborting`);
  process.exit(1);
}, WATCHDOG_MS).unref();
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));

const BOT_SCRIPT = fileURLToPath(new URL('./bot-process.mjs', import.meta.url));
const log = (...a) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a);
const r2 = (x, d = 2) => (x == null || !Number.isFinite(x) ? null : Math.round(x * 10 ** d) / 10 ** d);
const fmt = (x, d = 2) => (x == null || !Number.isFinite(x) ? '-' : r2(x, d).toFixed(d));

// ------------------------------------------------------------------ bot processes

const bots = new Set();
process.on('exit', () => {
  for (const b of bots) b.kill();
  killAll();
});

/** A bot process (bot-process.mjs) pinned to `cpu`, with a bounded request/answer call. */
async function startBot(name, cpu) {
  const [file, args] = cpu !== null ? ['taskset', ['-c', String(cpu), process.execPath, BOT_SCRIPT]] : [process.execPath, [BOT_SCRIPT]];
  const child = spawn(file, args, { stdio: ['ignore', 'inherit', 'pipe', 'ipc'], cwd: ROOT });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-3000)));
  const pending = new Map();
  let nextId = 0;
  const bot = {
    name,
    pid: child.pid,
    kill: () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'),
    call(op, args = {}, timeoutMs = 30_000) {
      const id = ++nextId;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${name}: ${op} took over ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer, op });
        child.send({ id, op, ...args });
      });
    },
  };
  bots.add(bot);
  child.on('message', (m) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.ok) p.resolve(m.result);
    else p.reject(new Error(`${name}: ${p.op}: ${m.error}`));
  });
  child.on('exit', (code, signal) => {
    bots.delete(bot);
    for (const p of pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error(`${name} exited (${code ?? signal}) during ${p.op}: ${stderr.slice(-500)}`));
    }
    pending.clear();
  });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: not ready after 10 s: ${stderr}`)), 10_000);
    child.once('message', (m) => (m.ready ? (clearTimeout(timer), resolve()) : undefined));
    child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`${name} exited (${code}): ${stderr}`))));
  });
  return bot;
}

async function stopBot(bot) {
  await bot.call('close', {}, 8000).catch(() => undefined);
  await sleep(100);
  bot.kill();
}

/** Machine-wide busy CPU-seconds (all cores) from /proc/stat. */
function machineBusyS() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + (f[4] ?? 0);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - idle) / 100;
}

/**
 * Waits (at most `maxS`) until the machine's busy CPU, measured over 2 s, is below 25 % of a
 * core; none of our processes run at that point, so it is other people's load.
 * @returns that load (% of a core) and the time waited
 */
async function waitQuiet(maxS) {
  const start = Date.now();
  let load = null;
  do {
    const a = machineBusyS();
    await sleep(2000);
    load = (100 * (machineBusyS() - a)) / 2;
    if (load < 25) break;
  } while (Date.now() - start < maxS * 1000);
  return { load: r2(load, 0), waitedS: r2((Date.now() - start) / 1000, 0) };
}

// ------------------------------------------------------------------ one run

async function runOne(system, n) {
  const t = { start: Date.now() };
  const result = { system, n, ok: false, errors: [] };
  const quiet = await waitQuiet(QUIET_WAIT_S);
  result.loadBeforePct = quiet.load;
  if (quiet.load >= 25) log(`  warning: other load ${quiet.load} % of a core before this run, after waiting ${quiet.waitedS} s`);
  const server =
    system === 'dari-before'
      ? await startDari({ cpu: SERVER_CPU, bin: BEFORE.bin })
      : system === 'dari'
        ? await startDari({ cpu: SERVER_CPU, bin: SNAPSHOT?.bin })
        : await startJanus({ cpu: SERVER_CPU, iceLite: opt['janus-ice-lite'] });
  result.serverCommand = server.command;
  const started = [];
  try {
    // Publisher, alone in its bot process.
    const pubBot = await startBot('publisher-bot', BOT_CPU);
    started.push(pubBot);
    const room = isDari(system) ? 'bench' : 1234;
    const target = { system: isDari(system) ? 'dari' : 'janus', url: server.url, httpUrl: server.httpUrl, room, media: MEDIA };
    const pub = await pubBot.call('publish', { ...target, timeoutMs: 20_000 }, 30_000);
    t.published = Date.now();

    // Subscribers, split over the subscriber bot processes, ramped up in batches.
    const subBots = [];
    for (let i = 0; i < BOTS; i++) subBots.push(await startBot(`subscriber-bot-${i}`, BOT_CPU));
    started.push(...subBots);
    const shares = subBots.map((_, i) => Math.floor(n / BOTS) + (i < n % BOTS ? 1 : 0));
    const rampCpu0 = cpuSeconds(server.pid);
    let first = 0;
    const ramps = await Promise.all(
      subBots.map((b, i) => {
        const args = { ...target, feedId: pub.feedId, count: shares[i], first, batch: BATCH, batchTimeoutMs: 20_000, deadlineMs: 240_000 };
        first += shares[i];
        return b.call('subscribe', args, 260_000);
      }),
    );
    t.subscribed = Date.now();
    result.connected = ramps.reduce((a, r) => a + r.connected, 0);
    result.connectFailed = ramps.reduce((a, r) => a + r.failed, 0);
    result.rampS = r2((t.subscribed - t.published) / 1000, 1);
    result.serverCpuSRamp = r2(cpuSeconds(server.pid) - rampCpu0, 1); // joins + forwarding to those already in
    result.errors.push(...ramps.flatMap((r) => r.errors));
    log(`  ${system} N=${n}: ${result.connected}/${n} subscribers connected in ${result.rampS} s${result.connectFailed ? ` (${result.connectFailed} failed: ${result.errors.slice(0, 2).join('; ')})` : ''}`);

    // Every subscriber stream (2 per connected subscriber) receiving, then settle.
    const flows = await Promise.all(subBots.map((b, i) => b.call('flowing', { timeoutMs: 20_000, expectedStreams: 2 * (ramps[i].connected) }, 30_000)));
    result.flowingBefore = flows.reduce((a, f) => a + f.flowing, 0);
    await sleep(SETTLE_S * 1000);

    // The measurement window.
    const t0 = nowMs() + 300;
    const t1 = t0 + SECONDS * 1000;
    await Promise.all([pubBot, ...subBots].map((b) => b.call('window', { t0, t1 }, 5000)));
    await sleep(Math.max(0, t0 - nowMs()));
    const procs = [server.pid, pubBot.pid, ...subBots.map((b) => b.pid)];
    const cpu0 = procs.map(cpuSeconds);
    const busy0 = machineBusyS();
    const samples = [];
    let last = { at: nowMs(), cpu: cpu0[0] };
    while (nowMs() < t1) {
      await sleep(Math.min(1000, Math.max(1, t1 - nowMs())));
      const c = cpuSeconds(server.pid);
      const at = nowMs();
      if (c !== null && at > last.at) samples.push((100 * (c - last.cpu)) / ((at - last.at) / 1000));
      last = { at, cpu: c };
    }
    const cpu1 = procs.map(cpuSeconds);
    const busy1 = machineBusyS();
    const windowS = (nowMs() - t0) / 1000;
    result.serverMemory = memory(server.pid);
    if (!server.alive()) throw new Error(`${system} died during the window:\n${server.tail()}`);
    await sleep(1500); // drain: packets sent late in the window still count

    // Reports.
    const [pubReport, ...subReports] = await Promise.all([pubBot, ...subBots].map((b) => b.call('report', {}, 15_000)));
    const sent = { video: pubReport.publisher.windowCounts.video, audio: pubReport.publisher.windowCounts.audio };
    const streams = subReports.flatMap((r) => r.streams);
    const latency = new LatencyHistogram();
    for (const r of subReports) latency.merge(r.latency);
    const received = streams.reduce((a, s) => a + s.received, 0);
    const expected = streams.reduce((a, s) => a + sent[s.kind], 0);
    const forwarded = streams.reduce((a, s) => a + s.forwarded, 0);
    const rtpLost = streams.reduce((a, s) => a + s.rtpLost, 0);
    const rtpExpected = streams.reduce((a, s) => a + s.rtpExpected, 0);
    const lossOf = (s) => (sent[s.kind] > 0 ? (100 * Math.max(0, sent[s.kind] - s.received)) / sent[s.kind] : 100);
    const serverCpuS = cpu1[0] - cpu0[0];
    const botCpu = procs.slice(1).map((pid, i) => r2((100 * (cpu1[i + 1] - cpu0[i + 1])) / windowS, 0));
    const ourCpuS = procs.reduce((a, _, i) => a + (cpu1[i] - cpu0[i]), 0);
    Object.assign(result, {
      ok: true,
      windowS: r2(windowS, 2),
      sentVideo: sent.video,
      sentAudio: sent.audio,
      publisherKeyframes: pubReport.publisher.windowCounts.keyframes,
      publisherKeyframeRequests: pubReport.publisher.windowCounts.keyframeRequests,
      streamsExpected: 2 * n,
      streams: streams.length,
      streamsSustained: streams.filter((s) => lossOf(s) < 1).length,
      streamsDead: streams.filter((s) => s.received === 0).length,
      forwarded,
      forwardedPerS: r2(forwarded / windowS, 0),
      lossPct: expected > 0 ? r2((100 * (expected - received)) / expected, 3) : null,
      rtpGapLossPct: rtpExpected > 0 ? r2((100 * rtpLost) / rtpExpected, 3) : null,
      worstStreamLossPct: r2(Math.max(0, ...streams.map(lossOf)), 2),
      latencyP50Ms: r2(latency.quantile(0.5), 2),
      latencyP99Ms: r2(latency.quantile(0.99), 2),
      latencyMaxMs: r2(latency.max, 1),
      latencyHist: latency.toJSON(), // pooled over rounds; left out of RESULT_JSON
      latencySamples: latency.count,
      serverCpuS: r2(serverCpuS, 2),
      serverCpuPct: r2((100 * serverCpuS) / windowS, 0),
      serverCpuPctMax1s: r2(Math.max(...samples), 0),
      cpuSPer1k: forwarded > 0 ? r2((1000 * serverCpuS) / forwarded, 4) : null,
      publisherBotCpuPct: botCpu[0],
      subscriberBotCpuPct: botCpu.slice(1),
      otherLoadPct: Math.max(0, r2((100 * (busy1 - busy0 - ourCpuS)) / windowS, 0)),
      botErrors: [...new Set([...pubReport.errors, ...subReports.flatMap((r) => r.errors)])].slice(0, 6),
    });
    // One core = 1 CPU-second per second: streams one core would carry at this cost per packet.
    const ppsPerStream = result.streams > 0 ? forwarded / windowS / result.streams : null;
    result.streamsPerCore = result.cpuSPer1k && ppsPerStream ? r2(1000 / result.cpuSPer1k / ppsPerStream, 0) : null;
    result.ppsPerStream = r2(ppsPerStream, 1);

    // Idle cost: the same connections with no media (RTCP, ICE consent, timers).
    if (IDLE_S > 0) {
      await pubBot.call('pause', {}, 5000);
      await sleep(1000);
      const c0 = cpuSeconds(server.pid);
      const a = nowMs();
      await sleep(IDLE_S * 1000);
      const idleCpuS = cpuSeconds(server.pid) - c0;
      result.idleCpuPct = r2((100 * idleCpuS) / ((nowMs() - a) / 1000), 1);
      // Forwarding cost net of the idle cost.
      result.netCpuSPer1k = forwarded > 0 ? r2((1000 * (serverCpuS - (idleCpuS * windowS) / ((nowMs() - a) / 1000))) / forwarded, 4) : null;
    }
    result.botBound = result.subscriberBotCpuPct.some((p) => p >= 90);
  } catch (err) {
    result.errors.push(err.message);
    log(`  ${system} N=${n}: FAILED: ${err.message}`);
    if (!server.alive()) result.errors.push(`server exited:\n${server.tail()}`);
  } finally {
    await Promise.race([Promise.allSettled(started.map(stopBot)), sleep(10_000)]);
    for (const b of started) b.kill();
    await server.stop();
    result.wallS = r2((Date.now() - t.start) / 1000, 1);
  }
  return result;
}

/** Which Dari is measured: git HEAD and the newest file time under packages/server/dist/src (other people rebuild it). */
function dariBuild() {
  let head = null;
  let dirty = null;
  try {
    head = execSync('git rev-parse --short HEAD', { cwd: ROOT, encoding: 'utf8', timeout: 5000 }).trim();
    dirty = execSync('git status --porcelain -- packages/server/src packages/protocol/src packages/stun/src packages/sfu/src', { cwd: ROOT, encoding: 'utf8', timeout: 5000 }).trim() !== '';
  } catch {}
  let newest = 0;
  try {
    newest = newestJs(join(ROOT, 'packages/server/dist/src'));
  } catch {}
  return { head, sourcesModified: dirty, distBuilt: newest ? new Date(newest).toISOString() : null };
}

// ------------------------------------------------------------------ main

if (opt['save-build']) {
  // A build to compare against later (before/after a change, in ABBA order: --dari-build).
  const dir = resolve(opt['save-build']);
  const saved = await snapshotDari({ into: dir });
  writeFileSync(join(dir, 'build.json'), JSON.stringify({ ...dariBuild(), distBuilt: saved.builtAt, savedAt: new Date().toISOString() }, null, 2) + '\n');
  log(`saved the Dari build (HEAD ${dariBuild().head}) in ${dir}; measure it with --dari-build ${opt['save-build']}`);
  process.exit(0);
}
if (SYSTEMS.includes('janus')) {
  const v = janusVersion();
  if (!v) throw new Error('janus not found: apt-get install -y janus (Debian package, 1.1.2 tested)');
  log(`Janus ${v}`);
}
log(`${os.cpus().length} CPUs (${os.cpus()[0]?.model}), Node ${process.version}; pinning: ${PIN ? `server on CPU ${SERVER_CPU}, bots on CPU ${BOT_CPU}` : 'off'}`);

// One consistent Dari build for the whole benchmark (others rebuild packages/server/dist).
let SNAPSHOT = null;
let BUILD = null;
/** --compare: the saved "before" build. */
let BEFORE = null;
if (opt.compare) {
  const dir = resolve(opt.compare);
  const bin = join(dir, 'packages/server/bin/dari.js');
  if (!existsSync(bin)) throw new Error(`--compare: no saved build in ${dir} (save one with --save-build)`);
  BEFORE = { bin, dir, build: { ...JSON.parse(readFileSync(join(dir, 'build.json'), 'utf8')), snapshot: true, saved: opt.compare } };
  log(`before: saved build ${opt.compare} (HEAD ${BEFORE.build.head}, dist built ${BEFORE.build.distBuilt})`);
}
if (SYSTEMS.includes('dari') && opt['dari-build']) {
  const dir = resolve(opt['dari-build']);
  const bin = join(dir, 'packages/server/bin/dari.js');
  if (!existsSync(bin)) throw new Error(`--dari-build: no saved build in ${dir} (save one with --save-build)`);
  SNAPSHOT = { bin, dir };
  BUILD = { ...JSON.parse(readFileSync(join(dir, 'build.json'), 'utf8')), snapshot: true, saved: opt['dari-build'] };
  log(`Dari: saved build ${opt['dari-build']} (HEAD ${BUILD.head}, dist built ${BUILD.distBuilt})`);
} else if (SYSTEMS.includes('dari')) {
  BUILD = dariBuild();
  if (opt.snapshot !== 'off') {
    SNAPSHOT = await snapshotDari();
    BUILD = { ...dariBuild(), distBuilt: SNAPSHOT.builtAt, snapshot: true };
  }
  log(`Dari: HEAD ${BUILD.head}${BUILD.sourcesModified ? ' + uncommitted source changes' : ''}, dist built ${BUILD.distBuilt}${SNAPSHOT ? ', run from a snapshot copy' : ''}`);
}

const runs = []; // the kept run of every (N, round, system)
for (const n of NS) {
  for (let round = 1; round <= ROUNDS; round++) {
    // --compare alternates the order each round: before, after, after, before (ABBA) with 2 rounds.
    const order = opt.compare && round % 2 === 0 ? [...SYSTEMS].reverse() : SYSTEMS;
    for (const system of order) {
      let kept;
      for (let attempt = 0; attempt <= RETRIES; attempt++) {
        log(`${system}: N=${n} subscribers, round ${round}/${ROUNDS}, ${SECONDS} s window${attempt ? `, attempt ${attempt + 1}` : ''} ...`);
        const build = system === 'dari-before' ? BEFORE.build : system === 'dari' ? (SNAPSHOT ? BUILD : dariBuild()) : null;
        const r = await runOne(system, n);
        Object.assign(r, { round, attempt: attempt + 1 }, build ? { dariBuild: build } : {});
        if (r.ok) {
          log(
            `  cpu ${fmt(r.serverCpuS)} s (${r.serverCpuPct} % of a core, max 1 s ${r.serverCpuPctMax1s} %), ${r.forwardedPerS} pkt/s forwarded, ${fmt(r.cpuSPer1k, 4)} CPU-s/1k, loss ${fmt(r.lossPct, 3)} %, ` +
              `latency p50 ${fmt(r.latencyP50Ms)} p99 ${fmt(r.latencyP99Ms)} ms, streams ${r.streamsSustained}/${r.streamsExpected}, bots ${r.publisherBotCpuPct}/${r.subscriberBotCpuPct.join('+')} %, other load ${r.otherLoadPct} %`,
          );
          if (r.botErrors.length) log(`  bot messages: ${r.botErrors.join(' | ')}`);
        }
        // Keep the run with the least foreign load: CPU time is counted per process, but a
        // pinned server that has to share its core queues packets, which shows in latency.
        if (!kept || (r.ok && (!kept.ok || r.otherLoadPct < kept.otherLoadPct))) kept = r;
        if (r.ok && r.otherLoadPct <= MAX_OTHER_LOAD) break;
        if (Date.now() - STARTED > BUDGET_MS) break; // out of time for repeats
        if (attempt < RETRIES) log(`  ${r.ok ? `other load ${r.otherLoadPct} % of a core in the window (> ${MAX_OTHER_LOAD})` : 'failed'}: repeating`);
      }
      runs.push(kept);
      await sleep(1000);
    }
  }
}

/** One (system, N): means over the rounds, worst case for loss/streams/bot CPU, latency pooled. */
function aggregate(system, n) {
  const list = runs.filter((r) => r.system === system && r.n === n);
  // A round whose window measured nothing (e.g. no subscriber stream flowed) is not averaged in as 0.
  const ok = list.filter((r) => r.ok && Number.isFinite(r.cpuSPer1k));
  if (!ok.length) return { system, n, ok: false, rounds: list.length, errors: list.flatMap((r) => r.errors).slice(0, 6) };
  const mean = (f) => ok.reduce((a, r) => a + f(r), 0) / ok.length;
  const max = (f) => Math.max(...ok.map(f));
  const min = (f) => Math.min(...ok.map(f));
  const latency = new LatencyHistogram();
  for (const r of ok) latency.merge(r.latencyHist);
  const cpuSPer1k = mean((r) => r.cpuSPer1k);
  const ppsPerStream = mean((r) => r.ppsPerStream);
  return {
    system,
    n,
    ok: true,
    rounds: ok.length,
    failedRounds: list.length - ok.length,
    connected: min((r) => r.connected),
    rampS: r2(mean((r) => r.rampS), 1),
    serverCpuSRamp: r2(mean((r) => r.serverCpuSRamp), 1),
    streamsExpected: 2 * n,
    streamsSustained: min((r) => r.streamsSustained),
    forwardedPerS: r2(mean((r) => r.forwardedPerS), 0),
    cpuSPer1k: r2(cpuSPer1k, 4),
    cpuSPer1kEach: ok.map((r) => r.cpuSPer1k),
    serverCpuPct: r2(mean((r) => r.serverCpuPct), 0),
    serverCpuPctMax1s: max((r) => r.serverCpuPctMax1s),
    lossPct: r2(mean((r) => r.lossPct), 3),
    rtpGapLossPct: r2(mean((r) => r.rtpGapLossPct), 3),
    worstStreamLossPct: max((r) => r.worstStreamLossPct),
    latencyP50Ms: r2(latency.quantile(0.5), 2),
    latencyP99Ms: r2(latency.quantile(0.99), 2),
    latencyMaxMs: r2(latency.max, 1),
    streamsPerCore: r2(1000 / cpuSPer1k / ppsPerStream, 0),
    idleCpuPct: IDLE_S > 0 ? r2(mean((r) => r.idleCpuPct), 1) : null,
    netCpuSPer1k: IDLE_S > 0 ? r2(mean((r) => r.netCpuSPer1k), 4) : null,
    ppsPerStream: r2(ppsPerStream, 1),
    publisherKeyframes: ok.map((r) => r.publisherKeyframes).join('+'),
    publisherKeyframeRequests: ok.map((r) => r.publisherKeyframeRequests).join('+'),
    serverMemory: ok.at(-1).serverMemory,
    publisherBotCpuPct: max((r) => r.publisherBotCpuPct),
    subscriberBotCpuPct: ok[0].subscriberBotCpuPct.map((_, i) => max((r) => r.subscriberBotCpuPct[i])),
    otherLoadPct: max((r) => r.otherLoadPct),
    attempts: ok.map((r) => r.attempt).join('+'),
  };
}
const results = [];
for (const n of NS) for (const system of SYSTEMS) results.push(aggregate(system, n));

// ------------------------------------------------------------------ report

const get = (system, n) => results.find((r) => r.system === system && r.n === n && r.ok);
const rows = [
  ['subscribers connected', (r) => `${r.connected}/${r.n}`],
  ['ramp-up s (server CPU-s during it)', (r) => `${fmt(r.rampS, 1)} (${fmt(r.serverCpuSRamp, 1)})`],
  ['streams sustained (<1 % loss)', (r) => `${r.streamsSustained}/${r.streamsExpected}`],
  ['forwarded packets/s', (r) => String(r.forwardedPerS)],
  ['server CPU-s per 1k packets', (r) => fmt(r.cpuSPer1k, 4)],
  ['  each round', (r) => r.cpuSPer1kEach.map((x) => fmt(x, 4)).join(' ')],
  ['server CPU, % of a core', (r) => `${r.serverCpuPct} (max ${r.serverCpuPctMax1s})`],
  ['idle server CPU, same connections, no media, %', (r) => fmt(r.idleCpuPct, 1)],
  ['CPU-s per 1k packets net of idle', (r) => fmt(r.netCpuSPer1k, 4)],
  ['loss %, publisher index gaps', (r) => fmt(r.lossPct, 3)],
  ['loss %, RTP sequence gaps', (r) => fmt(r.rtpGapLossPct, 3)],
  ['worst stream loss %', (r) => fmt(r.worstStreamLossPct, 2)],
  ['added latency p50 / p99, ms', (r) => `${fmt(r.latencyP50Ms)} / ${fmt(r.latencyP99Ms)}`],
  ['latency max, ms', (r) => fmt(r.latencyMaxMs, 1)],
  ['streams per core (derived)', (r) => String(r.streamsPerCore ?? '-')],
  ['keyframes sent in window (PLIs received)', (r) => `${r.publisherKeyframes} (${r.publisherKeyframeRequests})`],
  ['server RSS MiB / threads', (r) => `${fmt(r.serverMemory.rssBytes / 1048576, 0)} / ${r.serverMemory.threads}`],
  ['bot CPU % (publisher / subscribers)', (r) => `${r.publisherBotCpuPct} / ${r.subscriberBotCpuPct.join('+')}`],
  ['other load on the machine, % of a core', (r) => String(r.otherLoadPct)],
  ['rounds (attempts each)', (r) => `${r.rounds} (${r.attempts})`],
];
const cols = [];
for (const n of NS) for (const s of SYSTEMS) cols.push({ n, s, r: get(s, n) });
const header = ['', ...cols.map((c) => `${c.s} N=${c.n}`)];
const body = rows.map(([label, f]) => [label, ...cols.map((c) => (c.r ? f(c.r) : 'failed'))]);
const widths = header.map((_, i) => Math.max(...[header, ...body].map((row) => String(row[i]).length)));
const line = (row) => '| ' + row.map((v, i) => (i === 0 ? String(v).padEnd(widths[i]) : String(v).padStart(widths[i]))).join(' | ') + ' |';
console.log('\n' + line(header));
console.log('|' + widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|');
for (const row of body) console.log(line(row));
console.log('');

for (const n of NS) {
  const d = get('dari', n);
  const j = get('janus', n);
  const parts = [`RESULT sfu N=${n}`];
  if (SYSTEMS.includes('dari')) parts.push(`dari_cpu_s_per_1k=${d ? fmt(d.cpuSPer1k, 4) : 'failed'}`);
  if (SYSTEMS.includes('janus')) parts.push(`janus_cpu_s_per_1k=${j ? fmt(j.cpuSPer1k, 4) : 'failed'}`);
  if (d && j) parts.push(`ratio=${fmt(d.cpuSPer1k / j.cpuSPer1k, 2)}`);
  if (d) parts.push(`dari_loss=${fmt(d.lossPct, 3)}%`);
  if (j) parts.push(`janus_loss=${fmt(j.lossPct, 3)}%`);
  if (d) parts.push(`dari_lat_p50=${fmt(d.latencyP50Ms)} dari_lat_p99=${fmt(d.latencyP99Ms)}`);
  if (j) parts.push(`janus_lat_p50=${fmt(j.latencyP50Ms)} janus_lat_p99=${fmt(j.latencyP99Ms)}`);
  if (d) parts.push(`dari_streams=${d.streamsSustained}/${d.streamsExpected} dari_cpu_pct=${d.serverCpuPct} dari_streams_per_core=${d.streamsPerCore}`);
  if (j) parts.push(`janus_streams=${j.streamsSustained}/${j.streamsExpected} janus_cpu_pct=${j.serverCpuPct} janus_streams_per_core=${j.streamsPerCore}`);
  const botPct = [d, j].filter(Boolean).map((r) => Math.max(...r.subscriberBotCpuPct));
  if (botPct.length) parts.push(`sub_bot_cpu_pct_max=${Math.max(...botPct)}`);
  console.log(parts.join(' '));
}

if (opt.compare) {
  // Before/after: the same figures of both builds and their ratio (after / before; < 1 is cheaper).
  for (const n of NS) {
    const b = get('dari-before', n);
    const a = get('dari', n);
    const parts = [`RESULT sfu-compare N=${n}`, `before_cpu_s_per_1k=${b ? fmt(b.cpuSPer1k, 4) : 'failed'}`, `after_cpu_s_per_1k=${a ? fmt(a.cpuSPer1k, 4) : 'failed'}`];
    if (a && b) parts.push(`after_over_before=${fmt(a.cpuSPer1k / b.cpuSPer1k, 3)}`, `each_round_before=${b.cpuSPer1kEach.map((x) => fmt(x, 4)).join('/')}`, `each_round_after=${a.cpuSPer1kEach.map((x) => fmt(x, 4)).join('/')}`);
    if (a && b) parts.push(`loss_before=${fmt(b.lossPct, 3)}% loss_after=${fmt(a.lossPct, 3)}% lat_p50_before=${fmt(b.latencyP50Ms)} lat_p50_after=${fmt(a.latencyP50Ms)} lat_p99_before=${fmt(b.latencyP99Ms)} lat_p99_after=${fmt(a.latencyP99Ms)} rss_mib_before=${Math.round((b.serverMemory?.rssBytes ?? 0) / 2 ** 20)} rss_mib_after=${Math.round((a.serverMemory?.rssBytes ?? 0) / 2 ** 20)}`);
    console.log(parts.join(' '));
  }
}

// Targets: cost ≤ 2× Janus; ≥ 500 subscriber streams per core at < 1 % loss.
const dariOk = results.filter((r) => r.system === 'dari' && r.ok);
const ratios = NS.map((n) => (get('dari', n) && get('janus', n) ? get('dari', n).cpuSPer1k / get('janus', n).cpuSPer1k : null)).filter((x) => x !== null);
const cleanDari = dariOk.filter((r) => r.lossPct < 1 && r.streamsSustained === r.streamsExpected);
// The derived figure from the largest N Dari carried cleanly (the fixed per-room cost is best amortised there).
const bestDari = cleanDari.sort((a, b) => b.n - a.n)[0];
const summary = ['RESULT sfu summary'];
if (ratios.length) summary.push(`ratio_min=${fmt(Math.min(...ratios))} ratio_max=${fmt(Math.max(...ratios))} target_ratio_le_2=${Math.max(...ratios) <= 2 ? 'met' : 'missed'}`);
if (SYSTEMS.includes('dari')) {
  summary.push(`dari_clean_max_n=${bestDari ? bestDari.n : 0} dari_streams_per_core=${bestDari?.streamsPerCore ?? '-'} target_500_streams_per_core=${bestDari?.streamsPerCore >= 500 ? 'met' : 'missed'}`);
}
if (SYSTEMS.includes('janus')) {
  const bestJanus = results.filter((r) => r.system === 'janus' && r.ok && r.lossPct < 1 && r.streamsSustained === r.streamsExpected).sort((a, b) => b.n - a.n)[0];
  summary.push(`janus_clean_max_n=${bestJanus ? bestJanus.n : 0} janus_streams_per_core=${bestJanus?.streamsPerCore ?? '-'}`);
}
console.log(summary.join(' '));
const builds = [...new Set(runs.filter((r) => r.dariBuild).map((r) => `${r.system}: ${r.dariBuild.saved ? `saved build ${r.dariBuild.saved}, ` : ''}HEAD ${r.dariBuild.head}${r.dariBuild.sourcesModified ? ' + uncommitted source changes' : ''} (dist built ${r.dariBuild.distBuilt}${r.dariBuild.snapshot ? ', snapshot' : ''})`))];
if (builds.length) console.log(`Dari measured: ${builds.join('; ')}${builds.length > (opt.compare ? 2 : 1) ? '  WARNING: packages/server/dist changed during the benchmark' : ''}`);
console.log(`reproduce: ${command}`);
const runsOut = runs.map(({ latencyHist, ...r }) => r);
console.log(`RESULT_JSON ${JSON.stringify({ command, date: new Date().toISOString(), cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, janus: SYSTEMS.includes('janus') ? janusVersion() : null, dariBuild: BUILD, pin: PIN, media: MEDIA, results, runs: runsOut })}`);
process.exit(0);
