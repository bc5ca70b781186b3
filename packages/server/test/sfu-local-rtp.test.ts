/**
 * Server-side participants on local RTP in a running `dari serve` (issue #9): a GStreamer
 * VP8 + Opus pipeline publishing into an SFU room reaches a werift subscriber (a participant like
 * any browser, bench/sfu/dari-bot.mjs), and a werift publisher's video reaches a local RTP sink
 * (a plain UDP socket here, as a mixer input would be), starting at a keyframe, with continuous
 * rewritten sequence numbers, and PLIs passing upstream.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { encodePli, isVp8Keyframe, readRtpHeader } from '@dari/sfu';
import type { RunningServer } from '../src/serve.js';
import { testServer } from './helpers.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
const bench = (file: string) => new URL(`../../../../bench/sfu/${file}`, import.meta.url).href;
const { DariBot, devToken } = (await import(bench('dari-bot.mjs'))) as any;

let server: RunningServer;
before(async () => {
  server = await testServer({ sfu: { mode: 'sfu' }, turn: { enabled: false } });
});
after(async () => {
  await server?.close();
});

async function until(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const bot = async (room: string, identity: string) => {
  const b = new DariBot({ url: server.wsUrl, token: await devToken(server.url, room, identity) });
  await b.connect();
  return b;
};

/** True when the 16-bit sequence numbers follow each other without gap or repeat. */
const continuous = (seqs: number[]) => seqs.every((s, i) => i === 0 || ((s - seqs[i - 1]!) & 0xffff) === 1);

test('a GStreamer VP8 + Opus publisher on local RTP reaches a subscriber in the room, video starting at a keyframe', { timeout: 60_000 }, async () => {
  const gst = spawnSync('gst-launch-1.0', ['--version'], { encoding: 'utf8' });
  assert.equal(gst.status, 0, 'gst-launch-1.0 is needed: apt-get install gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good');
  server.sfu.addServerParticipant('ingest', 'camera', 'ingress');
  const video = await server.sfu.publishLocalRtp('ingest', 'camera', { kind: 'video', streamId: 'camera' });
  const audio = await server.sfu.publishLocalRtp('ingest', 'camera', { kind: 'audio', streamId: 'camera' });
  // A keyframe a second (GStreamer's udpsink does not read the SFU's PLIs); 15 fps, 320×240.
  const pipeline = [
    'videotestsrc', 'is-live=true', 'pattern=ball', '!', 'video/x-raw,width=320,height=240,framerate=15/1', '!',
    'vp8enc', 'deadline=1', 'keyframe-max-dist=15', '!', 'rtpvp8pay', 'pt=96', '!', 'udpsink', 'host=127.0.0.1', `port=${video.port}`,
    'audiotestsrc', 'is-live=true', 'wave=sine', '!', 'audioconvert', '!', 'audioresample', '!', 'opusenc', '!', 'rtpopuspay', 'pt=111', '!', 'udpsink', 'host=127.0.0.1', `port=${audio.port}`,
  ];
  let gstProcess: ChildProcess | undefined;
  const sub = await bot('ingest', 'viewer');
  try {
    const packets: Record<string, { seq: number; keyframe: boolean }[]> = { audio: [], video: [] };
    sub.on('track', (track: any) => track.onReceiveRtp.subscribe((rtp: any) => packets[track.kind]!.push({ seq: rtp.header.sequenceNumber, keyframe: track.kind === 'video' && isVp8Keyframe(rtp.payload) })));
    gstProcess = spawn('gst-launch-1.0', ['-q', ...pipeline], { stdio: 'ignore' });
    await sub.subscriberConnected(20_000);
    await until('30 video and 30 audio packets at the subscriber', () => packets['video']!.length >= 30 && packets['audio']!.length >= 30, 30_000);
    assert.equal(packets['video']![0]!.keyframe, true, 'the first video packet the subscriber gets starts a keyframe');
    assert.ok(continuous(packets['video']!.map((p) => p.seq)), 'video sequence numbers continuous');
    assert.ok(continuous(packets['audio']!.map((p) => p.seq)), 'audio sequence numbers continuous');
    const stats = server.sfu.stats();
    assert.equal(stats.publications, 2);
    assert.equal(stats.downTracks, 2, 'the viewer subscribes to both by the room policy');
  } finally {
    gstProcess?.kill('SIGKILL');
    await sub.close();
    server.sfu.removeServerParticipant('ingest', 'camera');
  }
  await until('SFU empty', () => server.sfu.stats().rooms === 0, 10_000);
});

test('a publisher\'s video reaches a local RTP sink: keyframe first, continuous sequence numbers, one SSRC; a PLI on the sink reaches the publisher', { timeout: 60_000 }, async () => {
  const pub = await bot('record', 'speaker');
  const consumer: Socket = createSocket('udp4');
  consumer.bind(0, '127.0.0.1');
  await once(consumer, 'listening');
  try {
    const media = await pub.publish();
    await until('the speaker\'s video publication', () => server.sfu.publications('record').some((p) => p.participant === 'speaker' && p.kind === 'video'));
    const publication = server.sfu.publications('record').find((p) => p.participant === 'speaker' && p.kind === 'video')!;
    server.sfu.addServerParticipant('record', 'recorder', 'egress');
    const received: Buffer[] = [];
    consumer.on('message', (msg) => received.push(msg));
    const sink = await server.sfu.subscribeLocalRtp('record', 'recorder', publication.id, { address: '127.0.0.1', port: consumer.address().port });
    await until('60 packets at the sink', () => received.length >= 60);
    const headers = received.map((b) => readRtpHeader(b)!);
    assert.ok(isVp8Keyframe(received[0]!.subarray(headers[0]!.payloadOffset)), 'the first packet starts a keyframe');
    assert.ok(headers.every((h) => h.ssrc === sink.ssrc), 'one SSRC, the subscription\'s');
    assert.ok(continuous(headers.map((h) => h.sequenceNumber)), 'continuous rewritten sequence numbers');
    assert.ok(headers.every((h) => h.extension === undefined), 'no header extension from the publisher leg');
    await new Promise((r) => setTimeout(r, 1100)); // past the one-PLI-a-second limit of the sink's start
    const asked = media.stats.keyframeRequests;
    consumer.send(encodePli(1, sink.ssrc), sink.localPort, '127.0.0.1');
    await until('the PLI at the publisher', () => media.stats.keyframeRequests > asked, 5000);
    sink.close();
    assert.equal(server.sfu.stats().downTracks, 0);
    // Input the SFU core drops is counted by reason on /metrics (a render size for a track that does not exist).
    server.sfu.trackSettings('record', 'recorder', 'speaker', 'no-such-stream', 640, 360);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(text, /^dari_sfu_ignored_total\{reason="unknown-track"\} 1$/m);
  } finally {
    consumer.close();
    server.sfu.removeServerParticipant('record', 'recorder');
    await pub.close();
  }
  await until('SFU empty', () => server.sfu.stats().rooms === 0, 10_000);
});
