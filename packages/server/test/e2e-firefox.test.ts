/**
 * Firefox beside Chromium, end to end (issue #14): P2P calls with each browser as the offerer,
 * chat, a Firefox→Chromium file transfer, and the meeting app joined by invite link in Firefox.
 * Firefox (Debian's firefox-esr over WebDriver BiDi) runs in a network namespace linked to the
 * host, because it never uses 127.0.0.1 for ICE; see firefox-env.ts. One Firefox and one
 * Chromium serve every test of this file.
 */
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { joinWithSdk, joinWithSdkFirefox, scriptPageOf, sdkWarnings, waitForMedia, waitInPage, watchFirefoxPage, type FirefoxParticipant, type Participant, type ScriptPage } from '@dari/testkit';
import { devToken } from './helpers.js';
import { firefoxUnavailable, startFirefoxEnv, type FirefoxEnv } from './firefox-env.js';

const skip = firefoxUnavailable();
let env: FirefoxEnv;

before(async () => {
  if (skip) return;
  env = await startFirefoxEnv({ sfu: { mode: 'p2p' } });
});
after(async () => {
  await env?.close();
});

const joinFirefox = async (room: string, identity: string, media = true): Promise<FirefoxParticipant> =>
  joinWithSdkFirefox(env.firefox, env.server.url, env.server.url, await devToken(room, identity), identity, media);
const joinChromium = async (room: string, identity: string, media = true): Promise<Participant> =>
  joinWithSdk(env.chromium, env.server.url, env.server.url, await devToken(room, identity), identity, media);
const leave = async (ff: FirefoxParticipant, ch: Participant) => {
  await ff.context.close();
  await ch.page.context().close();
};

/** What one side of a P2P call reports about its link to `peer`: who offered, codecs, pair, audio energy. */
function callFacts(page: ScriptPage, peer: string) {
  return page.evaluate(async (peer: string) => {
    const room = (window as unknown as Record<string, any>)['room'];
    const pc: RTCPeerConnection = room.getPeerConnection(peer);
    const [info] = await room.getConnectionInfo(peer);
    let audioEnergy = 0;
    (await pc.getStats()).forEach((s: any) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') audioEnergy = s.totalAudioEnergy ?? 0;
    });
    return {
      localDescription: pc.currentLocalDescription?.type,
      videoCodec: info?.video?.codec,
      audioCodec: info?.audio?.codec,
      path: info?.path,
      local: info?.local,
      remote: info?.remote,
      audioEnergy,
    };
  }, peer);
}

/** Both sides decode each other's video and hear each other; the `offerer` made the offer. */
async function assertCall(t: TestContext, ff: FirefoxParticipant, ch: Participant, offerer: 'firefox' | 'chromium'): Promise<void> {
  const [onFirefox, onChromium] = await Promise.all([waitForMedia(ff, [ch.identity], 45_000), waitForMedia(ch, [ff.identity], 45_000)]);
  t.diagnostic(`Firefox decoded ${onFirefox[ch.identity]!.framesDecoded} frames, Chromium ${onChromium[ff.identity]!.framesDecoded}`);
  const f = await callFacts(ff.page, ch.identity);
  const c = await callFacts(ch.page, ff.identity);
  t.diagnostic(`Firefox side ${JSON.stringify(f)}; Chromium side ${JSON.stringify(c)}`);
  assert.equal(f.localDescription, offerer === 'firefox' ? 'offer' : 'answer');
  assert.equal(c.localDescription, offerer === 'chromium' ? 'offer' : 'answer');
  for (const side of [f, c]) {
    assert.match(String(side.videoCodec), /^video\/VP8$/i, 'VP8 (no OpenH264 in test Firefox)');
    assert.match(String(side.audioCodec), /^audio\/opus$/i);
    assert.equal(side.path, 'direct');
  }
  // Firefox's ICE candidate is on the namespace's veth address, never loopback.
  assert.equal(f.local?.address, env.link.nsIp);
  assert.equal(c.remote?.address, env.link.nsIp);
  // Firefox plays out what it receives: Chromium's beep has energy there. (Headless Chromium
  // here has no audio output, so it plays nothing out and reports no energy; that Firefox's
  // sine tone carries sound is checked by the SFU's audio levels, e2e-firefox-sfu.test.ts.)
  assert.ok(f.audioEnergy > 0, `Firefox hears Chromium: energy ${f.audioEnergy}`);
  assert.deepEqual(await sdkWarnings(ff.page), [], 'Firefox SDK warnings');
  assert.deepEqual(await sdkWarnings(ch.page), [], 'Chromium SDK warnings');
}

