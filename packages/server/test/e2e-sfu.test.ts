/** Rooms in `sfu` mode in Chromium: every participant publishes once to Dari's SFU (werift) and decodes the others' video through it. */
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import type { RunningServer } from '../src/serve.js';
import { encodeRemb } from '@dari/sfu/core';
import { devToken, launchTalkerChromium, testServer } from './helpers.js';
import { joinWithSdk, launchChromium, type Participant } from '@dari/testkit';

let server: RunningServer;
let browser: Browser;
/** Open UDP sockets of this process (dgram handles; Node has no public API that counts unref'd ones), to catch werift socket leaks. */
const udpSockets = () => (process as unknown as { _getActiveHandles(): object[] })._getActiveHandles().filter((h) => h.constructor.name === 'Socket' && 'setBroadcast' in h).length;
let udpBefore = 0;

before(async () => {
  udpBefore = udpSockets();
  // No composite fallback: this file checks layer selection and topology, and a CPU-starved
  // browser on 2 cores looks congested (e2e-fallback tests the fallback on a shaped link).
  server = await testServer({ sfu: { mode: 'sfu', compositeFallback: { enabled: false } }, signaling: { reconnectGraceMs: 2000 } });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/** Waits until this page's <video> for each peer has decoded frames and keeps decoding. */
async function decodesVideoFrom(p: Participant, peers: string[], timeoutMs = 45_000): Promise<Record<string, number>> {
  return p.page.evaluate(
    async ({ peers, timeoutMs }) => {
      const room = (window as unknown as Record<string, any>)['room'];
      // framesDecoded of each remote participant's video, from the SFU leg's getStats().
      const frames = async () => {
        const report: RTCStatsReport = await room.getPeerConnection('sfu').getStats();
        const byTrack = new Map<string, number>();
        report.forEach((s: any) => {
          if (s.type === 'inbound-rtp' && s.kind === 'video') byTrack.set(s.trackIdentifier, s.framesDecoded ?? 0);
        });
        return Object.fromEntries(peers.map((id) => {
          const pub = room.remoteParticipants.get(id)?.getTrack('camera');
          return [id, pub?.track ? byTrack.get(pub.track.id) ?? 0 : 0];
        })) as Record<string, number>;
      };
      const deadline = Date.now() + timeoutMs;
      let first: Record<string, number> | null = null;
      let last = await frames();
      while (Date.now() < deadline) {
        last = await frames();
        if (!first && peers.every((id) => last[id]! > 5)) first = last;
        else if (first && peers.every((id) => last[id]! >= first![id]! + 5)) return last;
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(`video not decoding from ${peers.join(', ')}: ${JSON.stringify(last)}`);
    },
    { peers, timeoutMs },
  );
}

test('four participants each decode the three others\' videos through the SFU', { timeout: 150_000 }, async () => {
  const names = ['alice', 'bob', 'carol', 'dave'];
  const ps: Participant[] = [];
  for (const n of names) ps.push(await joinWithSdk(browser, server.url, server.url, await devToken('sfu4', n), n));
  try {
    await Promise.all(ps.map((p, i) => decodesVideoFrom(p, names.filter((_, j) => j !== i))));
    const mode = await ps[0]!.page.evaluate(() => (window as unknown as Record<string, any>)['room'].mode);
    assert.equal(mode, 'sfu');
    const stats = server.sfu.stats();
    assert.equal(stats.peerConnections, 8, 'two per participant');
    assert.equal(stats.publications, 8, 'audio + video each');
    assert.equal(stats.downTracks, 24, 'each publication to three subscribers');
  } finally {
    for (const p of ps) await p.page.context().close();
  }
  // Everyone left: no peer connection or forwarding track is left behind.
  await new Promise<void>((resolve, reject) => {
    const deadline = Date.now() + 15_000;
    const check = () => (server.sfu.stats().peerConnections === 0 ? resolve() : Date.now() > deadline ? reject(new Error(JSON.stringify(server.sfu.stats()))) : setTimeout(check, 100));
    check();
  });
  assert.deepEqual(server.sfu.stats(), { rooms: 0, peerConnections: 0, publications: 0, downTracks: 0 });
});

/** Waits until the SFU holds exactly `n` peer connections. */
async function sfuPeerConnections(n: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (server.sfu.stats().peerConnections !== n) {
    if (Date.now() > deadline) throw new Error(`SFU: ${JSON.stringify(server.sfu.stats())}, expected ${n} peer connections`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const w = (p: Participant) => p.page;

test('SFU room: chat to everyone and to one, and a file over a data-only P2P link', { timeout: 90_000 }, async () => {
  const names = ['ann', 'ben', 'cy'];
  const ps: Participant[] = [];
  for (const n of names) ps.push(await joinWithSdk(browser, server.url, server.url, await devToken('sfu-data', n), n));
  const [a, b, c] = ps as [Participant, Participant, Participant];
  try {
    await Promise.all(ps.map((p, i) => decodesVideoFrom(p, names.filter((_, j) => j !== i))));
    await w(a).evaluate(() => {
      const room = (window as unknown as Record<string, any>)['room'];
      room.sendSignal('chat', 'hello all', []);
      room.sendSignal('chat', 'for cy', ['cy']);
    });
    for (const p of ps) await w(p).waitForFunction(() => (window as unknown as Record<string, any>)['log'].signals.some((s: any) => s.data === 'hello all'));
    await w(c).waitForFunction(() => (window as unknown as Record<string, any>)['log'].signals.some((s: any) => s.data === 'for cy'));
    const forCy = async (p: Participant) => w(p).evaluate(() => (window as unknown as Record<string, any>)['log'].signals.filter((s: any) => s.data === 'for cy').length);
    assert.deepEqual([await forCy(a), await forCy(b), await forCy(c)], [0, 0, 1], 'a targeted signal reaches only its target');
    const sent = await w(a).evaluate(async () => {
      const room = (window as unknown as Record<string, any>)['room'];
      const data = new Uint8Array(1024 * 1024);
      for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
      const sha = await room.sendFile(new Blob([data]), 'ben', 'sfu.bin');
      const local = [...new Uint8Array(await crypto.subtle.digest('SHA-256', data))].map((x) => x.toString(16).padStart(2, '0')).join('');
      // The link is data-only: no media goes peer to peer in an SFU room.
      const pc: RTCPeerConnection = room.getPeerConnection('ben');
      return { sha, local, senders: pc.getSenders().filter((s) => s.track).length, mode: room.mode };
    });
    assert.equal(sent.mode, 'sfu');
    assert.equal(sent.sha, sent.local);
    assert.equal(sent.senders, 0, 'no media on the file link');
    await w(b).waitForFunction(() => (window as unknown as Record<string, any>)['log'].files.length === 1);
    const [file] = await w(b).evaluate(() => (window as unknown as Record<string, any>)['log'].files);
    assert.deepEqual(file, { name: 'sfu.bin', size: 1024 * 1024, sha256: sent.local, from: 'ann' });
  } finally {
    for (const p of ps) await p.page.context().close();
  }
  await sfuPeerConnections(0);
});

test('a late joiner decodes every publisher\'s first frame within a second of its SFU leg connecting', { timeout: 120_000 }, async (t: TestContext) => {
  const names = ['pa', 'pb', 'pc'];
  const ps: Participant[] = [];
  try {
    for (const n of names) ps.push(await joinWithSdk(browser, server.url, server.url, await devToken('sfu-late', n), n));
    await Promise.all(ps.map((p, i) => decodesVideoFrom(p, names.filter((_, j) => j !== i))));
    // Publishers have been sending for a while: their last keyframe is old, so only a PLI
    // forwarded by the SFU gets the newcomer a picture quickly.
    await new Promise((r) => setTimeout(r, 3000));
    const late = await joinWithSdk(browser, server.url, server.url, await devToken('sfu-late', 'late'), 'late');
    ps.push(late);
    await decodesVideoFrom(late, names);
    const waits = await w(late).evaluate((names) => {
      const log = (window as unknown as Record<string, any>)['log'];
      const connected = log.connectStart + log.peerConnectedAt['sfu:subscriber'];
      return names.map((n) => Math.round((log.frameTimes[`${n}:camera`]?.[0] ?? Infinity) - connected));
    }, names);
    t.diagnostic(`late joiner: first frame ${waits.join(', ')} ms after its subscriber leg connected`);
    for (const ms of waits) assert.ok(ms < 1000, `first frame after ${ms} ms`);
  } finally {
    for (const p of ps) await p.page.context().close();
  }
  await sfuPeerConnections(0);
});

test('a publisher that vanishes mid-stream is cleaned up: no peer connection, forwarding track or timer left', { timeout: 120_000 }, async () => {
  await sfuPeerConnections(0);
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const idleTimers = timers();
  const stay = await joinWithSdk(browser, server.url, server.url, await devToken('sfu-vanish', 'stay'), 'stay');
  const gone = await joinWithSdk(browser, server.url, server.url, await devToken('sfu-vanish', 'gone'), 'gone');
  try {
    await Promise.all([decodesVideoFrom(stay, ['gone']), decodesVideoFrom(gone, ['stay'])]);
    assert.deepEqual(server.sfu.stats(), { rooms: 1, peerConnections: 4, publications: 4, downTracks: 4 });
    // The tab dies: no leave, its sockets just close (the browser process's own teardown).
    await gone.page.context().close();
    // After the reconnect grace (2 s here) the server drops it and its SFU legs.
    await sfuPeerConnections(2);
    assert.deepEqual(server.sfu.stats(), { rooms: 1, peerConnections: 2, publications: 2, downTracks: 0 });
    await w(stay).waitForFunction(() => (window as unknown as Record<string, any>)['log'].left.includes('gone'));
  } finally {
    await stay.page.context().close();
  }
  await sfuPeerConnections(0);
  assert.deepEqual(server.sfu.stats(), { rooms: 0, peerConnections: 0, publications: 0, downTracks: 0 });
  // werift's timers (ICE consent, DTLS retransmission, RTCP reports) are gone with the connections.
  const deadline = Date.now() + 10_000;
  while (timers() > idleTimers && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.ok(timers() <= idleTimers, `timers: ${timers()} now, ${idleTimers} before`);
});

test('simulcast: a subscriber that renders small gets a lower layer, one that renders large the top layer; unused layers pause', { timeout: 120_000 }, async (t: TestContext) => {
  const pub = await joinWithSdk(browser, server.url, server.url, await devToken('sfu-layers', 'pub'), 'pub', { width: 1280, height: 720, frameRate: 15 });
  const small = await joinWithSdk(browser, server.url, server.url, await devToken('sfu-layers', 'small'), 'small', false);
  const large = await joinWithSdk(browser, server.url, server.url, await devToken('sfu-layers', 'large'), 'large', false);
  try {
    // Each subscriber tells the SFU its render size (adaptive stream), as attach() does from the element.
    const render = (p: Participant, width: number, height: number) =>
      w(p).waitForFunction(
        ({ width, height }) => {
          const pubn = (window as unknown as Record<string, any>)['room'].remoteParticipants.get('pub')?.getTrack('camera');
          if (!pubn?.track) return false;
          pubn.setVideoDimensions({ width, height });
          return true;
        },
        { width, height },
        { polling: 100, timeout: 30_000 },
      );
    await render(small, 160, 90);
    await render(large, 1280, 720);
    /** Frame width the subscriber decodes now, from getStats. */
    const decodedWidth = (p: Participant) =>
      w(p).evaluate(async () => {
        const report: RTCStatsReport = await (window as unknown as Record<string, any>)['room'].getPeerConnection('sfu').getStats();
        let width = 0;
        report.forEach((s: any) => {
          if (s.type === 'inbound-rtp' && s.kind === 'video' && s.frameWidth) width = s.frameWidth;
        });
        return width;
      });
    /** The publisher's layers: rid → frame width sent (0 when paused), from its outbound-rtp stats. */
    const sentLayers = () =>
      w(pub).evaluate(async () => {
        const report: RTCStatsReport = await (window as unknown as Record<string, any>)['room'].getPeerConnection('sfu:publisher').getStats();
        const out: Record<string, { width: number; active: boolean }> = {};
        report.forEach((s: any) => {
          if (s.type === 'outbound-rtp' && s.kind === 'video' && s.rid) out[s.rid] = { width: s.frameWidth ?? 0, active: s.active !== false };
        });
        return out;
      });
    const deadline = Date.now() + 60_000;
    let state = { small: 0, large: 0, layers: {} as Record<string, { width: number; active: boolean }> };
    for (;;) {
      state = { small: await decodedWidth(small), large: await decodedWidth(large), layers: await sentLayers() };
      const q = state.layers['q']?.width ?? 0;
      const f = state.layers['f']?.width ?? 0;
      if (q > 0 && f > q && state.small === q && state.large === f && state.layers['h']?.active === false) break;
      if (Date.now() > deadline) throw new Error(`layers not selected: ${JSON.stringify(state)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    t.diagnostic(`simulcast: publisher sends ${JSON.stringify(state.layers)}; small decodes ${state.small} px wide, large ${state.large} px`);
    const layers = server.sfu.metrics().layers;
    assert.equal(layers['q'], 1, JSON.stringify(layers));
    assert.equal(layers['f'], 1, JSON.stringify(layers));
    // The same figures on /metrics (Prometheus text format).
    const text = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(text, /^dari_sfu_selected_layers\{layer="q"\} 1$/m);
    assert.match(text, /^dari_sfu_selected_layers\{layer="f"\} 1$/m);
    assert.match(text, /^dari_rooms_by_mode\{mode="sfu"\} [1-9]/m);
    const forwarded = Number(/^dari_sfu_forwarded_packets_total (\d+)/m.exec(text)?.[1]);
    assert.ok(forwarded > 10, `forwarded packets: ${forwarded}`);
    assert.match(text, /^dari_sfu_pli_sent_total [1-9]/m, 'layer switches asked publishers for keyframes');
    // The small one's window grows: it gets a higher layer (h is resumed at the publisher), and
    // the picture does not freeze beyond the keyframe wait.
    const switchStart = await w(small).evaluate(() => performance.now());
    await render(small, 640, 360);
    await w(small).waitForFunction(
      async (q) => {
        const report: RTCStatsReport = await (window as unknown as Record<string, any>)['room'].getPeerConnection('sfu').getStats();
        let width = 0;
        report.forEach((s: any) => {
          if (s.type === 'inbound-rtp' && s.kind === 'video' && s.frameWidth) width = s.frameWidth;
        });
        return width > q;
      },
      state.layers['q']!.width,
      { polling: 250, timeout: 30_000 },
    );
    await new Promise((r) => setTimeout(r, 1000)); // a second of the new layer in the window
    const gapMs = await w(small).evaluate((since) => {
      const times: number[] = ((window as unknown as Record<string, any>)['log'].frameTimes['pub:camera'] ?? []).filter((x: number) => x >= since);
      let gap = 0;
      for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!);
      return Math.round(gap);
    }, switchStart);
    t.diagnostic(`layer switch q → h at the small subscriber: longest gap between presented frames ${gapMs} ms`);
    assert.ok(gapMs > 0 && gapMs < 1500, `layer switch froze the picture for ${gapMs} ms`);
  } finally {
    for (const p of [pub, small, large]) await p.page.context().close();
  }
  await sfuPeerConnections(0);
});

test('active speaker: the participant who talks is reported to everyone, from RFC 6464 audio levels', { timeout: 90_000 }, async () => {
  const talker = await launchTalkerChromium(10);
  const talkerBrowser = talker.browser;
  const ps: Participant[] = [];
  try {
    ps.push(await joinWithSdk(talkerBrowser, server.url, server.url, await devToken('sfu-speak', 'talker'), 'talker'));
    for (const n of ['quiet1', 'quiet2']) {
      const p = await joinWithSdk(browser, server.url, server.url, await devToken('sfu-speak', n), n);
      await w(p).evaluate(() => (window as unknown as Record<string, any>)['room'].localParticipant.setMicrophoneEnabled(false));
      ps.push(p);
    }
    for (const p of ps) {
      await w(p).waitForFunction(
        () => {
          const room = (window as unknown as Record<string, any>)['room'];
          return room.activeSpeakers?.[0]?.identity === 'talker';
        },
        undefined,
        { polling: 100, timeout: 30_000 },
      );
    }
    const quietSpeaking = await w(ps[1]!).evaluate(() => {
      const room = (window as unknown as Record<string, any>)['room'];
      return room.activeSpeakers.map((p: any) => p.identity);
    });
    assert.deepEqual(quietSpeaking, ['talker'], 'muted participants are not speakers');
  } finally {
    for (const p of ps) await p.page.context().close();
    await talker.close();
  }
  await sfuPeerConnections(0);
});

test('a track published and unpublished mid-call reaches subscribers and then stops being forwarded', { timeout: 90_000 }, async () => {
  const pub = await joinWithSdk(browser, server.url, server.url, await devToken('sfu-share', 'sharer'), 'sharer');
  const sub = await joinWithSdk(browser, server.url, server.url, await devToken('sfu-share', 'viewer'), 'viewer');
  try {
    await Promise.all([decodesVideoFrom(pub, ['viewer']), decodesVideoFrom(sub, ['sharer'])]);
    const before = server.sfu.stats();
    // A "screen share" from a canvas (no display picker in headless Chromium).
    await w(pub).evaluate(async () => {
      const canvas = document.createElement('canvas');
      canvas.width = 640;
      canvas.height = 360;
      const ctx = canvas.getContext('2d')!;
      let n = 0;
      setInterval(() => {
        ctx.fillStyle = `hsl(${(n += 7) % 360} 80% 50%)`;
        ctx.fillRect(0, 0, 640, 360);
      }, 66);
      const track = canvas.captureStream(15).getVideoTracks()[0]!;
      await (window as unknown as Record<string, any>)['room'].localParticipant.publishTrack(track, 'screen_share');
    });
    await w(sub).waitForFunction(() => (window as unknown as Record<string, any>)['log'].subscribed.includes('sharer:screen_share'), undefined, { timeout: 30_000 });
    await w(sub).waitForFunction(
      async () => {
        const room = (window as unknown as Record<string, any>)['room'];
        const track = room.remoteParticipants.get('sharer')?.getTrack('screen_share')?.track;
        if (!track) return false;
        const report: RTCStatsReport = await room.getPeerConnection('sfu').getStats();
        let frames = 0;
        report.forEach((s: any) => {
          if (s.type === 'inbound-rtp' && s.trackIdentifier === track.id) frames = s.framesDecoded ?? 0;
        });
        return frames > 5;
      },
      undefined,
      { polling: 250, timeout: 30_000 },
    );
    assert.equal(server.sfu.stats().publications, before.publications + 1);
    assert.equal(server.sfu.stats().downTracks, before.downTracks + 1);
    await w(pub).evaluate(() => (window as unknown as Record<string, any>)['room'].localParticipant.setScreenShareEnabled(false));
    await w(sub).waitForFunction(() => (window as unknown as Record<string, any>)['log'].unsubscribed.includes('sharer:screen_share'), undefined, { timeout: 30_000 });
    const deadline = Date.now() + 15_000;
    while (server.sfu.stats().publications !== before.publications && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(server.sfu.stats(), before, 'the SFU stopped forwarding the unpublished track');
    await decodesVideoFrom(sub, ['sharer']); // the camera keeps coming
  } finally {
    for (const p of [pub, sub]) await p.page.context().close();
  }
  await sfuPeerConnections(0);
});

test('simulcast: the subscriber\'s REMB drives its layer — down to q when it estimates 100 kbps, back up to f when it has room', { timeout: 120_000 }, async (t: TestContext) => {
  const { DariBot, devToken: botToken } = (await import(new URL('../../../../bench/sfu/dari-bot.mjs', import.meta.url).href)) as any;
  const pub = await joinWithSdk(browser, server.url, server.url, await devToken('sfu-remb', 'pub'), 'pub', { width: 1280, height: 720, frameRate: 15 });
  // A werift subscriber: it sends no REMB of its own (werift never does), only the ones below.
  const bot = new DariBot({ url: server.wsUrl, token: await botToken(server.url, 'sfu-remb', 'bot') });
  try {
    await bot.connect();
    await bot.subscriberConnected(30_000);
    // The core's subscription of the bot to the publisher's video, and its werift output.
    const subscription = () => {
      const room = (server.sfu as any).rooms.get('sfu-remb');
      const pubId = room?.core.publications().find((p: any) => p.participant === 'pub' && p.kind === 'video')?.id;
      return pubId === undefined ? undefined : room.core.subscription('bot', pubId);
    };
    const down = () => (server.sfu as any).rooms.get('sfu-remb').output(subscription());
    const layer = () => subscription()?.currentLayer as number | null | undefined;
    const waitLayer = async (want: number, what: string, remb?: number) => {
      const deadline = Date.now() + 30_000;
      while (layer() !== want) {
        if (Date.now() > deadline) throw new Error(`${what}: layer ${layer()}`);
        if (remb !== undefined) await sendRemb(remb);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    const rx = () => bot.subscriberPc.getTransceivers().find((x: any) => x.kind === 'video').receiver;
    const sendRemb = async (bps: number) => {
      const d = down();
      const bytes = encodeRemb({ senderSsrc: rx().rtcpSsrc, bitrateBps: bps, ssrcs: [d.transceiver.sender.ssrc] });
      await rx().dtlsTransport.sendRtcp([{ serialize: () => Buffer.from(bytes) }]);
    };
    // No render size and no estimate: the top layer, once the publisher sends it.
    await waitLayer(2, 'f without an estimate');
    const t0 = Date.now();
    await waitLayer(0, 'q at 100 kbps', 100_000);
    const down1 = Date.now() - t0;
    const t1 = Date.now();
    await waitLayer(2, 'back to f at 10 Mbps', 10_000_000);
    t.diagnostic(`REMB 100 kbps → q after ${down1} ms; REMB 10 Mbps → f again after ${Date.now() - t1} ms`);
  } finally {
    await bot.close();
    await pub.page.context().close();
  }
  await sfuPeerConnections(0);
});

test('closing the server leaves no UDP socket of the SFU (or of TURN) behind', { timeout: 30_000 }, async () => {
  await server.close();
  await browser.close();
  const deadline = Date.now() + 10_000;
  while (udpSockets() > udpBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(udpSockets(), udpBefore, 'every UDP socket closed (@dari/sfu werift/patches/transports.ts stops transports werift forgets)');
});
