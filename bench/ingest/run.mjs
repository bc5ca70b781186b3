#!/usr/bin/env node
/**
 * bench/ingest (issue #11): Dari's RTSP ingest against Janus's Streaming plugin (`rtsp`
 * mountpoints, Debian's janus 1.1.2) on the same RTSP source, GStreamer's RTSP server
 * (packages/server/test/fixtures/rtsp_server.py: /cam H.264 constrained baseline + Opus, /high
 * H.264 High + AAC, a keyframe every `--keyint` frames at 30 fps).
 *
 * 1. CPU per camera: `--cameras` N ingresses (Dari: POST /api/ingress; Janus: create rtsp
 *    mountpoints) of one source, no viewers, after a 3 s warm-up, over `--window` s: Dari is
 *    `dari serve` plus its pull workers (rtsp_pull.py), Janus its one process. Passthrough is
 *    /cam; "transcoded" is /high, which Dari transcodes (x264 constrained baseline, AAC -> Opus)
 *    while Janus, which never transcodes, relays it as it is (video only: browsers cannot decode
 *    AAC): the ratio there is the price of transcoding, no target.
 * 2. Time to first frame: from the start of the ingest (Dari: POST /api/ingress, then the viewer's
 *    WHEP session; Janus: create the mountpoint, then watch/start) to the first video frame
 *    Chromium decodes; `--rounds` rounds each, Dari and Janus alternating, fresh camera each time.
 * Targets: passthrough CPU <= 1.0x Janus; first frame no later than Janus (medians).
 * Every loop is bounded; every process started here is killed on exit.
 *
 *   npm run build && flock /tmp/dari-heavy.lock node bench/ingest/run.mjs [--cameras 4] [--window 15] [--rounds 5] [--keyint 30]
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ROOT, cpuSeconds, killAll, sleep, startDari, janusVersion } from '../sfu/servers.mjs';
import { startJanusStreaming } from './janus-streaming.mjs';
import { startViewer } from './viewer.mjs';

const { values: opt } = parseArgs({
  options: {
    cameras: { type: 'string', default: '4' },
    window: { type: 'string', default: '15' },
    rounds: { type: 'string', default: '5' },
    keyint: { type: 'string', default: '30' },
  },
});
const bounded = (name, lo, hi) => {
  const v = Number(opt[name]);
  if (!Number.isInteger(v) || v < lo || v > hi) throw new Error(`--${name}: an integer from ${lo} to ${hi}`);
  return v;
};
const CAMERAS = bounded('cameras', 1, 8);
const WINDOW_S = bounded('window', 3, 120);
const ROUNDS = bounded('rounds', 1, 20);
const KEYINT = bounded('keyint', 1, 300);
const COMMAND = `flock /tmp/dari-heavy.lock node bench/ingest/run.mjs --cameras ${CAMERAS} --window ${WINDOW_S} --rounds ${ROUNDS} --keyint ${KEYINT}`;

const { mintToken, DEV_API_KEY, DEV_API_SECRET } = await import(`${ROOT}packages/server/dist/src/index.js`);
const AUTH = `Basic ${Buffer.from(`${DEV_API_KEY}:${DEV_API_SECRET}`).toString('base64')}`;
const ROOM = 'bench-ingest';

async function startRtspServer() {
  const p = spawn('/usr/bin/python3', [`${ROOT}packages/server/test/fixtures/rtsp_server.py`, '0', String(KEYINT)], { stdio: ['ignore', 'pipe', 'inherit'] });
  process.on('exit', () => p.kill('SIGKILL'));
  const port = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('RTSP server: not ready after 10 s')), 10_000);
    p.once('exit', (code) => reject(new Error(`RTSP server exited (${code})`)));
    createInterface({ input: p.stdout }).on('line', (line) => {
      const m = /^ready (\d+)/.exec(line);
      if (m) (clearTimeout(t), resolve(Number(m[1])));
    });
  });
  return { pid: p.pid, base: `rtsp://127.0.0.1:${port}`, stop: () => p.kill('SIGKILL') };
}

/** The pids of `dari serve` and its child processes (the pull workers). */
function dariPids(pid) {
  try {
    return [pid, ...readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)];
  } catch {
    return [pid];
  }
}

/** CPU-seconds used by `pids` (sampled now, each by pid). */
const cpuOf = (pids) => new Map(pids.map((p) => [p, cpuSeconds(p)]));
/** Percent of one core used between two samples over `seconds`, processes alive in both. */
function corePercent(a, b, seconds) {
  let used = 0;
  for (const [pid, end] of b) if (end !== null && a.get(pid) != null) used += end - a.get(pid);
  return (used / seconds) * 100;
}

