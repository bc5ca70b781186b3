#!/usr/bin/env node
/**
 * bench/mcu: what an MCU room costs the server, against the GStreamer floor (the same composite
 * graph fed straight by gst-launch-1.0 senders) and against the same room in SFU mode, at 2, 4
 * and 6 participants (640×360, 15 frames/s); subscriber downlink, client decode CPU,
 * glass-to-glass latency through the mixer and time to the first composite frame. See README.md.
 *
 *   node bench/mcu/run.mjs [--n 2,4,6] [--modes floor,mcu,sfu] [--seconds 10] [--settle 3]
 *                          [--rounds 1] [--pin on] [--quiet-wait 15]
 */
import { createSocket } from 'node:dgram';
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { sleep } from '../sfu/servers.mjs';
import { devToken } from '../sfu/dari-bot.mjs';
import { ensureClip, startSender, startDecoder, startReader, startTap, readCounter, compositeTile, freeUdpPort, killMedia, gstVersion } from './media.mjs';
import { ROOT, comm, cpuSeconds, cpuTimes, descendants, pin, waitQuiet, startDari, startBots, killProcs } from './procs.mjs';

const { values: opt } = parseArgs({
  options: {
    n: { type: 'string', default: '2,4,6' },
    modes: { type: 'string', default: 'floor,mcu,sfu' },
    seconds: { type: 'string', default: '10' },
    settle: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '1' },
    pin: { type: 'string', default: 'on' },
    'quiet-wait': { type: 'string', default: '15' },
  },
});
const NS = opt.n.split(',').map(Number);
const MODES = opt.modes.split(',');
const SECONDS = Number(opt.seconds);
const SETTLE = Number(opt.settle);
const ROUNDS = Number(opt.rounds);
const PIN = opt.pin === 'on';
const SERVER_CPU = PIN ? 0 : null;
const CLIENT_CPU = PIN ? 1 : null;
const log = (...a) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a);
const r1 = (x) => (x == null || !Number.isFinite(x) ? null : Math.round(x * 10) / 10);
const r2 = (x) => (x == null || !Number.isFinite(x) ? null : Math.round(x * 100) / 100);
const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : null);
const FLOW_TIMEOUT_MS = 30_000;

for (const m of MODES) if (!['floor', 'mcu', 'sfu'].includes(m)) throw new Error(`--modes: unknown mode ${m}`);
for (const n of NS) if (!(n >= 2 && n <= 9)) throw new Error('--n: 2 … 9 participants');
if (!(SECONDS >= 2 && SECONDS <= 120)) throw new Error('--seconds: 2 … 120');
if (!(ROUNDS >= 1 && ROUNDS <= 5)) throw new Error('--rounds: 1 … 5');

/** Everything the probe's frames tell: latency per decoded frame, time to the first one. */
function latencyProbe(tap, tile) {
  const s = { frames: 0, reads: 0, firstFrameAt: null, samples: [], windowFrom: Infinity, windowTo: Infinity };
  s.onFrame = (gray, t) => {
    s.frames++;
    s.firstFrameAt ??= t;
    const c = readCounter(gray, tile);
    if (c === null) return;
    s.reads++;
    const sent = tap.sent.get(c);
    if (sent !== undefined && t >= s.windowFrom && t <= s.windowTo) s.samples.push(t - sent);
  };
  return s;
}

/** A UDP socket that copies every datagram to the given loopback ports (or drops it: no ports). */
async function relay(ports) {
  const sock = createSocket('udp4');
  sock.on('message', (m) => {
    for (const p of ports) sock.send(m, p, '127.0.0.1');
  });
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  return { port: sock.address().port, close: () => sock.close() };
}