test('P2P: Chromium offers to Firefox; each decodes the other\'s VP8 video and hears its audio', { skip, timeout: 120_000 }, async (t) => {
  const ff = await joinFirefox('ff-call-1', 'fox');
  const ch = await joinChromium('ff-call-1', 'chrome'); // the newcomer offers (docs/protocol.md#mesh)
  try {
    await assertCall(t, ff, ch, 'chromium');
  } finally {
    await leave(ff, ch);
  }
});

test('P2P: Firefox offers to Chromium; each decodes the other\'s VP8 video and hears its audio', { skip, timeout: 120_000 }, async (t) => {
  const ch = await joinChromium('ff-call-2', 'chrome');
  const ff = await joinFirefox('ff-call-2', 'fox');
  try {
    await assertCall(t, ff, ch, 'firefox');
  } finally {
    await leave(ff, ch);
  }
});

const signals = (page: ScriptPage, data: string) =>
  page.evaluate((data: string) => ((window as unknown as Record<string, any>)['log'].signals as any[]).filter((s) => s.data === data), data);

test('chat between Firefox and Chromium: to everyone and to one', { skip, timeout: 60_000 }, async () => {
  const ff = await joinFirefox('ff-chat', 'fox', false);
  const ch = await joinChromium('ff-chat', 'chrome', false);
  const third = await joinChromium('ff-chat', 'third', false);
  try {
    await ff.page.evaluate(() => {
      const room = (window as unknown as Record<string, any>)['room'];
      room.sendSignal('chat', 'hello from firefox', []);
      room.sendSignal('chat', 'psst chrome', ['chrome']);
      room.sendSignal('marker', '', []);
    }, undefined);
    await ch.page.evaluate(() => (window as unknown as Record<string, any>)['room'].sendSignal('chat', 'hello from chromium', ['fox']));
    for (const p of [ff.page, ch.page, third.page]) {
      await waitInPage(p, () => ((window as unknown as Record<string, any>)['log'].signals as any[]).some((s) => s.type === 'marker'), undefined, 'the marker signal');
    }
    await waitInPage(ff.page, () => ((window as unknown as Record<string, any>)['log'].signals as any[]).some((s) => s.data === 'hello from chromium'), undefined, 'chat from Chromium');
    const broadcast = await signals(ch.page, 'hello from firefox');
    assert.equal(broadcast.length, 1);
    assert.equal(broadcast[0].from, 'fox');
    assert.equal((await signals(ff.page, 'hello from firefox')).length, 1, 'a broadcast reaches its sender too');
    assert.equal((await signals(ch.page, 'psst chrome')).length, 1);
    assert.equal((await signals(third.page, 'psst chrome')).length, 0, 'a targeted signal reaches only its target');
    assert.equal((await signals(ff.page, 'hello from chromium'))[0].from, 'chrome');
  } finally {
    await leave(ff, ch);
    await third.page.context().close();
  }
});