async function api(dari, method, path, body) {
  const res = await fetch(`${dari.httpUrl}${path}`, { method, headers: { authorization: AUTH, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function waitActive(dari, ids, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const list = (await api(dari, 'GET', '/api/ingress')).ingresses;
    if (ids.every((id) => list.find((i) => i.id === id)?.state === 'active')) return list.filter((i) => ids.includes(i.id));
    await sleep(200);
  }
  throw new Error(`ingresses not active after ${timeoutMs} ms`);
}

/** CPU per camera, % of a core: Dari. */
async function dariCpu(dari, url) {
  const ids = [];
  for (let i = 0; i < CAMERAS; i++) ids.push((await api(dari, 'POST', '/api/ingress', { room: ROOM, url, identity: `cpu${i}` })).id);
  const listed = await waitActive(dari, ids);
  await sleep(3000);
  const pids = dariPids(dari.pid);
  const a = cpuOf(pids);
  await sleep(WINDOW_S * 1000);
  const b = cpuOf(pids);
  for (const id of ids) await api(dari, 'DELETE', `/api/ingress/${id}`);
  const server = corePercent(new Map([[dari.pid, a.get(dari.pid)]]), new Map([[dari.pid, b.get(dari.pid)]]), WINDOW_S) / CAMERAS;
  return { perCamera: corePercent(a, b, WINDOW_S) / CAMERAS, server, media: listed[0].media, workers: pids.length - 1 };
}

/** CPU per camera, % of a core: Janus. */
async function janusCpu(janus, url, audio) {
  const ids = Array.from({ length: CAMERAS }, (_, i) => 7000 + i);
  for (const id of ids) await janus.createRtsp(id, url, { audio });
  await sleep(3000);
  const a = cpuOf([janus.pid]);
  await sleep(WINDOW_S * 1000);
  const b = cpuOf([janus.pid]);
  for (const id of ids) await janus.destroy(id);
  return { perCamera: corePercent(a, b, WINDOW_S) / CAMERAS };
}

async function dariFirstFrame(dari, viewer, url, n) {
  const token = await mintToken({ apiKey: DEV_API_KEY, apiSecret: DEV_API_SECRET, room: ROOM, identity: `viewer${n}` });
  const t0 = Date.now();
  const { id } = await api(dari, 'POST', '/api/ingress', { room: ROOM, url, identity: `ff${n}` });
  const offer = await viewer.offer();
  const res = await fetch(`${dari.httpUrl}/whep/ff${n}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/sdp' }, body: offer });
  if (res.status !== 201) throw new Error(`WHEP: ${res.status} ${await res.text()}`);
  await viewer.accept(await res.text());
  const { at, mimeType } = await viewer.firstFrame();
  await viewer.close();
  await fetch(new URL(res.headers.get('location'), dari.httpUrl), { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
  await api(dari, 'DELETE', `/api/ingress/${id}`);
  return { ms: at - t0, mimeType };
}

async function janusFirstFrame(janus, viewer, url, n) {
  const id = 8000 + n;
  const t0 = Date.now();
  await janus.createRtsp(id, url);
  const h = await janus.watch(id, (sdp) => viewer.answer(sdp));
  const { at, mimeType } = await viewer.firstFrame();
  await viewer.close();
  await janus.detach(h);
  await janus.destroy(id);
  return { ms: at - t0, mimeType };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const f1 = (x) => x.toFixed(1);

async function main() {
  const version = janusVersion();
  if (!version) throw new Error('Janus is not installed: apt install janus');
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`bench/ingest: ${CAMERAS} cameras, ${WINDOW_S} s CPU windows, ${ROUNDS} first-frame rounds, keyframe every ${KEYINT} frames (30 fps); Janus ${version}; load ${load}`);
  const rtsp = await startRtspServer();
  const dari = await startDari();
  const janus = await startJanusStreaming();
  const viewer = await startViewer();
  try {
    const rows = [];
    for (const [mode, path] of [['passthrough', '/cam'], ['transcoded', '/high']]) {
      const d = await dariCpu(dari, `${rtsp.base}${path}`);
      const j = await janusCpu(janus, `${rtsp.base}${path}`, mode === 'passthrough');
      rows.push({ mode, dari: d.perCamera, janus: j.perCamera, ratio: d.perCamera / j.perCamera });
      console.log(`CPU per camera, ${mode} (${path}; Dari ${JSON.stringify(d.media)}): Dari ${f1(d.perCamera)} % of a core (server ${f1(d.server)} %, ${d.workers} pull workers ${f1(d.perCamera - d.server)} %), Janus ${f1(j.perCamera)} %, ratio ${(d.perCamera / j.perCamera).toFixed(2)}x`);
    }
    const ff = { dari: [], janus: [] };
    for (let n = 0; n < ROUNDS; n++) {
      const order = n % 2 === 0 ? ['dari', 'janus'] : ['janus', 'dari'];
      for (const who of order) {
        const r = who === 'dari' ? await dariFirstFrame(dari, viewer, `${rtsp.base}/cam`, n) : await janusFirstFrame(janus, viewer, `${rtsp.base}/cam`, n);
        ff[who].push(r.ms);
        console.log(`  round ${n + 1} ${who}: first frame ${Math.round(r.ms)} ms (${r.mimeType})`);
      }
    }
    const fd = median(ff.dari);
    const fj = median(ff.janus);
    const pass = rows[0];
    console.log('\nsummary');
    console.log(`  passthrough CPU per camera: Dari ${f1(pass.dari)} % vs Janus ${f1(pass.janus)} % = ${pass.ratio.toFixed(2)}x (target <= 1.0x): ${pass.ratio <= 1 ? 'PASS' : 'MISS'}`);
    console.log(`  transcoded CPU per camera:  Dari ${f1(rows[1].dari)} % vs Janus relaying ${f1(rows[1].janus)} % = ${rows[1].ratio.toFixed(2)}x (no target: Janus does not transcode)`);
    console.log(`  first frame (median of ${ROUNDS}): Dari ${Math.round(fd)} ms [${ff.dari.map(Math.round).join(', ')}] vs Janus ${Math.round(fj)} ms [${ff.janus.map(Math.round).join(', ')}] = ${(fd / fj).toFixed(2)}x (target: no later): ${fd <= fj ? 'PASS' : 'MISS'}`);
    console.log(`  reproduce: npm run build && ${COMMAND}`);
  } finally {
    await viewer.stop().catch(() => undefined);
    await janus.stop().catch(() => undefined);
    await dari.stop();
    rtsp.stop();
    killAll();
  }
}

const guard = setTimeout(() => {
  console.error('bench/ingest: over its 15-minute bound, stopping');
  process.exit(2);
}, 15 * 60_000);
guard.unref();
main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
