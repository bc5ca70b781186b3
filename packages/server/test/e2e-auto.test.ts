/**
 * `auto` rooms in Chromium: two participants talk P2P; a third moves everyone to the SFU; when
 * it leaves the room goes back to P2P. Media must keep flowing through both switches
 * (make-before-break); the longest gap between presented video frames at each receiver is
 * measured and checked against a generous bound.
 */
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import type { RunningServer } from '../src/serve.js';
import { devToken, launchTalkerChromium, testServer } from './helpers.js';
import { joinWithSdk, launchChromium, waitForMedia, type Participant } from '@dari/testkit';

let server: RunningServer;
let browser: Browser;

before(async () => {
  server = await testServer(); // sfu.mode defaults to auto
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/** Generous: a switch must not freeze video for a visible while (a keyframe wait is ~100–500 ms). */
const MAX_GAP_MS = 1500;

type Path = 'p2p' | 'sfu';

/**
 * Waits in the page until the room is in `mode`, every remote's camera comes over that path and
 * the old path is closed. The default bound is under the SDK's 10 s switch timeout, so passing
 * means the make-before-break handshake closed the old path, not the timeout.
 */
async function switched(p: Participant, mode: Path, remotes: string[], timeoutMs = 9_000): Promise<void> {
  await switchedOrThrow(p, mode, remotes, timeoutMs).catch(async (err: Error) => {
    const state = await p.page.evaluate(() => {
      const room = (window as unknown as Record<string, any>)['room'];
      return {
        mode: room.mode,
        sfu: !!room.getPeerConnection('sfu'),
        pubs: [...room.remoteParticipants.values()].map((r: any) => [r.identity, [...r.tracks.values()].map((t: any) => `${t.source}:${t.path}:${t.track?.readyState}`)]),
        peers: [...room.remoteParticipants.keys()].map((id: string) => [id, room.getPeerConnection(id)?.connectionState]),
        topology: room.topology?.machine.snapshot(), // the switch's state (moved said and heard, links, pending tracks)
      };
    });
    throw new Error(`${p.identity} not switched to ${mode}: ${JSON.stringify(state)} (${err.message})`);
  });
}

async function switchedOrThrow(p: Participant, mode: Path, remotes: string[], timeoutMs: number): Promise<void> {
  await p.page.waitForFunction(
    ({ mode, remotes }) => {
      const room = (window as unknown as Record<string, any>)['room'];
      if (room.mode !== mode) return false;
      for (const id of remotes) {
        const pub = room.remoteParticipants.get(id)?.getTrack('camera');
        if (!pub?.track || pub.path !== mode) return false;
        // Old path gone: no mesh media link in sfu mode, no SFU legs in p2p mode.
        if (mode === 'sfu' && room.getPeerConnection(id)) return false;
      }
      return mode === 'p2p' ? room.getPeerConnection('sfu') === undefined : true;
    },
    { mode, remotes },
    { timeout: timeoutMs, polling: 100 },
  );
}

/** Longest interval between presented frames of `identity`'s camera since `since` (page ms), and the frame count. */
async function frameGap(p: Participant, identity: string, since: number): Promise<{ gapMs: number; frames: number }> {
  return p.page.evaluate(
    ({ key, since }) => {
      const times: number[] = ((window as unknown as Record<string, any>)['log'].frameTimes[key] ?? []).filter((t: number) => t >= since);
      let gapMs = 0;
      for (let i = 1; i < times.length; i++) gapMs = Math.max(gapMs, times[i]! - times[i - 1]!);
      // The time since the last frame counts too: a freeze at the end is a gap.
      if (times.length > 0) gapMs = Math.max(gapMs, performance.now() - times[times.length - 1]!);
      return { gapMs: Math.round(gapMs), frames: times.length };
    },
    { key: `${identity}:camera`, since },
  );
}

const pageNow = (p: Participant) => p.page.evaluate(() => performance.now());
const modeOf = (p: Participant) => p.page.evaluate(() => (window as unknown as Record<string, any>)['room'].mode as Path);

/** Waits until the server's SFU holds `n` peer connections. */
async function sfuPeerConnections(n: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (server.sfu.stats().peerConnections !== n) {
    if (Date.now() > deadline) throw new Error(`SFU: ${JSON.stringify(server.sfu.stats())}, expected ${n} peer connections`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('auto room: P2P for two, SFU when a third joins, P2P again when it leaves, video continuing', { timeout: 180_000 }, async (t: TestContext) => {
  const alice = await joinWithSdk(browser, server.url, server.url, await devToken('auto1', 'alice'), 'alice');
  const bob = await joinWithSdk(browser, server.url, server.url, await devToken('auto1', 'bob'), 'bob');
  let carol: Participant | undefined;
  try {
    await Promise.all([waitForMedia(alice, ['bob']), waitForMedia(bob, ['alice'])]);
    assert.equal(await modeOf(alice), 'p2p');
    assert.equal(await modeOf(bob), 'p2p');
    assert.equal(server.sfu.stats().peerConnections, 0, 'a 1:1 call does not touch the SFU');

    // A third participant: everyone moves to the SFU.
    const [a0, b0] = await Promise.all([pageNow(alice), pageNow(bob)]);
    carol = await joinWithSdk(browser, server.url, server.url, await devToken('auto1', 'carol'), 'carol');
    await Promise.all([switched(alice, 'sfu', ['bob', 'carol']), switched(bob, 'sfu', ['alice', 'carol']), switched(carol, 'sfu', ['alice', 'bob'])]);
    await Promise.all([waitForMedia(alice, ['bob', 'carol']), waitForMedia(bob, ['alice', 'carol']), waitForMedia(carol, ['alice', 'bob'])]);
    const toSfu = { alice: await frameGap(alice, 'bob', a0), bob: await frameGap(bob, 'alice', b0) };
    t.diagnostic(`P2P→SFU: longest frame gap at alice (bob's video) ${toSfu.alice.gapMs} ms over ${toSfu.alice.frames} frames; at bob ${toSfu.bob.gapMs} ms over ${toSfu.bob.frames} frames`);
    assert.equal(server.sfu.stats().peerConnections, 6, 'three participants, two legs each');

    // The third leaves: back to P2P, the SFU legs closed once both moved.
    const [a1, b1] = await Promise.all([pageNow(alice), pageNow(bob)]);
    await carol.page.evaluate(() => (window as unknown as Record<string, any>)['room'].disconnect()); // leaves (a closed tab would wait out the 10 s reconnect grace)
    await carol.page.context().close();
    carol = undefined;
    await Promise.all([switched(alice, 'p2p', ['bob']), switched(bob, 'p2p', ['alice'])]);
    await Promise.all([waitForMedia(alice, ['bob']), waitForMedia(bob, ['alice'])]);
    await sfuPeerConnections(0);
    const toP2p = { alice: await frameGap(alice, 'bob', a1), bob: await frameGap(bob, 'alice', b1) };
    t.diagnostic(`SFU→P2P: longest frame gap at alice ${toP2p.alice.gapMs} ms over ${toP2p.alice.frames} frames; at bob ${toP2p.bob.gapMs} ms over ${toP2p.bob.frames} frames`);

    for (const [what, g] of Object.entries({ 'P2P→SFU alice': toSfu.alice, 'P2P→SFU bob': toSfu.bob, 'SFU→P2P alice': toP2p.alice, 'SFU→P2P bob': toP2p.bob })) {
      assert.ok(g.frames > 10, `${what}: frames kept coming (${g.frames})`);
      assert.ok(g.gapMs < MAX_GAP_MS, `${what}: longest gap ${g.gapMs} ms ≥ ${MAX_GAP_MS} ms`);
    }
  } finally {
    await carol?.page.context().close();
    await alice.page.context().close();
    await bob.page.context().close();
  }
  await sfuPeerConnections(0);
});

test('a room set to p2p stays a mesh at three; POST /api/rooms switches a live room to the SFU', { timeout: 120_000 }, async () => {
  const auth = `Basic ${Buffer.from('devkey:dari-dev-secret-not-for-production-use').toString('base64')}`;
  const set = (mode: string) =>
    fetch(`${server.url}/api/rooms`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify({ room: 'mesh3', mode }) });
  assert.equal((await set('p2p')).status, 200);
  const bad = await set('star'); // not a topology (auto, p2p, sfu and mcu are)
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { error: { message: string } }).error.message, /^mode:/);
  const names = ['ann', 'ben', 'cat'];
  const ps: Participant[] = [];
  try {
    for (const n of names) ps.push(await joinWithSdk(browser, server.url, server.url, await devToken('mesh3', n), n));
    await Promise.all(ps.map((p, i) => waitForMedia(p, names.filter((_, j) => j !== i))));
    for (const p of ps) assert.equal(await modeOf(p), 'p2p');
    assert.equal(server.sfu.stats().peerConnections, 0);
    const res = await set('sfu');
    assert.deepEqual(await res.json(), { room: 'mesh3', mode: 'sfu', current: 'sfu' });
    await Promise.all(ps.map((p, i) => switched(p, 'sfu', names.filter((_, j) => j !== i))));
    await Promise.all(ps.map((p, i) => waitForMedia(p, names.filter((_, j) => j !== i))));
  } finally {
    for (const p of ps) await p.page.context().close();
  }
  await sfuPeerConnections(0);
});

test('meeting app: three invite links make an SFU call; badges say SFU and the talker\'s tile is highlighted', { timeout: 150_000 }, async () => {
  const talker = await launchTalkerChromium(20);
  const talkerBrowser = talker.browser;
  const pages: Page[] = [];
  try {
    const open = async (b: Browser, name: string) => {
      const page = await (await b.newContext()).newPage();
      await page.goto(`${server.url}/?room=meet3&name=${name}&join=1`);
      pages.push(page);
      return page;
    };
    const talker = await open(talkerBrowser, 'talker');
    const quiet = await open(browser, 'quiet1');
    const quiet2 = await open(browser, 'quiet2');
    // The quiet ones mute their microphones (Chromium's fake device beeps).
    for (const p of [quiet, quiet2]) {
      await p.waitForSelector('#toggle-mic[aria-pressed="true"]', { timeout: 30_000 });
      await p.click('#toggle-mic');
      await p.waitForSelector('#toggle-mic[aria-pressed="false"]');
    }
    for (const p of [talker, quiet, quiet2]) {
      await p.waitForFunction(() => {
        const badges = Array.from(document.querySelectorAll('.tile.remote .conn-badge')).map((b) => b.textContent?.trim());
        return badges.length === 2 && badges.every((t) => t === 'SFU');
      }, undefined, { timeout: 60_000 });
    }
    for (const p of [quiet, quiet2]) {
      await p.waitForFunction(() => {
        const tile = document.querySelector('.tile.remote[data-name="talker"]');
        return !!tile && tile.classList.contains('speaking') && document.querySelectorAll('.tile.speaking').length === 1;
      }, undefined, { timeout: 30_000 });
    }
    await talker.waitForSelector('#local-tile.speaking', { timeout: 30_000 });
  } finally {
    for (const p of pages) await p.context().close();
    await talker.close();
  }
  await sfuPeerConnections(0);
});
