/**
 * Room mode `mcu` in Chromium (issue #10): three participants, each with its own solid-colour
 * fake camera, publish once; each receives exactly one video (the composite) and one audio track
 * (its N−1 mix) and decodes the composite, whose frames hold the other participants' colours.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { joinWithSdk, launchChromium, type Participant } from '@dari/testkit';
import type { RunningServer } from '../src/serve.js';
import { devToken, testServer } from './helpers.js';
import { solidY4m, until } from './media-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'dari-mcu-'));
const COLOURS: Record<string, [number, number, number]> = { red: [255, 0, 0], green: [0, 255, 0], blue: [0, 0, 255] };
let server: RunningServer;
const browsers: Browser[] = [];

before(async () => {
  server = await testServer({ turn: { enabled: false }, sfu: { rooms: { town: 'mcu' } }, mcu: { width: 320, height: 240, fps: 15 }, signaling: { reconnectGraceMs: 1000 } });
});
after(async () => {
  await Promise.all(browsers.map((b) => b.close()));
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * In the page: the inbound RTP streams of the SFU leg (kind, frames decoded), and the share of
 * pixels near each colour in a frame of the received video.
 */
async function received(p: Participant): Promise<{ video: number; audio: number; framesDecoded: number; shares: Record<string, number> }> {
  return p.page.evaluate(async (colours) => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const pc: RTCPeerConnection = (window as any).room.getPeerConnection('sfu');
    const report = await pc.getStats();
    let video = 0;
    let audio = 0;
    let framesDecoded = 0;
    report.forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video' && s.framesDecoded > 0) {
        video++;
        framesDecoded += s.framesDecoded;
      }
      if (s.kind === 'audio' && s.packetsReceived > 0) audio++;
    });
    const shares: Record<string, number> = {};
    const track = pc.getReceivers().map((r) => r.track).find((t) => t.kind === 'video' && t.readyState === 'live' && !t.muted);
    if (track) {
      const el = document.createElement('video');
      el.muted = true;
      el.srcObject = new MediaStream([track]);
      await el.play();
      await new Promise((r) => setTimeout(r, 200));
      const canvas = document.createElement('canvas');
      [canvas.width, canvas.height] = [el.videoWidth, el.videoHeight];
      const ctx = canvas.getContext('2d')!;
      ctx.drawImage(el, 0, 0);
      const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      for (const [name, [r, g, b]] of Object.entries(colours)) {
        let n = 0;
        for (let i = 0; i < px.length; i += 4) if (Math.abs(px[i]! - r) < 60 && Math.abs(px[i + 1]! - g) < 60 && Math.abs(px[i + 2]! - b) < 60) n++;
        shares[name] = n / (px.length / 4);
      }
      el.srcObject = null;
    }
    return { video, audio, framesDecoded, shares };
  }, COLOURS);
}

test('three participants in an mcu room each decode one video, the composite, with the others\' colours', { timeout: 120_000 }, async () => {
  const ps: Participant[] = [];
  for (const [name, rgb] of Object.entries(COLOURS)) {
    const y4m = join(dir, `${name}.y4m`);
    solidY4m(y4m, rgb);
    const browser = await launchChromium([`--use-file-for-fake-video-capture=${y4m}`]);
    browsers.push(browser);
    ps.push(await joinWithSdk(browser, server.url, server.wsUrl, await devToken('town', name, { name: `${name} participant` }), name));
  }
  await until('an mcu composite in the room', () => server.mcu.get('town')?.participants().length ?? 0, (n) => n === 3, 45_000);
  for (const p of ps) {
    const others = Object.keys(COLOURS).filter((c) => c !== p.identity);
    const got = await until(
      `${p.identity} decodes the composite with ${others.join(' and ')} and receives its mix`,
      () => received(p),
      (r) => r.framesDecoded > 10 && others.every((c) => r.shares[c]! > 0.03) && r.audio > 0,
      45_000,
    ).catch((err: Error) => {
      const pubs = server.sfu.publications('town').map((x) => `${x.participant}/${x.kind}/${x.streamId}${x.closed ? ' closed' : ''}`);
      throw new Error(`${err.message}; publications: ${pubs.join(', ')}; sfu ${JSON.stringify(server.sfu.stats())}`);
    });
    assert.equal(got.video, 1, `${p.identity} decodes exactly one video`);
    assert.equal(got.audio, 1, `${p.identity} receives exactly one audio stream (its N−1 mix)`);
  }
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  assert.match(metrics, /^dari_mcu_rooms 1$/m);
  // Everyone leaves: the composite stops and its worker with it.
  await Promise.all(browsers.splice(0).map((b) => b.close()));
  await until('the mcu room stopped', () => server.mcu.size, (n) => n === 0, 20_000);
});
