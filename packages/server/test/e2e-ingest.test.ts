/**
 * RTSP ingest (issue #11 item 2) with GStreamer's RTSP server as the camera (test/fixtures/
 * rtsp_server.py: /cam H.264 constrained baseline with a keyframe every 10 s and Opus; /high H.264
 * High profile and AAC): bad requests
 * get 400/401/404; `dari ingress add|list|remove` drives the API; an unreachable camera ends
 * `failed` with a reason after bounded retries; a
 * camera added over REST (credentials in its URL, never shown) is decoded by Chromium (H.264 in
 * getStats) with its audio; a late joiner's first frame comes within 1 s though the camera's next
 * keyframe is seconds away (the kept keyframe); killing and restarting the RTSP server makes the
 * ingress reconnect and video resume; a High profile + AAC camera is transcoded (H.264
 * constrained baseline, Opus) and decoded too; G.711 cameras (PCMU, PCMA) have their audio passed
 * through and decoded as such; DELETE removes them. VLC (`cvlc` as an
 * unprivileged user, RTP over UDP, a looped H.264 + AAC clip: test/vlc-camera.ts) is the second
 * third-party RTSP server: its camera is decoded (H.264) and its audio arrives.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import type { RunningServer } from '../src/serve.js';
import { DEV_API_KEY, DEV_API_SECRET } from '../src/tokens.js';
import { devToken, testServer } from './helpers.js';
import { freeTcpPort, joinWithSdk, launchChromium, type Participant } from '@dari/testkit';
import { decodes } from './decoding.js';
import { startVlcCamera, type VlcCamera } from './vlc-camera.js';

const FIXTURE = fileURLToPath(new URL('../../test/fixtures/rtsp_server.py', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/dari.js', import.meta.url));
const run = promisify(execFile);
const AUTH = `Basic ${Buffer.from(`${DEV_API_KEY}:${DEV_API_SECRET}`).toString('base64')}`;

let server: RunningServer;
let browser: Browser;
let camera: ChildProcess | null = null;
let vlc: VlcCamera | null = null;

/** Starts the RTSP server on `port` (0: any); resolves with the port once it serves. */
function startCamera(port: number): Promise<number> {
  if (camera) return Promise.reject(new Error('an RTSP server is running already: stopCamera() first'));
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/python3', [FIXTURE, String(port), '300'], { stdio: ['ignore', 'pipe', 'inherit'] });
    camera = p;
    p.once('error', reject);
    p.once('exit', (code) => reject(new Error(`RTSP server exited (${code})`)));
    createInterface({ input: p.stdout! }).on('line', (line) => {
      const m = /^ready (\d+)/.exec(line);
      if (m) resolve(Number(m[1]));
    });
  });
}

function stopCamera(): Promise<void> {
  const p = camera;
  camera = null;
  if (!p || p.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    p.once('exit', () => resolve());
    p.kill('SIGKILL');
  });
}

