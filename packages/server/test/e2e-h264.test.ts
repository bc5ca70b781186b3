/**
 * H.264 through the SFU in Chromium (issue #11 item 1): a publisher forced to H.264
 * (setCodecPreferences, packetization-mode 1) is decoded by three subscribers, one of them a late
 * joiner, each decoding H.264 (the codec in getStats); a publisher left alone sends VP8, the default.
 */
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import type { RunningServer } from '../src/serve.js';
import { devToken, testServer } from './helpers.js';
import { joinWithSdk, launchChromium, sdkJoinScript, type Participant } from '@dari/testkit';
import { decodes } from './decoding.js';

let server: RunningServer;
let browser: Browser;

before(async () => {
  server = await testServer({ sfu: { mode: 'sfu' }, turn: { enabled: false } });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/** In the page, before anything runs: every offer sends video in H.264 only (what a publisher "forced to H.264" does). */
function forceH264(): void {
  const prefer = (pc: RTCPeerConnection) => {
    const codecs = RTCRtpReceiver.getCapabilities('video')!.codecs.filter((c) => c.mimeType === 'video/H264' || c.mimeType === 'video/rtx');
    for (const t of pc.getTransceivers()) if (t.sender.track?.kind === 'video') t.setCodecPreferences(codecs);
  };
  // Offers come from createOffer() or from an argument-less setLocalDescription() (perfect negotiation).
  for (const name of ['createOffer', 'setLocalDescription'] as const) {
    const original = RTCPeerConnection.prototype[name] as (...a: unknown[]) => Promise<unknown>;
    (RTCPeerConnection.prototype as unknown as Record<string, unknown>)[name] = function (this: RTCPeerConnection, ...args: unknown[]) {
      if (this.signalingState === 'stable') prefer(this);
      return original.apply(this, args);
    };
  }
}

async function joinForcedH264(identity: string, room: string): Promise<Participant> {
  const context = await browser.newContext();
  await context.addInitScript(forceH264);
  const page = await context.newPage();
  await page.goto(`${server.url}/healthz`);
  await page.evaluate(sdkJoinScript, { token: await devToken(room, identity), signalingUrl: server.url, media: true, roomOptions: {} });
  return { page, identity };
}

test('a Chromium publisher forced to H.264 is decoded by three subscribers, a late joiner included; VP8 stays the default', { timeout: 150_000 }, async (t: TestContext) => {
  const room = 'h264';
  const ps: Participant[] = [];
  try {
    ps.push(await joinForcedH264('h264pub', room));
    ps.push(await joinWithSdk(browser, server.url, server.url, await devToken(room, 'vp8pub'), 'vp8pub'));
    for (const n of ['s1', 's2']) ps.push(await joinWithSdk(browser, server.url, server.url, await devToken(room, n), n, false));
    const [, , s1, s2] = ps as [Participant, Participant, Participant, Participant];
    const seen = await Promise.all([s1, s2].flatMap((s) => [decodes(s, 'h264pub'), decodes(s, 'vp8pub')]));
    assert.deepEqual(seen.map((d) => d.mimeType), ['video/H264', 'video/VP8', 'video/H264', 'video/VP8'], 'H.264 from the forced publisher; VP8 from a browser camera left alone');
    const codecs = server.sfu.publications(room).filter((p) => p.kind === 'video').map((p) => `${p.participant}:${p.codec.mimeType}`).sort();
    assert.deepEqual(codecs, ['h264pub:video/H264', 'vp8pub:video/VP8']);
    // The publisher's last keyframe is old by now: the late joiner's picture comes from a PLI
    // the SFU forwards, and a switch that starts at the SPS/PPS (rtp/h264.ts).
    await new Promise((r) => setTimeout(r, 2000));
    const late = await joinWithSdk(browser, server.url, server.url, await devToken(room, 'late'), 'late', false);
    ps.push(late);
    const got = await decodes(late, 'h264pub');
    assert.equal(got.mimeType, 'video/H264');
    t.diagnostic(`late joiner: first H.264 frame ${got.firstFrameMs} ms after its subscriber leg connected`);
    assert.ok(got.firstFrameMs < 1000, `first frame after ${got.firstFrameMs} ms`);
    const sent = await ps[0]!.page.evaluate(async () => {
      const report: any = await (window as unknown as Record<string, any>)['room'].getPeerConnection('sfu:publisher').getStats();
      const out: string[] = [];
      report.forEach((s: any) => {
        if (s.type === 'outbound-rtp' && s.kind === 'video' && (s.framesEncoded ?? 0) > 0) out.push(report.get(s.codecId)?.sdpFmtpLine ?? '');
      });
      return out;
    });
    assert.ok(sent.length > 0 && sent.every((f) => /packetization-mode=1/.test(f)), `the publisher sends packetization-mode 1: ${sent.join(' | ')}`);
  } finally {
    for (const p of ps) await p.page.context().close();
  }
});
