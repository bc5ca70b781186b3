/**
 * Room mode `mcu` in Chromium (issue #10): three participants, each with its own solid-colour
 * fake camera and its own tone as fake microphone, publish once; each receives exactly one video
 * (the composite) and one audio track (its N−1 mix) and decodes the composite, whose frames hold
 * the other participants' colours; each one's mix has the others' tones and lacks its own
 * (frequency analysis in the page); the active speaker's tile is framed; the subscribers' REMB
 * reaches the composite's encoder and a still picture's low REMB does not starve it (how the
 * encoder follows REMB up and down: mcu-bitrate.test.ts); a late joiner in the meeting app decodes the composite within
 * 2 s of its leg connecting, and the app shows the composite as one tile and its own preview,
 * badge "MCU", the inspector and getConnectionInfo() naming the MCU path.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { joinWithSdk, launchChromium, type Participant } from '@dari/testkit';
import type { RunningServer } from '../src/serve.js';
import { devToken, testServer, toneWav } from './helpers.js';
import { solidY4m, until } from './media-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'dari-mcu-'));
const COLOURS: Record<string, [number, number, number]> = { red: [255, 0, 0], green: [0, 255, 0], blue: [0, 0, 255] };
/** Each participant's tone, Hz (whole cycles in the 2 s file, which Chromium loops; no harmonics of each other). */
const TONES: Record<string, number> = { red: 500, green: 1100, blue: 1700 };
/** The composite's frame around the active speaker's tile (worker/composite.py HIGHLIGHT_COLOR). */
const HIGHLIGHT: [number, number, number] = [0xf5, 0xc4, 0x00];
let server: RunningServer;
const browsers: Browser[] = [];

