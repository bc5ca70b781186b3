/**
 * The recorder worker fed by gst-launch-1.0 senders: webm without re-encoding and mp4 (H.264 +
 * AAC) are finalized on stop and pass ffprobe with the right streams and duration; a track
 * (video only) is recorded as it arrives; a write error (full disk: /dev/full) fails the
 * recording with the reason; a file that cannot be opened fails `start`.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MediaError, Recorder } from '../src/index.js';
import { COLOURS, averageRgb, colourDistance, decodeFrame, delay, ffprobe, nextEvent, sender, stopSenders } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'dari-recorder-'));
after(() => {
  stopSenders();
  rmSync(dir, { recursive: true, force: true });
});

for (const format of ['webm', 'mp4'] as const) {
  test(`${format}: video and audio, finalized on stop, ffprobe-valid, duration within 20 %`, { timeout: 30_000 }, async () => {
    const path = join(dir, `av.${format}`);
    const rec = await Recorder.start({ path, format, video: { pt: 96 }, audio: { pt: 111 } });
    sender({ videoPort: rec.ports.video!, audioPort: rec.ports.audio!, argb: COLOURS[1].argb, freq: 600 });
    await rec.whenActive(20_000);
    const started = Date.now();
    await delay(3000);
    const wallS = (Date.now() - started) / 1000; // up to the stop request (the EOS ends the file there)
    const { bytes, finalized } = await rec.stop();
    stopSenders();
    assert.ok(finalized);
    assert.ok(bytes > 1000, `${bytes} bytes`);
    const probe = await ffprobe(path);
    const codecs = probe.streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort();
    assert.deepEqual(codecs, format === 'webm' ? ['audio:opus', 'video:vp8'] : ['audio:aac', 'video:h264']);
    const duration = Number(probe.format.duration);
    assert.ok(Math.abs(duration - wallS) <= 0.2 * wallS, `duration ${duration} s for ${wallS} s recorded`);
    const frame = await decodeFrame(path, 1);
    assert.ok(colourDistance(averageRgb(frame, 100, 80, 100, 80), COLOURS[1].rgb) < 40);
  });
}

test('track recording: one VP8 stream written as it arrives (no re-encoding)', { timeout: 30_000 }, async () => {
  const path = join(dir, 'track.webm');
  const rec = await Recorder.start({ path, format: 'webm', video: { pt: 96 } });
  sender({ videoPort: rec.ports.video!, argb: COLOURS[2].argb });
  await rec.whenActive(20_000);
  await delay(1500);
  await rec.stop();
  stopSenders();
  const probe = await ffprobe(path);
  assert.deepEqual(probe.streams.map((s) => `${s.codec_type}:${s.codec_name}:${s.width}x${s.height}`), ['video:vp8:320x240']);
});

test('a full disk fails the recording with the reason', { timeout: 30_000 }, async () => {
  const rec = await Recorder.start({ path: '/dev/full', format: 'webm', video: { pt: 96 }, audio: { pt: 111 } });
  const failed = nextEvent<[string]>((l) => rec.once('failed', l), 10_000, 'failed');
  sender({ videoPort: rec.ports.video!, audioPort: rec.ports.audio! });
  const [reason] = await failed;
  stopSenders();
  assert.match(reason, /No space left/);
  assert.ok(rec.done);
});

test('a file that cannot be opened fails start with the reason', { timeout: 30_000 }, async () => {
  await assert.rejects(
    Recorder.start({ path: join(dir, 'no-such-dir', 'x.webm'), format: 'webm', video: { pt: 96 } }),
    (e: unknown) => e instanceof MediaError && e.code === 'COMMAND_FAILED' && /Could not open file/.test(e.message),
  );
  await assert.rejects(Recorder.start({ path: 'relative.webm', format: 'webm', video: { pt: 96 } }), (e: unknown) => e instanceof MediaError && e.workerCode === 'BAD_ARGUMENT');
});