async function api(method: string, path: string, body?: unknown, auth = AUTH): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.url}${path}`, { method, headers: { authorization: auth, 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

interface Listed {
  id: string;
  url: string;
  state: string;
  reason?: string;
  media?: { video?: string; audio?: string };
}


/** Polls GET /api/ingress until the ingress `id` is in `state`. */
async function waitState(id: string, state: string, timeoutMs = 20_000): Promise<Listed> {
  const deadline = Date.now() + timeoutMs;
  let last: Listed | undefined;
  while (Date.now() < deadline) {
    last = ((await api('GET', '/api/ingress')).body['ingresses'] as Listed[]).find((i) => i.id === id);
    if (last?.state === state) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`ingress ${id} not ${state}: ${JSON.stringify(last)}`);
}

/** Audio RTP packets `p` received so far on `from`'s microphone track, samples decoded from them, and their codec (getStats). */
async function audioFrom(p: Participant, from: string): Promise<{ packets: number; samples: number; mimeType: string }> {
  return p.page.evaluate(async (from) => {
    const w = window as unknown as { room: { getPeerConnection(k: string): RTCPeerConnection; remoteParticipants: Map<string, { getTrack(s: string): { track?: MediaStreamTrack } | undefined }> } };
    const id = w.room.remoteParticipants.get(from)?.getTrack('microphone')?.track?.id;
    type Stat = { type: string; kind?: string; trackIdentifier?: string; packetsReceived?: number; totalSamplesReceived?: number; concealedSamples?: number; codecId?: string; mimeType?: string };
    const report = (await w.room.getPeerConnection('sfu').getStats()) as unknown as Map<string, Stat>;
    const out = { packets: 0, samples: 0, mimeType: '' };
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio' && id !== undefined && s.trackIdentifier === id) {
        out.packets += s.packetsReceived ?? 0;
        out.samples += (s.totalSamplesReceived ?? 0) - (s.concealedSamples ?? 0);
        out.mimeType = report.get(s.codecId ?? '')?.mimeType ?? '';
      }
    });
    return out;
  }, from);
}

/** Waits until `p` has received audio from `from` (packets counted in getStats), and decoded some when `decoded`. */
async function receivesAudio(p: Participant, from: string, timeoutMs = 10_000, decoded = false): Promise<{ packets: number; samples: number; mimeType: string }> {
  const deadline = Date.now() + timeoutMs;
  let last = await audioFrom(p, from);
  while ((last.packets === 0 || (decoded && last.samples === 0)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    last = await audioFrom(p, from);
  }
  return last;
}

before(async () => {
  server = await testServer({ turn: { enabled: false }, ingressRetry: { initialDelayMs: 200, maxDelayMs: 800, maxAttempts: 8 } });
  browser = await launchChromium();
});
after(async () => {
  await stopCamera();
  await vlc?.stop();
  await browser?.close();
  await server?.close();
});

test('bad ingress requests get 400/401/404; an unreachable camera ends failed with a reason', { timeout: 60_000 }, async () => {
  let r = await api('POST', '/api/ingress', { room: 'x', url: 'http://127.0.0.1/cam', identity: 'c' });
  assert.equal(r.status, 400);
  assert.match(JSON.stringify(r.body), /url: only rtsp: and rtsps: URLs/);
  r = await api('POST', '/api/ingress', { room: 'x', url: 'rtsp://127.0.0.1/a b', identity: 'c' });
  assert.equal(r.status, 400, 'whitespace in a URL');
  r = await api('POST', '/api/ingress', { room: 'x', identity: 'c' });
  assert.equal(r.status, 400, 'no url');
  r = await api('POST', '/api/ingress', { room: 'x', url: 'rtsp://127.0.0.1/cam', identity: 'c' }, 'Basic bm86bm8=');
  assert.equal(r.status, 401);
  r = await api('DELETE', '/api/ingress/IN_nosuch');
  assert.equal(r.status, 404);
  // The same through `dari ingress`: a bad URL exits 1 naming it; a camera nobody answers for is
  // added, ends failed with a reason after bounded retries, and is removed.
  const cli = (...args: string[]) => run(process.execPath, [BIN, 'ingress', ...args, '--server', server.url]);
  await assert.rejects(cli('add', '--room', 'x', '--url', 'http://127.0.0.1/cam', '--identity', 'c'), (e: { code: number; stderr: string }) => e.code === 1 && /url: only rtsp: and rtsps:/.test(e.stderr));
  const t0 = Date.now();
  const added = JSON.parse((await cli('add', '--room', 'x', '--url', 'rtsp://127.0.0.1:1/cam', '--identity', 'nocam')).stdout) as Listed;
  assert.equal(added.state, 'connecting');
  const failed = await waitState(added.id, 'failed');
  assert.ok(failed.reason && failed.reason.length > 0, 'a reason');
  assert.ok(Date.now() - t0 < 30_000, 'bounded retries');
  // Only a failed camera left: no pull worker stays (not even the warm spare).
  const pullWorkers = async () => (await run('pgrep', ['-P', String(process.pid), '-f', 'rtsp_pull']).catch(() => ({ stdout: '' }))).stdout.trim();
  for (let i = 0; i < 100 && (await pullWorkers()) !== ''; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(await pullWorkers(), '', 'no rtsp_pull worker left for a failed camera');
  const listed = (JSON.parse((await cli('list')).stdout) as { ingresses: Listed[] }).ingresses;
  assert.deepEqual(listed.map((i) => [i.id, i.state]), [[added.id, 'failed']]);
  await cli('remove', '--id', added.id);
  assert.deepEqual((await api('GET', '/api/ingress')).body['ingresses'], []);
});

test('an RTSP camera is decoded in Chromium (H.264, audio), a late joiner gets a picture within 1 s, it reconnects after the server restarts; High+AAC is transcoded, G.711 passes through', { timeout: 120_000 }, async (t) => {
  const port = await startCamera(0);
  const room = 'lobby';
  const ps: Participant[] = [];
  try {
    const viewer = await joinWithSdk(browser, server.url, server.url, await devToken(room, 'guard'), 'guard', false);
    ps.push(viewer);
    const r = await api('POST', '/api/ingress', { room, url: `rtsp://admin:s3cret-pw@127.0.0.1:${port}/cam`, identity: 'cam', name: 'Lobby camera' });
    assert.equal(r.status, 201);
    const id = String(r.body['id']);
    assert.equal(r.body['url'], `rtsp://***@127.0.0.1:${port}/cam`, 'credentials are not returned');
    await waitState(id, 'active');
    const listed = JSON.stringify((await api('GET', '/api/ingress')).body);
    assert.ok(!listed.includes('s3cret'), 'nor listed');
    const got = await decodes(viewer, 'cam');
    assert.equal(got.mimeType, 'video/H264');
    const audio = await viewer.page.evaluate(async () => {
      const w = window as unknown as { room: { getPeerConnection(k: string): RTCPeerConnection } };
      let packets = 0;
      (await w.room.getPeerConnection('sfu').getStats()).forEach((s: { type: string; kind?: string; packetsReceived?: number }) => {
        if (s.type === 'inbound-rtp' && s.kind === 'audio') packets += s.packetsReceived ?? 0;
      });
      return packets;
    });
    assert.ok(audio > 0, `the camera's audio arrives (${audio} packets)`);
    const state = await viewer.page.evaluate(() => (window as unknown as { room: { remoteParticipants: Map<string, { info: { ingress?: unknown; name: string } }> } }).room.remoteParticipants.get('cam')?.info);
    assert.deepEqual({ name: state?.name, ingress: state?.ingress }, { name: 'Lobby camera', ingress: { type: 'rtsp', state: 'active' } });

    // The camera's next keyframe is up to 10 s away: the late joiner's picture is the kept one.
    const late = await joinWithSdk(browser, server.url, server.url, await devToken(room, 'late'), 'late', false);
    ps.push(late);
    const lateGot = await decodes(late, 'cam');
    assert.equal(lateGot.mimeType, 'video/H264');
    t.diagnostic(`late joiner: first frame ${lateGot.firstFrameMs} ms after its subscriber leg connected`);
    assert.ok(lateGot.firstFrameMs <= 1000, `late joiner's first frame after ${lateGot.firstFrameMs} ms`);
    assert.ok(server.sfu.metrics().keyframeReplays > 0, 'a kept keyframe was replayed');

    // The RTSP server dies and comes back on the same port: the ingress reconnects, video resumes.
    await stopCamera();
    const down = await waitState(id, 'reconnecting');
    assert.ok(!JSON.stringify(down).includes('s3cret'));
    await startCamera(port);
    await waitState(id, 'active', 30_000);
    await decodes(viewer, 'cam');

    assert.deepEqual((await waitState(id, 'active')).media, { video: 'H264 passthrough', audio: 'OPUS passthrough' });

    // H.264 High profile and AAC: transcoded (constrained baseline, Opus); Chromium decodes both.
    const hi = await api('POST', '/api/ingress', { room, url: `rtsp://127.0.0.1:${port}/high`, identity: 'hicam' });
    assert.equal(hi.status, 201);
    await waitState(String(hi.body['id']), 'active');
    assert.equal((await decodes(viewer, 'hicam')).mimeType, 'video/H264');
    const hiAudio = await audioFrom(viewer, 'hicam');
    assert.ok(hiAudio.packets > 0, `the AAC camera's audio arrives as Opus (${hiAudio.packets} packets)`);
    const hiListed = ((await api('GET', '/api/ingress')).body['ingresses'] as (Listed & { media: unknown })[]).find((i) => i.id === hi.body['id']);
    assert.deepEqual(hiListed?.media, { video: 'H264 transcoded', audio: 'MPEG4-GENERIC transcoded' });
    assert.equal((await api('DELETE', `/api/ingress/${String(hi.body['id'])}`)).status, 200);

    // G.711 cameras: their audio is passed through (the SFU forwards PCMU/PCMA, Chromium decodes it).
    const g711 = await Promise.all(['pcmu', 'pcma'].map((law) => api('POST', '/api/ingress', { room, url: `rtsp://127.0.0.1:${port}/${law}`, identity: `${law}cam` })));
    for (const [i, law] of ['PCMU', 'PCMA'].entries()) {
      const gid = String(g711[i]!.body['id']);
      assert.equal(g711[i]!.status, 201);
      await waitState(gid, 'active');
      const heard = await receivesAudio(viewer, `${law.toLowerCase()}cam`, 10_000, true);
      assert.equal(heard.mimeType, `audio/${law}`, `${law} reaches Chromium as ${law}`);
      assert.ok(heard.samples > 0, `and is decoded (${heard.packets} packets, ${heard.samples} samples)`);
      assert.deepEqual((await waitState(gid, 'active')).media, { video: 'H264 passthrough', audio: `${law} passthrough` });
      assert.equal((await api('DELETE', `/api/ingress/${gid}`)).status, 200);
    }

    assert.equal((await api('DELETE', `/api/ingress/${id}`)).status, 200);
    await viewer.page.waitForFunction(() => !(window as unknown as { room: { remoteParticipants: Map<string, unknown> } }).room.remoteParticipants.has('cam'), undefined, { timeout: 10_000 });
    assert.deepEqual((await api('GET', '/api/ingress')).body['ingresses'], []);
  } finally {
    for (const p of ps) await p.page.context().close();
  }
});