before(async () => {
  server = await testServer({ turn: { enabled: false }, sfu: { rooms: { town: 'mcu' } }, mcu: { width: 320, height: 240, fps: 15, maxBitrateBps: 1_000_000 }, signaling: { reconnectGraceMs: 1000 } });
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
    });
    // Audio tracks received now (a viewer's full mix, replaced by its own N−1 mix once it has a tile, stays as an inactive transceiver).
    const receiving = pc.getTransceivers().filter((t) => t.receiver.track.kind === 'audio' && (t.currentDirection === 'recvonly' || t.currentDirection === 'sendrecv'));
    audio = receiving.filter((t) => {
      let packets = 0;
      report.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.trackIdentifier === t.receiver.track.id) packets = s.packetsReceived;
      });
      return packets > 0;
    }).length;
    const shares: Record<string, number> = {};
    const track = pc.getReceivers().map((r) => r.track).find((t) => t.kind === 'video' && t.readyState === 'live' && !t.muted);
    if (track) {
      const el = document.createElement('video');
      el.muted = true;
      el.srcObject = new MediaStream([track]);
      await el.play();
      // A decoded frame with its size (bounded: the caller polls again on an empty answer).
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        el.requestVideoFrameCallback(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      if (el.videoWidth === 0) return { video, audio, framesDecoded, shares };
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

/**
 * In the page: the level (dB, the loudest FFT bin within ±3 bins) at each tone's frequency in the
 * received audio track (the N−1 mix), via an AnalyserNode; null until the track is there.
 */
async function hears(p: Participant): Promise<Record<string, number> | null> {
  return p.page.evaluate(async (tones) => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const w = window as any;
    const pc: RTCPeerConnection = w.room.getPeerConnection('sfu');
    // The audio received now (not a replaced one, whose transceiver stays inactive).
    const track = pc.getTransceivers().find((t) => t.receiver.track.kind === 'audio' && (t.currentDirection === 'recvonly' || t.currentDirection === 'sendrecv'))?.receiver.track;
    if (!track) return null;
    if (w.mixAnalyser?.track !== track) {
      // Chromium feeds a remote track into Web Audio only while a media element plays it.
      const el = new Audio();
      el.muted = true;
      el.srcObject = new MediaStream([track]);
      await el.play().catch(() => undefined);
      const ctx = new AudioContext();
      await ctx.resume();
      const analyser = ctx.createAnalyser();
      analyser.fftSize = 8192;
      ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
      w.mixAnalyser = { ctx, analyser, el, track };
      await new Promise((r) => setTimeout(r, 500));
    }
    const { ctx, analyser } = w.mixAnalyser as { ctx: AudioContext; analyser: AnalyserNode };
    const bins = new Float32Array(analyser.frequencyBinCount);
    analyser.getFloatFrequencyData(bins);
    const out: Record<string, number> = {};
    for (const [name, hz] of Object.entries(tones)) {
      const at = Math.round(hz / (ctx.sampleRate / analyser.fftSize));
      let db = -Infinity;
      for (let i = at - 3; i <= at + 3; i++) db = Math.max(db, bins[i]!);
      out[name] = Math.round(db);
    }
    return out;
  }, TONES);
}

/**
 * In the page: for each colour, the pixels of the active-speaker highlight colour in a 2 px ring
 * (the frame's width at 240p, composite_layout.border) around the bounding box of that colour's
 * pixels (its tile's video) in a frame of the received video.
 */
async function highlightAround(p: Participant): Promise<Record<string, number>> {
  return p.page.evaluate(
    async ({ colours, highlight }) => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const pc: RTCPeerConnection = (window as any).room.getPeerConnection('sfu');
      const track = pc.getReceivers().map((r) => r.track).find((t) => t.kind === 'video' && t.readyState === 'live' && !t.muted);
      const out: Record<string, number> = {};
      if (!track) return out;
      const el = document.createElement('video');
      el.muted = true;
      el.srcObject = new MediaStream([track]);
      await el.play();
      // A decoded frame with its size (bounded: the caller polls again on an empty answer).
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        el.requestVideoFrameCallback(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      if (el.videoWidth === 0) return out;
      const canvas = document.createElement('canvas');
      const [width, height] = [(canvas.width = el.videoWidth), (canvas.height = el.videoHeight)];
      const ctx = canvas.getContext('2d')!;
      ctx.drawImage(el, 0, 0);
      el.srcObject = null;
      const px = ctx.getImageData(0, 0, width, height).data;
      const near = (i: number, [r, g, b]: [number, number, number]) => Math.abs(px[i]! - r) < 60 && Math.abs(px[i + 1]! - g) < 60 && Math.abs(px[i + 2]! - b) < 60;
      for (const [name, rgb] of Object.entries(colours)) {
        let [x0, y0, x1, y1] = [width, height, -1, -1];
        for (let y = 0; y < height; y++)
          for (let x = 0; x < width; x++)
            if (near((y * width + x) * 4, rgb)) [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
        let n = 0;
        for (let y = Math.max(0, y0 - 2); y <= Math.min(height - 1, y1 + 2); y++)
          for (let x = Math.max(0, x0 - 2); x <= Math.min(width - 1, x1 + 2); x++)
            if ((x < x0 || x > x1 || y < y0 || y > y1) && near((y * width + x) * 4, highlight)) n++;
        out[name] = x1 < 0 ? 0 : n;
      }
      return out;
    },
    { colours: COLOURS, highlight: HIGHLIGHT },
  );
}

/**
 * Joins with the meeting app (camera and microphone turned off in the lobby: a viewer, whose
 * joining adds no tile to the composite), in a page whose
 * RTCPeerConnections record when they connect and when their first video frame is decoded
 * (getStats every 20 ms), performance.now() ms.
 */
async function joinAppTimed(browser: Browser, name: string): Promise<Participant> {
  const page = await (await browser.newContext()).newPage();
  await page.addInitScript(() => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const w = window as any;
    const legs: { pc: RTCPeerConnection; connectedAt: number | null; decodedAt: number | null }[] = (w.legs = []);
    const Native = RTCPeerConnection;
    w.RTCPeerConnection = class extends Native {
      constructor(config?: RTCConfiguration) {
        super(config);
        const leg = { pc: this as RTCPeerConnection, connectedAt: null as number | null, decodedAt: null as number | null };
        legs.push(leg);
        this.addEventListener('connectionstatechange', () => {
          if (this.connectionState === 'connected' && leg.connectedAt === null) leg.connectedAt = performance.now();
        });
      }
    };
    setInterval(() => {
      for (const leg of legs) {
        if (leg.connectedAt === null || leg.decodedAt !== null) continue;
        void leg.pc.getStats().then((r) =>
          r.forEach((s) => {
            if (s.type === 'inbound-rtp' && s.kind === 'video' && s.framesDecoded > 0 && leg.decodedAt === null) leg.decodedAt = performance.now();
          }),
        );
      }
    }, 20);
  });
  await page.goto(`${server.url}/?room=town&name=${name}`);
  await page.waitForFunction(() => (document.querySelector('#lobby-camera') as HTMLButtonElement | null)?.getAttribute('aria-pressed') === 'true', undefined, { timeout: 10_000 });
  await page.click('#lobby-camera');
  await page.click('#lobby-mic');
  await page.click('#join');
  return { page, identity: name };
}

test('three participants in an mcu room each decode one video, the composite, with the others\' colours', { timeout: 120_000 }, async () => {
  const ps: Participant[] = [];
  for (const [name, rgb] of Object.entries(COLOURS)) {
    const y4m = join(dir, `${name}.y4m`);
    solidY4m(y4m, rgb);
    const wav = join(dir, `${name}.wav`);
    writeFileSync(wav, toneWav(2, TONES[name]));
    const browser = await launchChromium([`--use-file-for-fake-video-capture=${y4m}`, `--use-file-for-fake-audio-capture=${wav}`, '--autoplay-policy=no-user-gesture-required']);
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
  // N−1: each participant's mix has the others' tones and lacks its own.
  for (const p of ps) {
    const others = Object.keys(TONES).filter((c) => c !== p.identity);
    const levels = await until(
      `${p.identity}'s mix: the others' tones and not its own`,
      () => hears(p),
      (l) => l !== null && others.every((o) => l[o]! > -70 && l[o]! - l[p.identity]! > 25),
      15_000,
    );
    console.log(`# ${p.identity} hears (dB at each tone): ${JSON.stringify(levels)}`);
  }
  // The active speaker (the SFU's dominant speaker) is framed in the highlight colour; nobody else is.
  const mcu = server.mcu.get('town')!;
  const framed = await until(
    'the active speaker framed',
    async () => ({ speaker: mcu.activeSpeaker, ring: await highlightAround(ps[0]!) }),
    ({ speaker, ring }) => speaker !== undefined && ring[speaker]! > 400 && Object.keys(COLOURS).every((c) => c === speaker || ring[c]! < 100),
    20_000,
  );
  console.log(`# active speaker ${framed.speaker}; highlight pixels around each tile: ${JSON.stringify(framed.ring)}`);
  // The subscribers' REMB reaches the composite's owner (fails if the SFU does not report it), and
  // the worker's encoder is where McuRoom thinks it is. Still pictures' REMB, capped by their
  // throughput, must not pull it down (fails with a naive follow-the-lowest-REMB rule). Following
  // REMB up and down on a real change is mcu-bitrate.test's (no link shaping here).
  const rate = await until(
    "the subscribers' REMB at the composite's encoder",
    async () => ({ estimate: mcu.subscriberEstimateBps, encoder: mcu.bitrateBps, worker: (await mcu.mixer.stats()).bitrateBps }),
    ({ estimate, encoder, worker }) => estimate !== null && estimate > 0 && worker === encoder,
    15_000,
  );
  // Still pictures: the encoder sends a few kbps and the REMB, capped at 1.5x that, must not starve it.
  assert.ok(rate.encoder >= 800_000 && rate.encoder <= 1_000_000, `encoder ${rate.encoder} bps: between its start (800 kbps) and mcu.maxBitrateBps`);
  console.log(`# composite encoder ${rate.encoder} bps; subscribers' lowest REMB ${rate.estimate} bps`);
  // A late joiner (a viewer in the meeting app) decodes the composite within 2 s of its leg connecting.
  const late = await joinAppTimed(browsers[0]!, 'Late');
  const legs = await until(
    'the late joiner decodes the composite',
    () => late.page.evaluate(() => (window as unknown as { legs: { connectedAt: number | null; decodedAt: number | null }[] }).legs.map((l) => ({ connectedAt: l.connectedAt, decodedAt: l.decodedAt }))),
    (ls) => ls.some((l) => l.decodedAt !== null),
    20_000,
  );
  const leg = legs.find((l) => l.decodedAt !== null)!;
  const firstFrameMs = Math.round(leg.decodedAt! - leg.connectedAt!);
  console.log(`# late joiner: first composite frame decoded ${firstFrameMs} ms after its leg connected`);
  assert.ok(firstFrameMs <= 2000, `first composite frame ${firstFrameMs} ms after the leg connected (limit 2000)`);
  // The app shows the composite as one tile (its video playing, the N−1 mix on its audio element)
  // and our own preview, no tile for the others; the badge says MCU; the SDK and the inspector
  // say the path is the MCU's.
  await late.page.waitForFunction(() => (document.querySelector('#composite-tile video') as HTMLVideoElement | null)?.videoWidth === 320, undefined, { timeout: 10_000 });
  const app = await late.page.evaluate(async () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const room = (window as any).dariRoom;
    const shown = (sel: string) => Array.from(document.querySelectorAll<HTMLElement>(sel)).filter((e) => e.offsetParent !== null).length;
    const audio = document.querySelector('#composite-tile audio') as HTMLAudioElement;
    return {
      composite: shown('.tile.composite'),
      local: shown('#local-tile'),
      remote: shown('.tile.remote'),
      remoteInDom: document.querySelectorAll('.tile.remote').length,
      badge: document.querySelector('#composite-tile .conn-badge')?.textContent,
      mixAudio: (audio.srcObject as MediaStream | null)?.getAudioTracks().length ?? 0,
      mediaPath: room.mediaPath.path as string,
      info: ((await room.getConnectionInfo()) as { via: string; mediaPath?: { path: string } }[]).map((i) => `${i.via}:${i.mediaPath?.path}`),
    };
  });
  assert.deepEqual(
    { ...app, info: [...new Set(app.info)] },
    { composite: 1, local: 1, remote: 0, remoteInDom: 3, badge: 'MCU', mixAudio: 1, mediaPath: 'mcu', info: ['sfu:mcu'] },
    'a viewer (no tile) gets everyone\'s mix',
  );
  await late.page.click('#composite-tile .inspect-btn');
  await late.page.waitForFunction(() => /^MCU room: you send your camera and microphone once to the server/.test(document.querySelector('#insp-why')?.textContent ?? ''), undefined, { timeout: 10_000 });
  assert.equal(await late.page.textContent('#insp-path'), 'Through the MCU');
  await late.page.waitForFunction(() => document.querySelector('#insp-resolution')?.textContent === 'composite 320×240', undefined, { timeout: 5000 });
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  assert.match(metrics, /^dari_mcu_rooms 1$/m);
  // Everyone leaves: the composite stops and its worker with it.
  await Promise.all(browsers.splice(0).map((b) => b.close()));
  await until('the mcu room stopped', () => server.mcu.size, (n) => n === 0, 20_000);
});
