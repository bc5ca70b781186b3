/**
 * The newcomer's path: `npm start` exactly as a user runs it, then the meeting app in two
 * Chromium pages opened from invite links (`/?room=x&name=…&join=1`): both videos play, chat
 * reaches the other side with an unread badge, and the layout fits a phone-sized screen.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '@dari/testkit';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

test('npm start serves a meeting app where two invite links end up in one call', { timeout: 240_000 }, async () => {
  const npm = spawn('npm', ['start'], { cwd: ROOT, env: { ...process.env, DARI_PORT: '0', DARI_TURN__PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => npm.on('exit', (code, signal) => resolve({ code, signal })));
  let after = '';
  const browser = await launchChromium();
  try {
    let url = '';
    for await (const line of createInterface({ input: npm.stdout! })) {
      if (line.startsWith('{') && line.includes('ready')) {
        url = (JSON.parse(line) as { url: string }).url;
        break;
      }
    }
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    npm.stdout!.on('data', (d: Buffer) => (after += d.toString()));

    const a = await (await browser.newContext()).newPage();
    const b = await (await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true })).newPage();
    await a.goto(`${url}/?room=x&name=a&join=1`);
    await b.goto(`${url}/?room=x&name=b&join=1`);

    // Each page shows exactly one remote tile whose video is playing and advancing.
    for (const page of [a, b]) {
      await page.waitForFunction(() => {
        const tiles = document.querySelectorAll('.tile.remote[data-identity]');
        const v = tiles[0]?.querySelector('video') as HTMLVideoElement | null;
        return tiles.length === 1 && !!v && v.readyState >= 2 && v.videoWidth > 0 && !v.paused;
      }, undefined, { timeout: 60_000 });
      const t0 = await page.evaluate(() => (document.querySelector('.tile.remote video') as HTMLVideoElement).currentTime);
      await page.waitForFunction((t0) => (document.querySelector('.tile.remote video') as HTMLVideoElement).currentTime > t0 + 0.5, t0, { timeout: 20_000 });
    }
    assert.equal(await a.locator('.tile.remote').getAttribute('data-name'), 'b');
    assert.equal(await b.locator('.tile.remote').getAttribute('data-name'), 'a');

    // Chat: a writes; b sees the unread badge, opens the panel, reads it; the badge clears.
    await a.click('#toggle-chat');
    await a.fill('#chat-input', 'hello from a');
    await a.press('#chat-input', 'Enter');
    await a.waitForSelector('#chat-messages .chat-message.own');
    await b.waitForFunction(() => document.querySelector('#chat-badge')?.textContent?.trim() === '1');
    await b.click('#toggle-chat');
    await b.waitForSelector('#chat-messages .chat-message .chat-text');
    assert.equal((await b.textContent('#chat-messages .chat-message .chat-text'))?.trim(), 'hello from a');
    assert.equal(await b.isVisible('#chat-badge'), false);

    // Phone-sized: nothing scrolls sideways and the controls are on screen.
    await b.click('#close-chat');
    const fits = await b.evaluate(() => {
      const leave = document.querySelector('#leave')!.getBoundingClientRect();
      return { scrollWidth: document.documentElement.scrollWidth, width: innerWidth, leaveBottom: leave.bottom, height: innerHeight, leaveRight: leave.right };
    });
    assert.ok(fits.scrollWidth <= fits.width, `no horizontal scroll: ${JSON.stringify(fits)}`);
    assert.ok(fits.leaveBottom <= fits.height && fits.leaveRight <= fits.width, `leave button visible: ${JSON.stringify(fits)}`);

    // Leave: a returns to the lobby and b's grid drops a's tile.
    await a.click('#leave');
    await a.waitForSelector('#lobby', { state: 'visible' });
    await b.waitForFunction(() => document.querySelectorAll('.tile.remote[data-identity]').length === 0);
  } finally {
    await browser.close();
    // Ctrl-C: SIGINT to the whole process group, as a terminal sends it.
    if (npm.pid) process.kill(-npm.pid, 'SIGINT');
  }
  const { code, signal } = await exited;
  // npm re-raises the signal after its child exits; dari itself exits 0 (see cli.test.ts).
  assert.ok(code === 0 || signal === 'SIGINT', `npm ended with ${code} ${signal}`);
  assert.match(after, /"msg":"stopped"/, 'dari shut down cleanly');
});