test('VLC as a camera (cvlc as an unprivileged user, RTSP with RTP over UDP, H.264 + AAC): decoded in Chromium, its audio arrives', { timeout: 60_000 }, async () => {
  const room = 'vlcroom';
  let viewer: Participant | undefined;
  try {
    const started = startVlcCamera().then((c) => (vlc = c)); // ffmpeg and VLC start while the viewer joins
    viewer = await joinWithSdk(browser, server.url, server.url, await devToken(room, 'watcher'), 'watcher', false);
    const { url } = await started;
    const r = await api('POST', '/api/ingress', { room, url, identity: 'vlccam', name: 'VLC' });
    assert.equal(r.status, 201);
    const id = String(r.body['id']);
    const active = await waitState(id, 'active');
    assert.equal(active.media?.video, 'H264 passthrough');
    assert.equal((await decodes(viewer, 'vlccam')).mimeType, 'video/H264');
    const audio = await receivesAudio(viewer, 'vlccam');
    assert.ok(audio.packets > 0, `VLC's audio arrives (${audio.packets} packets, ${audio.mimeType})`);
    assert.deepEqual((await waitState(id, 'active')).media, { video: 'H264 passthrough', audio: 'MPEG4-GENERIC transcoded' });
    assert.equal((await api('DELETE', `/api/ingress/${id}`)).status, 200);
  } finally {
    await viewer?.page.context().close();
    await vlc?.stop();
    vlc = null;
  }
});

