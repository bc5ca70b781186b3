/**
 * Firefox in an SFU room (issue #14): it publishes camera video in simulcast (rid layers, RFC
 * 8853) and the SFU forwards each Chromium subscriber the layer that fits its render size, while
 * Firefox decodes a Chromium participant's video and audio through the SFU. Firefox runs in a
 * network namespace linked to the host (firefox-env.ts); one Firefox and one Chromium serve the
 * file. An `auto` room with Firefox switches P2P → SFU → P2P without freezing video.
 */
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { joinWithSdk, joinWithSdkFirefox, sdkWarnings, waitForMedia, waitInPage, type ScriptPage } from '@dari/testkit';
import { devToken } from './helpers.js';
import { firefoxUnavailable, startFirefoxEnv, type FirefoxEnv } from './firefox-env.js';

const skip = firefoxUnavailable();
let env: FirefoxEnv;

before(async () => {
  if (skip) return;
  // The composite fallback is off here: this file checks simulcast layer selection, and with the
  // whole suite on 2 cores a browser shows loss and a low REMB from CPU starvation, which sends
  // it to the composite and back (e2e-fallback tests the fallback on a shaped link).
  env = await startFirefoxEnv({ sfu: { mode: 'sfu', rooms: { 'ff-auto': 'auto' }, compositeFallback: { enabled: false } } });
});
after(async () => {
  await env?.close();
});

/** Frame width this page decodes now from `publisher`'s camera, over the SFU subscriber leg (0 = none). */
function decodedWidth(page: ScriptPage, publisher: string): Promise<{ width: number; frames: number; audioPackets: number }> {
  return page.evaluate(async (publisher: string) => {
    const room = (window as unknown as Record<string, any>)['room'];
    const p = room.remoteParticipants.get(publisher);
    const video = p?.getTrack('camera')?.track?.id;
    const audio = p?.getTrack('microphone')?.track?.id;
    const out = { width: 0, frames: 0, audioPackets: 0 };
    const pc: RTCPeerConnection | undefined = room.getPeerConnection('sfu');
    if (!pc) return out;
    (await pc.getStats()).forEach((s: any) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video' && s.trackIdentifier === video) {
        out.width = s.frameWidth ?? 0;
        out.frames = s.framesDecoded ?? 0;
      }
      if (s.kind === 'audio' && s.trackIdentifier === audio) out.audioPackets = s.packetsReceived ?? 0;
    });
    return out;
  }, publisher);
}

/** Tells the SFU how large this page renders `publisher`'s camera (adaptive stream), once the track is there. */
function render(page: ScriptPage, publisher: string, width: number, height: number): Promise<unknown> {
  return waitInPage(
    page,
    ({ publisher, width, height }: { publisher: string; width: number; height: number }) => {
      const pub = (window as unknown as Record<string, any>)['room'].remoteParticipants.get(publisher)?.getTrack('camera');
      if (!pub?.track) return false;
      pub.setVideoDimensions({ width, height });
      return true;
    },
    { publisher, width, height },
    `${publisher}'s camera track`,
    30_000,
  );
}

