/**
 * Server restart with real browsers (issue #14 item 4): mid-call, `dari serve` is stopped with
 * SIGTERM and started again on the same port. In a 1:1 P2P call media never stops and both
 * clients are back in the room within 3 s of the server's return; in an SFU room media resumes
 * within 5 s of it. Chromium with fake devices, the SDK from the server. The protocol side
 * (state file, resume, TURN credentials) is restart.test.ts.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { joinWithSdk, launchChromium, longestFrameGap, waitForFramesSince, waitForMedia, type Participant } from '@dari/testkit';
import { devToken } from './helpers.js';
import { firstServe, serve, stop, type Serving } from './serve-process.js';

const dir = mkdtempSync(join(tmpdir(), 'dari-e2e-restart-'));
let browser: Browser | undefined;
let running: Serving | undefined;
after(async () => {
  await browser?.close();
  if (running) await stop(running);
  rmSync(dir, { recursive: true, force: true });
});

/** Records, in the page, when the Room's connection state last became `connected` (epoch ms). */
function watchConnected(p: Participant): Promise<void> {
  return p.page.evaluate(() => {
    const w = window as unknown as Record<string, unknown> & { room: { on(e: string, f: (s: string) => void): void } };
    w['connectedAt'] = 0;
    w.room.on('connectionStateChanged', (s: string) => {
      if (s === 'connected') w['connectedAt'] = Date.now();
    });
  });
}

async function connectedAfter(p: Participant, since: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const at = await p.page.evaluate(() => (window as unknown as Record<string, number>)['connectedAt']!);
    if (at > since) return at;
    if (Date.now() > deadline) throw new Error(`${p.identity}: not connected again within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('dari serve restarted mid-call: P2P media never stops and both are back within 3 s; SFU media resumes within 5 s', { timeout: 180_000 }, async () => {
  const stateFile = join(dir, 'rooms.json');
  const started = await firstServe((port) => ['--port', String(port), '--set', 'turn.enabled=false', '--set', `signaling.stateFile=${stateFile}`, '--set', 'sfu.rooms.big=sfu']);
  running = started.serving;
  browser = await launchChromium();
  const enter = async (room: string, identity: string) => joinWithSdk(browser!, running!.url, running!.url, await devToken(room, identity), identity);
  const a = await enter('call', 'alice');
  const b = await enter('call', 'bob');
  const c = await enter('big', 'carol');
  const d = await enter('big', 'dave');
  await Promise.all([waitForMedia(a, ['bob']), waitForMedia(b, ['alice']), waitForMedia(c, ['dave']), waitForMedia(d, ['carol'])]);
  for (const p of [a, b, c, d]) await watchConnected(p);

  const stopAt = Date.now();
  assert.equal(await stop(running), 0);
  running = await serve(started.args);
  const back = running.readyAt;
  const downMs = back - stopAt;

  // P2P: both back in the room (the Room connected again, resumed) within 3 s of the return.
  const [aBack, bBack] = await Promise.all([connectedAfter(a, stopAt, 10_000), connectedAfter(b, stopAt, 10_000)]);
  // SFU: video again on the new legs within 5 s of the return.
  const [cVideo, dVideo] = await Promise.all([waitForFramesSince(c, 'dave:camera', back, 5, 20_000), waitForFramesSince(d, 'carol:camera', back, 5, 20_000)]);
  // P2P media never stopped: the longest gap between frames from a second before the stop to two after the return.
  const windowEnd = Math.max(back + 2000, aBack, bBack) + 500;
  while (Date.now() < windowEnd) await new Promise((r) => setTimeout(r, 100));
  const gaps = await Promise.all([longestFrameGap(a, 'bob:camera', stopAt - 1000, windowEnd), longestFrameGap(b, 'alice:camera', stopAt - 1000, windowEnd)]);
  const resumed = await a.page.evaluate(() => (window as unknown as { room: { remoteParticipants: Map<string, { identity: string }> } }).room.remoteParticipants.size);
  console.log(
    `# restart: server down ${downMs} ms; P2P: alice back ${aBack - back} ms, bob ${bBack - back} ms after the return, longest frame gap ${Math.max(...gaps)} ms; ` +
      `SFU: carol's video at dave ${dVideo - back} ms, dave's at carol ${cVideo - back} ms after the return`,
  );
  assert.ok(aBack - back <= 3000 && bBack - back <= 3000, `both back within 3 s of the return: ${aBack - back} ms, ${bBack - back} ms`);
  assert.ok(Math.max(...gaps) < 1000, `P2P media never stopped: longest gap ${gaps} ms`);
  assert.equal(resumed, 1, 'alice still sees bob, the same participant');
  assert.ok(cVideo - back <= 5000 && dVideo - back <= 5000, `SFU media within 5 s of the return: ${cVideo - back} ms, ${dVideo - back} ms`);
  const errors = await Promise.all([a, b, c, d].map((p) => p.page.evaluate(() => (window as unknown as { log: { left: string[] } }).log.left)));
  assert.deepEqual(errors, [[], [], [], []], 'nobody left the room');
});