test('a WHEP viewer of a camera started before the camera connects gets its video and, as a late track, its G.711 audio', { timeout: 60_000 }, async () => {
  const port = await freeTcpPort();
  const room = 'whepcam';
  const r = await api('POST', '/api/ingress', { room, url: `rtsp://127.0.0.1:${port}/pcmu`, identity: 'door' });
  assert.equal(r.status, 201);
  const id = String(r.body['id']);
  const context = await browser.newContext();
  try {
    // Nothing answers on the camera's port yet: the ingress publishes its video, no audio so far.
    const page = await context.newPage();
    const offer = await page.evaluate(async () => {
      const pc = new RTCPeerConnection();
      (window as unknown as { pc: RTCPeerConnection }).pc = pc;
      // Played, as a player does: Chromium decodes received audio only for a sink.
      pc.ontrack = (e) => {
        const el = document.createElement(e.track.kind === 'video' ? 'video' : 'audio');
        el.muted = true;
        el.srcObject = new MediaStream([e.track]);
        document.body.append(el);
        void el.play().catch(() => undefined);
      };
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      await pc.setLocalDescription();
      await new Promise<void>((resolve) => {
        if (pc.iceGatheringState === 'complete') resolve();
        pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
        setTimeout(resolve, 3000);
      });
      return pc.localDescription!.sdp;
    });
    const token = await devToken(room, 'player');
    const res = await fetch(`${server.url}/whep/door`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/sdp' }, body: offer });
    assert.equal(res.status, 201);
    const answer = await res.text();
    assert.match(answer, /m=audio [^\r\n]* 0 8/, 'the audio section is answered with the G.711 payload types, for a track to come');
    assert.deepEqual((await waitState(id, 'connecting')).media, {}, 'no media seen yet');
    await page.evaluate((sdp) => (window as unknown as { pc: RTCPeerConnection }).pc.setRemoteDescription({ type: 'answer', sdp }), answer);
    await stopCamera(); // the earlier test's RTSP server, on another port
    await startCamera(port);
    await waitState(id, 'active', 30_000);
    const got = await page.evaluate(async () => {
      const pc = (window as unknown as { pc: RTCPeerConnection }).pc;
      type Stat = { type: string; kind?: string; framesDecoded?: number; totalSamplesReceived?: number; concealedSamples?: number; codecId?: string; mimeType?: string };
      const deadline = Date.now() + 15_000;
      let out = { video: '', frames: 0, audio: '', samples: 0 };
      while (Date.now() < deadline) {
        const report = (await pc.getStats()) as unknown as Map<string, Stat>;
        out = { video: '', frames: 0, audio: '', samples: 0 };
        report.forEach((s) => {
          if (s.type !== 'inbound-rtp') return;
          const mime = report.get(s.codecId ?? '')?.mimeType ?? '';
          if (s.kind === 'video') out = { ...out, video: mime, frames: s.framesDecoded ?? 0 };
          if (s.kind === 'audio') out = { ...out, audio: mime, samples: (s.totalSamplesReceived ?? 0) - (s.concealedSamples ?? 0) };
        });
        if (out.frames > 5 && out.samples > 0) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      return out;
    });
    assert.equal(got.video, 'video/H264');
    assert.ok(got.frames > 5, `video decoded (${got.frames} frames)`);
    assert.equal(got.audio, 'audio/PCMU', 'the late audio track arrives in its own codec');
    assert.ok(got.samples > 0, `and is decoded (${got.samples} samples)`);
    const location = res.headers.get('location');
    assert.ok(location);
    assert.equal((await fetch(new URL(location, server.url), { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })).status, 200);
  } finally {
    await context.close();
    await api('DELETE', `/api/ingress/${id}`);
    await stopCamera();
  }
});