test('a 5 MiB file from Firefox to Chromium arrives with an equal SHA-256', { skip, timeout: 90_000 }, async (t) => {
  const ff = await joinFirefox('ff-file', 'fox', false);
  const ch = await joinChromium('ff-file', 'chrome', false);
  try {
    await waitInPage(ff.page, () => ((window as unknown as Record<string, any>)['room'].remoteParticipants.has('chrome') ? true : null), undefined, 'Firefox sees chrome in the room');
    const size = 5 * 1024 * 1024;
    const started = Date.now();
    const sent = await ff.page.evaluate(async (size: number) => {
      const room = (window as unknown as Record<string, any>)['room'];
      const data = new Uint8Array(size);
      for (let i = 0; i < size; i += 65536) crypto.getRandomValues(data.subarray(i, Math.min(size, i + 65536)));
      const progress: number[] = [];
      room.on('fileProgress', (p: any) => progress.push(p.bytes));
      const sha = await room.sendFile(new Blob([data]), 'chrome', 'from-firefox.bin');
      const local = [...new Uint8Array(await crypto.subtle.digest('SHA-256', data))].map((x) => x.toString(16).padStart(2, '0')).join('');
      return { sha, local, progressEvents: progress.length, last: progress.at(-1) };
    }, size);
    t.diagnostic(`5 MiB Firefox → Chromium in ${Date.now() - started} ms (${sent.progressEvents} progress events)`);
    assert.equal(sent.sha, sent.local, 'the receiver confirmed the sender\'s digest');
    assert.equal(sent.last, size);
    const files = await waitInPage(ch.page, () => {
      const files = (window as unknown as Record<string, any>)['log'].files as unknown[];
      return files.length > 0 ? files : null;
    }, undefined, 'the received file');
    assert.deepEqual(files, [{ name: 'from-firefox.bin', size, sha256: sent.local, from: 'fox' }]);
  } finally {
    await leave(ff, ch);
  }
});

test('the meeting app in Firefox, joined by invite link, shows Chromium\'s video, and chat goes both ways', { skip, timeout: 120_000 }, async () => {
  const url = env.server.url;
  const ffContext = await env.firefox.createBrowserContext();
  const fox = await ffContext.newPage();
  watchFirefoxPage(fox, 'meet:fox');
  const chContext = await env.chromium.newContext();
  const chrome = await chContext.newPage();
  try {
    await fox.goto(`${url}/?room=ff-meet&name=Fox&join=1`);
    await chrome.goto(`${url}/?room=ff-meet&name=Chrome&join=1`);
    const foxPage = scriptPageOf(fox);
    // One remote tile whose video plays and advances, on each side.
    const playing = () => {
      const tiles = document.querySelectorAll('.tile.remote[data-identity]');
      const v = tiles[0]?.querySelector('video') as HTMLVideoElement | null;
      return tiles.length === 1 && !!v && v.readyState >= 2 && v.videoWidth > 0 && !v.paused ? v.currentTime : 0;
    };
    for (const page of [foxPage, chrome]) {
      const t0 = await waitInPage(page, playing, undefined, 'a playing remote tile', 60_000);
      await waitInPage(page, (t0: number) => (document.querySelector('.tile.remote video') as HTMLVideoElement).currentTime > t0 + 0.5, t0, 'the remote video to advance');
    }
    assert.equal(await fox.$eval('.tile.remote', (el) => el.getAttribute('data-name')), 'Chrome');
    assert.equal(await chrome.locator('.tile.remote').getAttribute('data-name'), 'Fox');
    // The invite link's room is the shareable URL now.
    assert.match(fox.url(), /\?room=ff-meet$/);

    // Chat typed in Firefox appears in Chromium, and the answer in Firefox.
    await fox.click('#toggle-chat');
    await fox.type('#chat-input', 'hello from firefox');
    await fox.keyboard.press('Enter');
    await chrome.click('#toggle-chat');
    await chrome.waitForSelector('#chat-messages .chat-message .chat-text');
    assert.equal((await chrome.textContent('#chat-messages .chat-message .chat-text'))?.trim(), 'hello from firefox');
    await chrome.fill('#chat-input', 'hello from chromium');
    await chrome.press('#chat-input', 'Enter');
    const got = await waitInPage(foxPage, () => Array.from(document.querySelectorAll('#chat-messages .chat-message:not(.own) .chat-text')).map((e) => e.textContent?.trim()).find((x) => x), undefined, 'the chat answer in Firefox');
    assert.equal(got, 'hello from chromium');

    // Leaving in Firefox returns it to the lobby and removes its tile in Chromium.
    await fox.click('#leave');
    await waitInPage(foxPage, () => !(document.querySelector('#lobby') as HTMLElement).hidden, undefined, 'the lobby');
    await chrome.waitForFunction(() => document.querySelectorAll('.tile.remote[data-identity]').length === 0);
  } finally {
    await ffContext.close();
    await chContext.close();
  }
});