test('Firefox publishes simulcast through the SFU (small renderer gets the low layer, large the top), decodes Chromium through it, and its sine tone makes it the active speaker', { skip, timeout: 150_000 }, async (t: TestContext) => {
  const url = env.server.url;
  // 640×360: the SDK publishes layers h (320×180) and f (640×360) from that size.
  const fox = await joinWithSdkFirefox(env.firefox, url, url, await devToken('ff-sfu', 'fox'), 'fox', { width: 640, height: 360, frameRate: 15 });
  const small = await joinWithSdk(env.chromium, url, url, await devToken('ff-sfu', 'small'), 'small');
  const large = await joinWithSdk(env.chromium, url, url, await devToken('ff-sfu', 'large'), 'large', false);
  try {
    await render(small.page, 'fox', 160, 90);
    await render(large.page, 'fox', 1280, 720);
    /** Firefox's sent layers: rid → frame width, from its publisher leg's outbound-rtp stats. */
    const sentLayers = () =>
      fox.page.evaluate(async () => {
        const pc: RTCPeerConnection = (window as unknown as Record<string, any>)['room'].getPeerConnection('sfu:publisher');
        const out: Record<string, number> = {};
        (await pc.getStats()).forEach((s: any) => {
          if (s.type === 'outbound-rtp' && s.kind === 'video' && s.rid) out[s.rid] = s.frameWidth ?? 0;
        });
        return out;
      }, undefined);
    const started = Date.now();
    const deadline = started + 60_000;
    let state = { small: { width: 0, frames: 0, audioPackets: 0 }, large: { width: 0, frames: 0, audioPackets: 0 }, fox: { width: 0, frames: 0, audioPackets: 0 }, layers: {} as Record<string, number> };
    for (;;) {
      state = { small: await decodedWidth(small.page, 'fox'), large: await decodedWidth(large.page, 'fox'), fox: await decodedWidth(fox.page, 'small'), layers: await sentLayers() };
      const selected = env.server.sfu.metrics().layers;
      // Decoded widths lag the SFU's selection: wait for both to agree (a loaded machine ramps slowly).
      const done = state.small.width === 320 && state.large.width === 640 && selected['h'] === 1 && selected['f'] === 1 && state.fox.frames > 10 && state.fox.audioPackets > 10;
      if (done) break;
      if (Date.now() > deadline) throw new Error(`simulcast from Firefox not forwarded by layer: ${JSON.stringify(state)}, SFU layers ${JSON.stringify(selected)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    t.diagnostic(`layers selected ${Date.now() - started} ms after the three joined`);
    t.diagnostic(`Firefox sends ${JSON.stringify(state.layers)}; small decodes ${state.small.width} px wide, large ${state.large.width} px; Firefox decoded ${state.fox.frames} frames of small`);
    assert.deepEqual(Object.keys(state.layers).sort(), ['f', 'h'], 'Firefox sends two rid layers (RFC 8853)');
    assert.equal(state.small.width, 320, 'the small renderer gets layer h');
    assert.equal(state.large.width, 640, 'the large renderer gets layer f');
    const layers = env.server.sfu.metrics().layers;
    assert.equal(layers['h'], 1, JSON.stringify(layers));
    assert.equal(layers['f'], 1, JSON.stringify(layers));
    const mode = await fox.page.evaluate(() => (window as unknown as Record<string, any>)['room'].mode, undefined);
    assert.equal(mode, 'sfu');
    // Firefox's fake microphone is a continuous sine tone: with Chromium's beeping one muted,
    // the SFU's RFC 6464 audio levels make Firefox the only active speaker, for everyone.
    await small.page.evaluate(() => (window as unknown as Record<string, any>)['room'].localParticipant.setMicrophoneEnabled(false));
    const muted = Date.now();
    for (const page of [large.page, fox.page]) {
      await waitInPage(page, () => {
        const speakers = ((window as unknown as Record<string, any>)['room'].activeSpeakers as { identity: string }[]).map((p) => p.identity);
        return speakers.length === 1 && speakers[0] === 'fox';
      }, undefined, 'Firefox as the only active speaker', 30_000);
    }
    t.diagnostic(`Firefox the only active speaker ${Date.now() - muted} ms after Chromium muted`);
    // The small renderer grows: it moves up to f.
    const grown = Date.now();
    await render(small.page, 'fox', 1280, 720);
    await waitInPage(small.page, async () => {
      const room = (window as unknown as Record<string, any>)['room'];
      const id = room.remoteParticipants.get('fox')?.getTrack('camera')?.track?.id;
      let width = 0;
      (await (room.getPeerConnection('sfu') as RTCPeerConnection).getStats()).forEach((s: any) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video' && s.trackIdentifier === id) width = s.frameWidth ?? 0;
      });
      return width === 640;
    }, undefined, 'layer f at the grown renderer', 30_000);
    t.diagnostic(`grown renderer decodes layer f ${Date.now() - grown} ms after its new size`);
    for (const p of [fox, small, large]) assert.deepEqual(await sdkWarnings(p.page as ScriptPage), [], `${p.identity}'s SDK warnings`);
  } finally {
    // Leave (a closed tab would hold its place for the reconnect grace), then close.
    for (const page of [fox.page, small.page, large.page] as ScriptPage[]) await page.evaluate(() => (window as unknown as Record<string, any>)['room'].disconnect(), undefined).catch(() => undefined);
    await fox.context.close();
    await small.page.context().close();
    await large.page.context().close();
  }
  // Everyone left: the SFU holds nothing.
  const deadline = Date.now() + 15_000;
  while (env.server.sfu.stats().peerConnections > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(env.server.sfu.stats(), { rooms: 0, peerConnections: 0, publications: 0, downTracks: 0 });
});

/** Whether the room is in `mode`, every remote's camera comes over that path, and the old path is closed. */
function switchedTo(page: ScriptPage, mode: 'p2p' | 'sfu', remotes: string[]): Promise<unknown> {
  return waitInPage(
    page,
    ({ mode, remotes }: { mode: string; remotes: string[] }) => {
      const room = (window as unknown as Record<string, any>)['room'];
      if (room.mode !== mode) return false;
      for (const id of remotes) {
        const pub = room.remoteParticipants.get(id)?.getTrack('camera');
        if (!pub?.track || pub.path !== mode) return false;
        if (mode === 'sfu' && room.getPeerConnection(id)) return false;
      }
      return mode === 'p2p' ? room.getPeerConnection('sfu') === undefined : true;
    },
    { mode, remotes },
    `the switch to ${mode}`,
    9_000, // under the SDK's 10 s switch timeout: the make-before-break handshake closed the old path
  );
}

/** Longest interval between presented frames of `identity`'s camera since `since` (page ms; a freeze at the end counts), and the frame count. */
function frameGap(page: ScriptPage, identity: string, since: number): Promise<{ gapMs: number; frames: number }> {
  return page.evaluate(({ key, since }: { key: string; since: number }) => {
    const times: number[] = ((window as unknown as Record<string, any>)['log'].frameTimes[key] ?? []).filter((t: number) => t >= since);
    let gapMs = 0;
    for (let i = 1; i < times.length; i++) gapMs = Math.max(gapMs, times[i]! - times[i - 1]!);
    if (times.length > 0) gapMs = Math.max(gapMs, performance.now() - times[times.length - 1]!);
    return { gapMs: Math.round(gapMs), frames: times.length };
  }, { key: `${identity}:camera`, since });
}

const pageNow = (page: ScriptPage) => page.evaluate(() => performance.now(), undefined);

test('auto room with Firefox: P2P for two, SFU when a third joins, P2P again when it leaves, video continuing', { skip, timeout: 150_000 }, async (t: TestContext) => {
  const url = env.server.url;
  const fox = await joinWithSdkFirefox(env.firefox, url, url, await devToken('ff-auto', 'fox'), 'fox');
  const bob = await joinWithSdk(env.chromium, url, url, await devToken('ff-auto', 'bob'), 'bob');
  let carol: Awaited<ReturnType<typeof joinWithSdk>> | undefined;
  try {
    await Promise.all([waitForMedia(fox, ['bob'], 45_000), waitForMedia(bob, ['fox'], 45_000)]);
    assert.equal(env.server.sfu.stats().peerConnections, 0, 'a 1:1 call does not touch the SFU');

    const [f0, b0] = await Promise.all([pageNow(fox.page), pageNow(bob.page)]);
    carol = await joinWithSdk(env.chromium, url, url, await devToken('ff-auto', 'carol'), 'carol');
    await Promise.all([switchedTo(fox.page, 'sfu', ['bob', 'carol']), switchedTo(bob.page, 'sfu', ['fox', 'carol']), switchedTo(carol.page, 'sfu', ['fox', 'bob'])]);
    await Promise.all([waitForMedia(fox, ['bob', 'carol'], 45_000), waitForMedia(bob, ['fox', 'carol'], 45_000), waitForMedia(carol, ['fox', 'bob'], 45_000)]);
    const toSfu = { fox: await frameGap(fox.page, 'bob', f0), bob: await frameGap(bob.page, 'fox', b0) };
    t.diagnostic(`P2P→SFU: longest frame gap in Firefox (bob's video) ${toSfu.fox.gapMs} ms over ${toSfu.fox.frames} frames; in Chromium (Firefox's video) ${toSfu.bob.gapMs} ms over ${toSfu.bob.frames}`);

    const [f1, b1] = await Promise.all([pageNow(fox.page), pageNow(bob.page)]);
    await carol.page.evaluate(() => (window as unknown as Record<string, any>)['room'].disconnect());
    await carol.page.context().close();
    carol = undefined;
    await Promise.all([switchedTo(fox.page, 'p2p', ['bob']), switchedTo(bob.page, 'p2p', ['fox'])]);
    await Promise.all([waitForMedia(fox, ['bob'], 45_000), waitForMedia(bob, ['fox'], 45_000)]);
    const toP2p = { fox: await frameGap(fox.page, 'bob', f1), bob: await frameGap(bob.page, 'fox', b1) };
    t.diagnostic(`SFU→P2P: longest frame gap in Firefox ${toP2p.fox.gapMs} ms over ${toP2p.fox.frames} frames; in Chromium ${toP2p.bob.gapMs} ms over ${toP2p.bob.frames}`);
    // No failed negotiation on the way (the SFU once trickled candidates ahead of their offer).
    for (const p of [fox, bob]) assert.deepEqual(await sdkWarnings(p.page as ScriptPage), [], `${p.identity}'s SDK warnings`);
    for (const [what, g] of Object.entries({ 'P2P→SFU Firefox': toSfu.fox, 'P2P→SFU Chromium': toSfu.bob, 'SFU→P2P Firefox': toP2p.fox, 'SFU→P2P Chromium': toP2p.bob })) {
      assert.ok(g.frames > 10, `${what}: frames kept coming (${g.frames})`);
      assert.ok(g.gapMs < 1500, `${what}: longest gap ${g.gapMs} ms`);
    }
  } finally {
    await carol?.page.context().close();
    await fox.context.close();
    await bob.page.context().close();
  }
});
