/**
 * Recording over REST (issue #10, egress) in a running `dari serve` with Chromium: a P2P (auto)
 * room with one participant whose fake camera is solid red is brought to the SFU while it
 * records; a room-composite recording stopped with DELETE is a finalized webm (VP8 + Opus) whose
 * duration matches and whose frames are red; when the room empties, an mp4 room composite
 * (H.264 + AAC, duration within 20 %) and a track recording stop by themselves, finalized; a
 * room-composite recording is finalized when the server shuts down; the room goes back to its
 * policy. Every bad-input case of the issue gets its typed error; an egress that cannot start is
 * a 500, listed as failed, and ended egresses are pruned from the list.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser } from 'playwright-core';
import { joinWithSdk, launchChromium } from '@dari/testkit';
import type { RunningServer } from '../src/serve.js';
import type { EgressInfo } from '../src/egress/egress-types.js';
import { devToken, testServer } from './helpers.js';
import { solidY4m, until } from './media-helpers.js';
import { DEV_API_KEY, DEV_API_SECRET } from '../src/tokens.js';
import { runEgress } from '../src/egress/command.js';

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'dari-egress-'));
const auth = `Basic ${Buffer.from(`${DEV_API_KEY}:${DEV_API_SECRET}`).toString('base64')}`;
let server: RunningServer;
let browser: Browser;

async function api(method: string, path: string, body?: unknown, base = server.url): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(`${base}${path}`, { method, headers: { authorization: auth, 'content-type': 'application/json' }, ...(body !== undefined && { body: JSON.stringify(body) }) });
  return { status: res.status, body: await res.json() };
}

async function ffprobe(path: string): Promise<{ format: { duration?: string }; streams: { codec_type: string; codec_name: string }[] }> {
  const { stdout } = await exec('ffprobe', ['-v', 'error', '-show_format', '-show_streams', '-of', 'json', path]);
  return JSON.parse(stdout);
}

/** The average RGB of the middle third of the frame at `atS` seconds. */
async function middleColour(path: string, atS: number, width: number, height: number): Promise<number[]> {
  const { stdout } = await exec('ffmpeg', ['-v', 'error', '-ss', String(atS), '-i', path, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { encoding: 'buffer', maxBuffer: 16 << 20 });
  const sum = [0, 0, 0];
  let n = 0;
  for (let y = Math.floor(height / 3); y < Math.floor((2 * height) / 3); y++) {
    for (let x = Math.floor(width / 3); x < Math.floor((2 * width) / 3); x++) {
      for (let c = 0; c < 3; c++) sum[c]! += stdout[(y * width + x) * 3 + c]!;
      n++;
    }
  }
  return sum.map((s) => Math.round(s / n));
}

before(async () => {
  server = await testServer({ turn: { enabled: false }, recording: { dir }, mcu: { width: 320, height: 240, fps: 15, maxWorkers: 3 }, signaling: { reconnectGraceMs: 1000 } });
  const y4m = join(dir, 'red.y4m');
  solidY4m(y4m, [255, 0, 0]);
  browser = await launchChromium([`--use-file-for-fake-video-capture=${y4m}`]);
});
after(async () => {
  await browser?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('bad egress requests get typed errors naming the field; no request chooses a path', async () => {
  const noAuth = await fetch(`${server.url}/api/egress`, { method: 'POST', body: '{}' });
  assert.equal(noAuth.status, 401);
  const cases: [unknown, number, string, RegExp][] = [
    [{ room: 'x', type: 'mix' }, 400, 'INVALID_REQUEST', /^type:/],
    [{ room: 'x', type: 'room-composite', format: 'avi' }, 400, 'INVALID_REQUEST', /^format:/],
    [{ room: 'x', type: 'room-composite', file: '../../etc/passwd' }, 400, 'INVALID_REQUEST', /^file:/],
    [{ type: 'room-composite' }, 400, 'INVALID_REQUEST', /^room:/],
    [{ room: 'no-such-room', type: 'room-composite' }, 404, 'ROOM_NOT_FOUND', /no-such-room/],
  ];
  for (const [body, status, code, message] of cases) {
    const r = await api('POST', '/api/egress', body);
    assert.equal(r.status, status, JSON.stringify(body));
    assert.equal(r.body.error.code, code);
    assert.match(r.body.error.message, message);
  }
  for (const path of ['/api/egress/EG_000000000000', '/api/egress/..%2F..%2Fetc']) {
    const r = await api('DELETE', path);
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, 'EGRESS_NOT_FOUND');
  }
  // The CLI says the typed error and exits 1.
  const said: string[] = [];
  const keys = ['--api-key', DEV_API_KEY, '--api-secret', DEV_API_SECRET, '--server', server.url];
  assert.equal(await runEgress(['stop', '--id', 'EG_000000000000', ...keys], (s) => said.push(s), (s) => said.push(s)), 1);
  assert.match(said.join(''), /EGRESS_NOT_FOUND/);
  // Without GStreamer (a Python that does not exist), recording is refused and says what to install.
  const bare = await testServer({ turn: { enabled: false }, recording: { dir }, mcu: { python: join(dir, 'no-python') } });
  try {
    const r = await api('POST', '/api/egress', { room: 'x', type: 'room-composite' }, bare.url);
    assert.equal(r.status, 503);
    assert.equal(r.body.error.code, 'GSTREAMER_UNAVAILABLE');
    assert.match(r.body.error.message, /apt-get install .*python3-gst-1\.0/);
  } finally {
    await bare.close();
  }
  // An egress that cannot start (its directory is under a file: ENOTDIR) is a 500 naming why, and
  // is listed as failed; past recording.keepEnded the oldest ended ones leave the list.
  writeFileSync(join(dir, 'a-file'), '');
  const broken = await testServer({ turn: { enabled: false }, recording: { dir: join(dir, 'a-file', 'rec'), keepEnded: 2 }, mcu: { width: 320, height: 240 } });
  try {
    await joinWithSdk(browser, broken.url, broken.wsUrl, await devToken('x', 'carol'), 'carol', false);
    await until('carol in the room', () => broken.signaling.core.roomInfo('x')?.length ?? 0, (n) => n === 1);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await api('POST', '/api/egress', { room: 'x', type: 'room-composite' }, broken.url);
      assert.equal(r.status, 500, JSON.stringify(r.body));
      assert.equal(r.body.error.code, 'EGRESS_FAILED');
      assert.match(r.body.error.message, /ENOTDIR/);
      ids.push(/EG_[0-9a-f]{12}/.exec(r.body.error.message)![0]);
    }
    const listed = (await api('GET', '/api/egress', undefined, broken.url)).body.egresses as EgressInfo[];
    assert.deepEqual(listed.map((e) => e.egressId).sort(), ids.slice(1).sort(), 'the two latest of three');
    assert.ok(listed.every((e) => e.status === 'failed' && /ENOTDIR/.test(e.reason ?? '')), JSON.stringify(listed));
  } finally {
    await broken.close();
  }
});

test('a P2P room records: a room-composite webm finalized on DELETE; an mp4 composite and a track stop when the room empties; shutdown finalizes a recording', { timeout: 90_000 }, async () => {
  const alice = await joinWithSdk(browser, server.url, server.wsUrl, await devToken('rec', 'alice', { name: 'Alice' }), 'alice');
  await alice.page.evaluate(() => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const w = window as any;
    w.recordingEvents = [];
    w.room.on('recordingStatusChanged', (on: boolean) => w.recordingEvents.push(on));
  });
  await until('alice in the room', () => server.signaling.core.roomInfo('rec')?.length ?? 0, (n) => n === 1);
  assert.equal(server.signaling.core.roomMode('rec'), 'p2p');

  const started = await api('POST', '/api/egress', { room: 'rec', type: 'room-composite' });
  assert.equal(started.status, 200, JSON.stringify(started.body));
  const composite = started.body as EgressInfo;
  assert.match(composite.egressId, /^EG_[0-9a-f]{12}$/);
  assert.equal(composite.file, join(dir, `${composite.egressId}.webm`));
  assert.equal(server.signaling.core.roomMode('rec'), 'sfu', 'the room is brought to the SFU while it records');
  // Everyone in the room is told (the SDK's recordingStatusChanged; the meeting app's REC indicator).
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  await until('Alice told of the recording', () => alice.page.evaluate(() => (window as any).recordingEvents as boolean[]), (e) => e.length === 1 && e[0] === true);

  // Alice publishes to the SFU now: record her video track too (by the sid the room lists).
  const video = await until('alice\'s video on the SFU', () => server.sfu.publications('rec').find((p) => p.participant === 'alice' && p.kind === 'video'), Boolean);
  const info = await api('GET', '/api/rooms?room=rec');
  const sid = info.body.participants[0].tracks.find((t: { kind: string; streamId: string }) => t.kind === 'video' && t.streamId === video!.streamId).sid as string;
  assert.equal((await api('POST', '/api/egress', { room: 'rec', type: 'track', track: 'TR_nope' })).body.error.code, 'TRACK_NOT_FOUND');
  assert.match((await api('POST', '/api/egress', { room: 'rec', type: 'track', track: sid, format: 'mp4' })).body.error.message, /^format:/);
  const trackStart = await api('POST', '/api/egress', { room: 'rec', type: 'track', track: sid });
  assert.equal(trackStart.status, 200, JSON.stringify(trackStart.body));
  const track = trackStart.body as EgressInfo;
  // Three workers (composite + its recorder + the track's recorder) is mcu.maxWorkers.
  const refused = await api('POST', '/api/egress', { room: 'rec', type: 'track', track: sid });
  assert.equal(refused.status, 503);
  assert.equal(refused.body.error.code, 'TOO_MANY_WORKERS');

  const list = async () => ((await api('GET', '/api/egress?room=rec')).body.egresses as EgressInfo[]);
  // Alice's video flows through the SFU once the track egress is active; then 3 s more of composite.
  const flowing = await until('both egresses active', list, (l) => l.length === 2 && l.every((e) => e.status === 'active'));
  const d0 = flowing.find((e) => e.egressId === composite.egressId)!.durationS;
  await until('3 s more of composite', list, (l) => l.find((e) => e.egressId === composite.egressId)!.durationS >= d0 + 3);
  assert.deepEqual((await api('GET', '/api/egress?room=other')).body.egresses, []);

  const stopped = await api('DELETE', `/api/egress/${composite.egressId}`);
  assert.equal(stopped.status, 200);
  const done = stopped.body as EgressInfo;
  assert.equal(done.status, 'complete', JSON.stringify(done));
  assert.ok(done.sizeBytes > 10_000, `${done.sizeBytes} bytes`);
  const probe = await ffprobe(done.file);
  assert.deepEqual(probe.streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort(), ['audio:opus', 'video:vp8']);
  const duration = Number(probe.format.duration);
  assert.ok(Math.abs(duration - done.durationS) <= 0.2 * done.durationS, `file ${duration} s, egress ${done.durationS} s`);
  const [r, g, b] = await middleColour(done.file, duration - 1, 320, 240);
  assert.ok(r! > 180 && g! < 70 && b! < 70, `Alice's tile is red: rgb(${r}, ${g}, ${b})`);
  const listed: string[] = [];
  assert.equal(await runEgress(['list', '--room', 'rec', '--api-key', DEV_API_KEY, '--api-secret', DEV_API_SECRET, '--server', server.url], (s) => listed.push(s)), 0);
  assert.match(listed.join(''), new RegExp(`"egressId": "${composite.egressId}"[^}]*"status": "complete"`, 's'));
  // Stopping again returns it as it is.
  assert.equal((await api('POST', `/api/egress/${composite.egressId}/stop`)).body.status, 'complete');

  // An mp4 room composite (H.264 + AAC), then Alice leaves: the room is empty and both running
  // egresses stop by themselves, their files finalized.
  const mp4Start = await api('POST', '/api/egress', { room: 'rec', type: 'room-composite', format: 'mp4' });
  assert.equal(mp4Start.status, 200, JSON.stringify(mp4Start.body));
  const mp4 = mp4Start.body as EgressInfo;
  assert.equal(mp4.file, join(dir, `${mp4.egressId}.mp4`));
  await until('4 s of mp4', list, (l) => (l.find((e) => e.egressId === mp4.egressId)?.durationS ?? 0) >= 4);
  await alice.page.context().close();
  const ended = await until('the egresses stopped when the room emptied', list, (l) => [mp4.egressId, track.egressId].every((id) => l.find((e) => e.egressId === id)?.status === 'complete'), 30_000);
  const mp4Done = ended.find((e) => e.egressId === mp4.egressId)!;
  const mp4Probe = await ffprobe(mp4Done.file);
  assert.deepEqual(mp4Probe.streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort(), ['audio:aac', 'video:h264']);
  const mp4Duration = Number(mp4Probe.format.duration);
  assert.ok(Math.abs(mp4Duration - mp4Done.durationS) <= 0.2 * mp4Done.durationS, `mp4 file ${mp4Duration} s, egress ${mp4Done.durationS} s`);
  const trackProbe = await ffprobe(ended.find((e) => e.egressId === track.egressId)!.file);
  assert.deepEqual(trackProbe.streams.map((s) => `${s.codec_type}:${s.codec_name}`), ['video:vp8']);
  assert.ok(Number(trackProbe.format.duration) > 1, `track duration ${trackProbe.format.duration}`);
  await until('the room back to its policy', () => server.signaling.core.roomPolicy('rec'), (p) => p === 'auto');

  // Shutdown finalizes a running recording: Bob joins, his room is recorded, the server shuts down.
  await joinWithSdk(browser, server.url, server.wsUrl, await devToken('rec', 'bob', { name: 'Bob' }), 'bob');
  const bobStart = await api('POST', '/api/egress', { room: 'rec', type: 'room-composite' });
  assert.equal(bobStart.status, 200, JSON.stringify(bobStart.body));
  const bobRec = bobStart.body as EgressInfo;
  await until('2 s of Bob', list, (l) => (l.find((e) => e.egressId === bobRec.egressId)?.durationS ?? 0) >= 2);
  await server.close();
  const last = server.egress.list('rec').find((e) => e.egressId === bobRec.egressId)!;
  assert.equal(last.status, 'complete', JSON.stringify(last));
  const lastProbe = await ffprobe(last.file);
  assert.deepEqual(lastProbe.streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort(), ['audio:opus', 'video:vp8']);
  assert.ok(Number(lastProbe.format.duration) > 1, `duration ${lastProbe.format.duration}`);
  assert.equal(server.signaling.core.roomPolicy('rec'), 'auto');
});
