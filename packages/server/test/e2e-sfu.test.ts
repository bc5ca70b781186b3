/** Rooms in `sfu` mode in Chromium: every participant publishes once to Dari's SFU (werift) and decodes the others' video through it. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import type { RunningServer } from '../src/serve.js';
import { devToken, testServer } from './helpers.js';
import { joinWithSdk, launchChromium, type Participant } from '@dari/testkit';

let server: RunningServer;
let browser: Browser;
/** Open UDP sockets of this process (dgram handles; Node has no public API that counts unref'd ones), to catch werift socket leaks. */
const udpSockets = () => (process as unknown as { _getActiveHandles(): object[] })._getActiveHandles().filter((h) => h.constructor.name === 'Socket' && 'setBroadcast' in h).length;
let udpBefore = 0;

before(async () => {
  udpBefore = udpSockets();
  server = await testServer({ sfu: { mode: 'sfu' } });
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

test('closing the server leaves no UDP socket of the SFU (or of TURN) behind', { timeout: 30_000 }, async () => {
  await server.close();
  await browser.close();
  const deadline = Date.now() + 10_000;
  while (udpSockets() > udpBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(udpSockets(), udpBefore, 'every UDP socket closed (werift-patch.ts stops transports werift forgets)');
});
