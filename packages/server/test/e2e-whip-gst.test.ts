/**
 * WHIP from a third-party client (issue #11 item 7): GStreamer's webrtcbin (test/fixtures/
 * whip_client.py, max-bundle: its audio section is bundle-only with port 0) publishes VP8 and
 * Opus; a Chromium participant sees it (ingress whip, camera and microphone) and decodes its
 * video; when the client stops it DELETEs its session and the participant leaves.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import type { RunningServer } from '../src/serve.js';
import { devToken, testServer } from './helpers.js';
import { joinWithSdk, launchChromium, type Participant } from '@dari/testkit';
import { decodes } from './decoding.js';

const CLIENT = fileURLToPath(new URL('../../test/fixtures/whip_client.py', import.meta.url));

let server: RunningServer;
let browser: Browser;
let client: ChildProcess | null = null;

before(async () => {
  server = await testServer({ turn: { enabled: false } });
  browser = await launchChromium();
});
after(async () => {
  client?.kill('SIGKILL');
  await browser?.close();
  await server?.close();
});

test('GStreamer webrtcbin publishes over WHIP; Chromium decodes it; the client\'s DELETE ends it', { timeout: 60_000 }, async () => {
  const room = 'gstroom';
  let viewer: Participant | undefined;
  try {
    viewer = await joinWithSdk(browser, server.url, server.url, await devToken(room, 'viewer'), 'viewer', false);
    const p = spawn('/usr/bin/python3', [CLIENT, `${server.url}/whip`, await devToken(room, 'gst', { name: 'GStreamer' })], { stdio: ['ignore', 'pipe', 'inherit'] });
    client = p;
    const lines: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`webrtcbin did not connect: ${lines.join(' | ')}`)), 20_000);
      p.once('exit', (code) => reject(new Error(`whip_client exited ${code}: ${lines.join(' | ')}`)));
      createInterface({ input: p.stdout! }).on('line', (line) => {
        lines.push(line);
        if (line === 'connected') {
          clearTimeout(t);
          resolve();
        }
      });
    });
    assert.match(lines[0] ?? '', /^answered 201 http:\/\/127\.0\.0\.1:\d+\/whip\/[A-Za-z0-9_-]+$/);
    const got = await decodes(viewer, 'gst');
    assert.equal(got.mimeType, 'video/VP8');
    const info = await viewer.page.evaluate(() => {
      const p = (window as unknown as { room: { remoteParticipants: Map<string, { info: { name: string; ingress?: unknown; tracks: { source: string }[] } }> } }).room.remoteParticipants.get('gst')?.info;
      return p ? { name: p.name, ingress: p.ingress, sources: p.tracks.map((t) => t.source).sort() } : null;
    });
    assert.deepEqual(info, { name: 'GStreamer', ingress: { type: 'whip', state: 'active' }, sources: ['camera', 'microphone'] }, 'its bundle-only audio section was taken too');
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM'); // the fixture DELETEs its session, then stops
    await exited;
    client = null;
    await viewer.page.waitForFunction(() => !(window as unknown as { room: { remoteParticipants: Map<string, unknown> } }).room.remoteParticipants.has('gst'), undefined, { timeout: 10_000 });
  } finally {
    await viewer?.page.context().close();
  }
});
