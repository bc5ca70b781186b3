/**
 * The composite worker fed by gst-launch-1.0 senders (distinct colours, distinct tones), its
 * outputs recorded by the recorder worker and looked at with ffmpeg: the grid shows every
 * participant's colour in its tile, each N−1 mix lacks its listener's own tone and holds the
 * others', and a killed worker is replaced with its state (video resumes on the new ports).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompositeMixer, Recorder, MediaError } from '../src/index.js';
import { COLOURS, TONES, averageRgb, colourDistance, decodeFrame, decodePcm, delay, ffprobe, nextEvent, sender, stopSender, stopSenders, toneShare } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'dari-composite-'));
after(() => {
  stopSenders();
  rmSync(dir, { recursive: true, force: true });
});

test('three participants: the grid has their colours, each N−1 mix lacks its own tone', { timeout: 60_000 }, async () => {
  const mixer = new CompositeMixer({ width: 640, height: 360, fps: 15 });
  const recorders: Recorder[] = [];
  await mixer.start();
  try {
    const ids = ['p0', 'p1', 'p2'];
    for (const [i, id] of ids.entries()) {
      await mixer.addParticipant(id, `Participant ${i} <&>`);
      const [videoPort, audioPort] = await Promise.all([mixer.addVideo(id), mixer.addAudio(id)]);
      sender({ videoPort, audioPort, argb: COLOURS[i]!.argb, freq: TONES[i]! });
    }
    await mixer.setActiveSpeaker('p1');
    // The room's recording: the grid and the full mix. Each participant's N−1 mix: audio only.
    const room = await Recorder.start({ path: join(dir, 'room.webm'), format: 'webm', video: { pt: 96 }, audio: { pt: 111 } });
    recorders.push(room);
    room.on('keyframeNeeded', () => void mixer.requestKeyframe());
    await mixer.addOutput({ kind: 'video', port: room.ports.video! });
    await mixer.addOutput({ kind: 'mix', port: room.ports.audio! });
    const legs = await Promise.all(ids.map((id) => Recorder.start({ path: join(dir, `${id}.webm`), format: 'webm', audio: { pt: 111 } })));
    recorders.push(...legs);
    for (const [i, id] of ids.entries()) await mixer.addOutput({ kind: 'audio', participant: id, port: legs[i]!.ports.audio! });
    await room.whenActive(20_000);
    await delay(3500);
    const stats = await mixer.stats();
    for (const id of ids) assert.ok(stats.participants[id]!.videoFrames > 10, `${id}: decoded ${stats.participants[id]!.videoFrames} frames`);
    await Promise.all([room.stop(), ...legs.map((l) => l.stop())]);
    // A participant leaving (its tile, its input, its N−1 mix torn down mid-call) leaves the
    // others' inputs flowing.
    await mixer.removeParticipant('p2');
    const before = (await mixer.stats()).participants;
    // Both others keep flowing: polled (a loaded machine may need more than the ~0.6 s this takes idle).
    const flowing = (s: Awaited<ReturnType<typeof mixer.stats>>) =>
      ['p0', 'p1'].every((id) => s.participants[id]!.audioPackets > before[id]!.audioPackets + 10 && s.participants[id]!.videoFrames > before[id]!.videoFrames + 3);
    let afterLeave = await mixer.stats();
    for (const deadline = Date.now() + 10_000; !flowing(afterLeave) && Date.now() < deadline; afterLeave = await mixer.stats()) await delay(200);
    assert.deepEqual(Object.keys(afterLeave.participants), ['p0', 'p1']);
    for (const id of ['p0', 'p1']) {
      assert.ok(afterLeave.participants[id]!.audioPackets > before[id]!.audioPackets + 10, `${id}: audio stopped after p2 left`);
      assert.ok(afterLeave.participants[id]!.videoFrames > before[id]!.videoFrames + 3, `${id}: video stopped after p2 left`);
    }

    // Video: 3 tiles (2 columns, the last row centred), each its sender's colour, p1 framed.
    const frame = await decodeFrame(join(dir, 'room.webm'), 2);
    assert.deepEqual([frame.width, frame.height], [640, 360]);
    for (const [i, id] of ids.entries()) {
      const [x, y, w, h] = stats.participants[id]!.tile!;
      // The middle of the tile (away from the name label and the letterbox).
      const got = averageRgb(frame, x! + w! / 2 - 20, y! + h! / 2 - 20, 40, 30);
      assert.ok(colourDistance(got, COLOURS[i]!.rgb) < 60, `${id} tile at ${x},${y}: got rgb ${got.map(Math.round)}, want ${COLOURS[i]!.rgb}`);
    }
    // N−1: each leg hears the two other tones and not its own.
    for (const [i, id] of ids.entries()) {
      const pcm = await decodePcm(join(dir, `${id}.webm`), 1, 2);
      const shares = TONES.map((f) => toneShare(pcm, f));
      for (const [j, share] of shares.entries()) {
        if (j === i) assert.ok(share < 0.02, `${id} hears its own ${TONES[j]} Hz tone (share ${share.toFixed(3)})`);
        else assert.ok(share > 0.2, `${id} does not hear ${TONES[j]} Hz (share ${share.toFixed(3)})`);
      }
    }
    // The full mix holds all three.
    // From 2.5 s: every sender's audio has arrived by then even on a loaded machine (they start one by one).
    const full = await decodePcm(join(dir, 'room.webm'), 2.5, 1);
    for (const f of TONES) assert.ok(toneShare(full, f) > 0.15, `full mix lacks ${f} Hz`);
  } finally {
    stopSenders();
    recorders.forEach((r) => r.kill());
    await mixer.stop();
  }
});

test('a killed worker is restarted with its state: new ports, video resumes', { timeout: 60_000 }, async () => {
  const mixer = new CompositeMixer({ width: 320, height: 180, fps: 15, restart: { initialDelayMs: 100 } });
  await mixer.start();
  try {
    await mixer.addParticipant('a', 'A');
    let port = await mixer.addVideo('a');
    let s = sender({ videoPort: port, argb: COLOURS[0].argb });
    await waitForFrames(mixer, 'a', 5);
    const pid = mixer.pid;
    const ports = nextEvent<[string, { video?: number }]>((l) => mixer.once('portsChanged', l), 10_000, 'portsChanged');
    const restarted = nextEvent<[]>((l) => mixer.once('restarted', l), 10_000, 'restarted');
    // Commands issued while it is down settle after the replay (not lost, not hung).
    mixer.kill();
    const late = mixer.addParticipant('b', 'B').then(() => mixer.addVideo('b'));
    const [id, next] = await ports;
    await restarted;
    assert.equal(id, 'a');
    assert.notEqual(mixer.pid, pid);
    assert.equal(mixer.crashes, 1);
    assert.equal(typeof (await late), 'number');
    port = next.video!;
    stopSender(s);
    s = sender({ videoPort: port, argb: COLOURS[0].argb });
    await waitForFrames(mixer, 'a', 5);
    const stats = await mixer.stats();
    assert.deepEqual(Object.keys(stats.participants).sort(), ['a', 'b']);
  } finally {
    stopSenders();
    await mixer.stop();
  }
});

test('bad input to the mixer gets typed errors and leaves the worker running', { timeout: 30_000 }, async () => {
  const mixer = new CompositeMixer({ width: 320, height: 180 });
  await mixer.start();
  try {
    await assert.rejects(mixer.addVideo('nobody'), (e: unknown) => e instanceof MediaError && e.workerCode === 'NOT_FOUND');
    await assert.rejects(mixer.addParticipant('a b', 'x'), (e: unknown) => e instanceof MediaError && e.workerCode === 'BAD_ARGUMENT');
    await assert.rejects(mixer.addParticipant('x'.repeat(65), 'x'), (e: unknown) => e instanceof MediaError && e.workerCode === 'BAD_ARGUMENT');
    // A name is text on a tile: quotes, markup and pipeline syntax are shown as they are.
    await mixer.addParticipant('ok', 'a "name" <b>bold</b> & ! name=evil videotestsrc');
    await assert.rejects(mixer.addOutput({ kind: 'audio', participant: 'ghost', port: 9 }), (e: unknown) => e instanceof MediaError && e.workerCode === 'NOT_FOUND');
    const stats = await mixer.stats();
    assert.deepEqual(Object.keys(stats.participants), ['ok']);
    assert.equal(mixer.crashes, 0);
  } finally {
    await mixer.stop();
  }
});

async function waitForFrames(mixer: CompositeMixer, id: string, atLeast: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  let last = 0;
  for (;;) {
    const stats = await mixer.stats().catch(() => null);
    last = stats?.participants[id]?.videoFrames ?? 0;
    if (last >= atLeast) return;
    if (Date.now() > deadline) throw new Error(`${id}: ${last} frames decoded after 10 s`);
    await delay(200);
  }
}