async function waitFor(what, pred, timeoutMs = FLOW_TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

/** The measurement window: CPU of the server's processes, the decoder, the rest; downlink; latency. */
async function measure({ serverPids, decoder, others, probe, rxBytes }) {
  const foreignBefore = cpuTimes(0);
  // A process of the others may come and go (it counts 0 then); the server's and the decoder's may not.
  const sum = (pids) => pids.reduce((a, p) => a + (cpuSeconds(p) ?? 0), 0);
  const must = (pid) => {
    const c = cpuSeconds(pid);
    if (c === null) throw new Error(`process ${pid} exited during the measurement window`);
    return c;
  };
  const before = { server: serverPids.map(must), decoder: must(decoder.pid), others: sum(others()), rx: await rxBytes() };
  const t0 = performance.now();
  probe.windowFrom = t0;
  probe.windowTo = Infinity;
  await sleep(SECONDS * 1000);
  const after = { server: serverPids.map(must), decoder: must(decoder.pid), others: sum(others()), rx: await rxBytes() };
  const s = (performance.now() - t0) / 1000;
  probe.windowTo = performance.now();
  const foreignAfter = cpuTimes(0);
  const serverCpu = serverPids.map((_, i) => (100 * (after.server[i] - before.server[i])) / s);
  const total = serverCpu.reduce((a, b) => a + b, 0);
  const cpu0 = (100 * (foreignAfter.busy - foreignBefore.busy)) / (foreignAfter.total - foreignBefore.total);
  const rx = after.rx && before.rx ? after.rx.map((b, i) => (b - before.rx[i]) / s) : null;
  const lat = [...probe.samples].sort((a, b) => a - b);
  return {
    seconds: r2(s),
    serverCpuPct: r1(total),
    serverCpuPctParts: Object.fromEntries(serverPids.map((p, i) => [`${comm(p)}:${p}`, r1(serverCpu[i])])),
    decodeCpuPct: r1((100 * (after.decoder - before.decoder)) / s),
    clientSideCpuPct: r1((100 * (after.others - before.others)) / s),
    foreignCpu0Pct: PIN ? r1(Math.max(0, cpu0 - total)) : null,
    downlinkBytesPerS: rx ? Math.round(rx.reduce((a, b) => a + b, 0) / rx.length) : null,
    latencyMs: { p50: r1(pct(lat, 50)), p95: r1(pct(lat, 95)), max: r1(lat.at(-1)), samples: lat.length },
  };
}

/** The floor: the composite worker alone, fed by the senders (worker's CPU only). */
async function runFloor(n, clip) {
  const { CompositeMixer } = await import(`${ROOT}packages/media/dist/src/index.js`);
  const tap = await startTap();
  const probe = latencyProbe(tap, compositeTile(0, n));
  const readerPort = await freeUdpPort();
  const decoderPort = await freeUdpPort();
  const reader = startReader({ port: readerPort, onFrame: probe.onFrame });
  const decoder = startDecoder({ ports: [decoderPort] });
  const out = await relay([readerPort, decoderPort]);
  const discard = await relay([]);
  const senders = [];
  const mixer = new CompositeMixer({ width: 640, height: 360, fps: 15, maxBitrateBps: 1_500_000, python: '/usr/bin/python3' });
  try {
    await mixer.start();
    pin(mixer.pid, SERVER_CPU);
    for (let i = 0; i < n; i++) {
      await mixer.addParticipant(`p${i}`, `Participant ${i}`);
      const [videoPort, audioPort] = await Promise.all([mixer.addVideo(`p${i}`), mixer.addAudio(`p${i}`)]);
      await mixer.addOutput({ kind: 'audio', participant: `p${i}`, port: discard.port });
      senders.push(startSender({ clip, videoPort, audioPort, tapPort: i === 0 ? tap.port : undefined }));
    }
    const t0 = performance.now();
    await mixer.addOutput({ kind: 'video', port: out.port });
    await mixer.requestKeyframe();
    await waitFor('the probe in the composite', () => probe.reads > 5 && probe.firstFrameAt !== null);
    const firstFrameMs = probe.firstFrameAt - t0;
    await sleep(SETTLE * 1000);
    const stats = await mixer.stats();
    const m = await measure({ serverPids: [mixer.pid], decoder, others: () => [reader.pid, ...senders.map((x) => x.pid)], probe, rxBytes: async () => null });
    return { ...m, firstFrameMs: r1(firstFrameMs), reads: probe.reads, frames: probe.frames, encoded: stats.frames, bitrateBps: stats.bitrateBps };
  } finally {
    await mixer.stop().catch(() => undefined);
    [reader, decoder, ...senders].forEach((p) => p.stop());
    out.close();
    discard.close();
    tap.close();
  }
}

/** Dari's room (mcu or sfu), fed by werift publishers relaying the senders. */
async function runDari(mode, n, clip) {
  const dari = await startDari({ mode, cpu: SERVER_CPU });
  const bots = startBots();
  const tap = await startTap();
  const probe = latencyProbe(tap, mode === 'mcu' ? compositeTile(0, n) : [0, 0, 640, 360]);
  const readerPort = await freeUdpPort();
  const decoderPorts = await Promise.all(Array.from({ length: mode === 'mcu' ? 1 : n - 1 }, freeUdpPort));
  const reader = startReader({ port: readerPort, onFrame: probe.onFrame });
  const decoder = startDecoder({ ports: decoderPorts });
  const senders = [];
  try {
    pin(bots.pid, CLIENT_CPU);
    const room = `bench-${mode}-${n}`;
    let t0 = 0;
    for (let i = 0; i < n; i++) {
      const token = await devToken(dari.httpUrl, room, `p${i}`);
      const observer = i === n - 1;
      if (observer) t0 = performance.now();
      const observe = observer ? { readerPort, decoderPorts, probeStream: mode === 'mcu' ? 'dari-composite' : 'probe' } : undefined;
      const ports = await bots.call('join', { index: i, url: dari.url, token, streamId: i === 0 ? 'probe' : `p${i}`, observe });
      senders.push(startSender({ clip, videoPort: ports.video, audioPort: ports.audio, tapPort: i === 0 ? tap.port : undefined }));
    }
    await waitFor('the probe at the observer', () => probe.reads > 5);
    const firstFrameMs = probe.firstFrameAt - t0;
    const expected = mode === 'mcu' ? 1 : n - 1;
    await waitFor(`${expected} video track(s) at every subscriber`, async () => (await bots.call('stats')).videoTracks.every((v) => v >= expected));
    await sleep(SETTLE * 1000);
    const serverPids = [dari.pid, ...descendants(dari.pid)];
    const m = await measure({
      serverPids,
      decoder,
      others: () => [bots.pid, reader.pid, ...senders.map((x) => x.pid)],
      probe,
      rxBytes: async () => (await bots.call('stats')).rxBytes,
    });
    const st = await bots.call('stats');
    const observed = await bots.call('observed', { index: n - 1 });
    const dariProcessPct = Object.entries(m.serverCpuPctParts).find(([k]) => k.endsWith(`:${dari.pid}`))?.[1] ?? null;
    const workerPct = dariProcessPct === null ? null : r1(m.serverCpuPct - dariProcessPct);
    return { ...m, dariProcessPct, workerPct, observed: observed.streams, firstFrameMs: r1(firstFrameMs), reads: probe.reads, frames: probe.frames, serverPids: serverPids.length, botErrors: st.errors.slice(0, 5) };
  } finally {
    await bots.stop();
    [reader, decoder, ...senders].forEach((p) => p.stop());
    tap.close();
    await dari.stop();
  }
}

async function main() {
  if (PIN) pin(process.pid, CLIENT_CPU);
  const clip = ensureClip();
  const head = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  const dirty = execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--', 'packages'], { encoding: 'utf8' }).trim() !== '';
  log(`Dari ${head}${dirty ? ' (+ uncommitted changes)' : ''}, ${gstVersion()}, clip ${clip}`);
  const runs = [];
  let dariCommand = null;
  for (let round = 0; round < ROUNDS; round++) {
    for (const n of NS) {
      for (const mode of MODES) {
        const quiet = await waitQuiet(0, Number(opt['quiet-wait']));
        log(`round ${round + 1} N=${n} ${mode} (CPU 0 busy ${r1(quiet)} % before)`);
        let result;
        try {
          result = mode === 'floor' ? await runFloor(n, clip) : await runDari(mode, n, clip);
        } catch (err) {
          result = { error: err.message };
          log(`  failed: ${err.message}`);
        }
        runs.push({ round, n, mode, ...result });
        log(`  ${JSON.stringify(result)}`);
      }
    }
  }
  if (MODES.some((m) => m !== 'floor')) dariCommand = 'node packages/server/bin/dari.js serve --host 127.0.0.1 --port <free> --log-level warn --set sfu.mode=<mcu|sfu> --set sfu.announcedAddresses=\'["127.0.0.1"]\' --set turn.enabled=false --set mcu.width=640 --set mcu.height=360 --set mcu.fps=15';
  report(runs, { head, dirty, dariCommand });
}

function mean(runs, key) {
  const v = runs.map((r) => r[key]).filter((x) => Number.isFinite(x));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
}

function report(runs, { head, dirty, dariCommand }) {
  const lines = [];
  const byKey = (n, mode) => runs.filter((r) => r.n === n && r.mode === mode && !r.error);
  const summary = { dariOverFloor: [], mcu4Pct: null, mcuLatencyP50: [] };
  for (const n of NS) {
    const f = byKey(n, 'floor');
    const m = byKey(n, 'mcu');
    const s = byKey(n, 'sfu');
    const cpu = (rs) => mean(rs, 'serverCpuPct');
    const [fc, mc, sc] = [cpu(f), cpu(m), cpu(s)];
    const lat = (rs) => mean(rs.map((r) => ({ v: r.latencyMs?.p50 })), 'v');
    const dariOverFloor = fc && mc ? mc / fc : null;
    if (dariOverFloor !== null) summary.dariOverFloor.push(dariOverFloor);
    if (n === 4 && mc !== null) summary.mcu4Pct = mc;
    if (m.length) summary.mcuLatencyP50.push(lat(m));
    lines.push(
      `RESULT mcu N=${n} floor_cpu_pct=${r1(fc)} mcu_cpu_pct=${r1(mc)} sfu_cpu_pct=${r1(sc)}` +
        ` floor_per_participant=${r1(fc === null ? null : fc / n)} mcu_per_participant=${r1(mc === null ? null : mc / n)} sfu_per_participant=${r1(sc === null ? null : sc / n)}` +
        ` mcu_dari_process_pct=${r1(mean(m, 'dariProcessPct'))} mcu_worker_pct=${r1(mean(m, 'workerPct'))}` +
        ` dari_over_floor=${r2(dariOverFloor)} mcu_over_sfu=${r2(mc && sc ? mc / sc : null)}` +
        ` mcu_downlink_Bps=${Math.round(mean(m, 'downlinkBytesPerS') ?? NaN) || null} sfu_downlink_Bps=${Math.round(mean(s, 'downlinkBytesPerS') ?? NaN) || null}` +
        ` mcu_decode_cpu_pct=${r1(mean(m, 'decodeCpuPct'))} sfu_decode_cpu_pct=${r1(mean(s, 'decodeCpuPct'))}` +
        ` floor_lat_p50=${r1(lat(f))} mcu_lat_p50=${r1(lat(m))} sfu_lat_p50=${r1(lat(s))}` +
        ` mcu_lat_p95=${r1(mean(m.map((r) => ({ v: r.latencyMs?.p95 })), 'v'))}` +
        ` floor_first_frame_ms=${r1(mean(f, 'firstFrameMs'))} mcu_first_frame_ms=${r1(mean(m, 'firstFrameMs'))} sfu_first_frame_ms=${r1(mean(s, 'firstFrameMs'))}`,
    );
  }
  const worst = summary.dariOverFloor.length ? Math.max(...summary.dariOverFloor) : null;
  const latWorst = summary.mcuLatencyP50.length ? Math.max(...summary.mcuLatencyP50) : null;
  const verdict = (ok) => (ok === null ? 'n/a' : ok ? 'pass' : 'MISS');
  lines.push(
    `RESULT mcu summary dari_over_floor_max=${r2(worst)} (target <= 1.3: ${verdict(worst === null ? null : worst <= 1.3)})` +
      ` mcu_4p_cpu_pct=${r1(summary.mcu4Pct)} (target < 50 % of one core: ${verdict(summary.mcu4Pct === null ? null : summary.mcu4Pct < 50)})` +
      ` mcu_latency_p50_max_ms=${r1(latWorst)} (target <= 150: ${verdict(latWorst === null ? null : latWorst <= 150)})`,
  );
  lines.push(`Dari measured: ${head}${dirty ? ' + uncommitted changes under packages/' : ''}`);
  if (dariCommand) lines.push(`Dari server: ${dariCommand}`);
  lines.push(`reproduce: flock /tmp/dari-heavy.lock timeout 900 node bench/mcu/run.mjs --n ${NS.join(',')} --modes ${MODES.join(',')} --seconds ${SECONDS} --settle ${SETTLE} --rounds ${ROUNDS} --pin ${opt.pin}`);
  lines.push(`RESULT_JSON ${JSON.stringify({ head, dirty, runs })}`);
  console.log(lines.join('\n'));
}

const cleanup = () => {
  killMedia();
  killProcs();
};
process.on('SIGINT', () => (cleanup(), process.exit(130)));
process.on('SIGTERM', () => (cleanup(), process.exit(143)));
main().then(
  () => (cleanup(), process.exit(0)),
  (err) => {
    console.error(err);
    cleanup();
    process.exit(1);
  },
);
