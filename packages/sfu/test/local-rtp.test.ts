/**
 * Local RTP sources and sinks through the SFU (SfuManager's server-side participant API), over
 * real loopback UDP sockets: an ingress publishes VP8 by datagrams, an egress subscribes with a
 * sink; keyframe requests travel back as RTCP PLIs. No browser, no werift peer connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { SfuManager } from '../src/werift/sfu-manager.js';
import { SfuApiError } from '../src/local-rtp/local-rtp-room.js';
import { readRtpHeader } from '../src/rtp/rtp-header.js';
import { encodePli, keyframeRequests } from '../src/rtp/rtcp-feedback.js';
import { isVp8Keyframe } from '../src/rtp/vp8.js';
import { vp8Payload } from './sim.js';

const logger = { warn: () => undefined, info: () => undefined, debug: () => undefined };
const manager = () => new SfuManager({ announcedAddresses: [], logger, send: () => undefined });

async function udp(): Promise<Socket> {
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

/** An RTP packet (RFC 3550) with a one-byte header extension element and a VP8 payload. */
function rtp(seq: number, keyframe: boolean, ssrc = 0xcafe): Buffer {
  const header = Buffer.from([0x90, 96, seq >> 8, seq & 0xff, 0, 0, (seq * 3000) >> 8, 0, ssrc >>> 24, (ssrc >> 16) & 0xff, (ssrc >> 8) & 0xff, ssrc & 0xff, 0xbe, 0xde, 0, 1, 0x10, 0x33, 0, 0]);
  return Buffer.concat([header, vp8Payload(keyframe, { width: 320, height: 240 })]);
}

/** Resolves with the next `n` datagrams `socket` receives (bounded: rejects after `ms`). */
function next(socket: Socket, n: number, ms = 3000): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const got: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.off('message', on);
      reject(new Error(`${got.length} of ${n} datagrams in ${ms} ms`));
    }, ms);
    const on = (msg: Buffer) => {
      got.push(msg);
      if (got.length < n) return;
      clearTimeout(timer);
      socket.off('message', on);
      resolve(got);
    };
    socket.on('message', on);
  });
}

test('an ingress publishes over local RTP, an egress sink receives it rewritten, starting at a keyframe; PLIs flow back', { timeout: 20_000 }, async () => {
  const sfu = manager();
  const sender = await udp();
  const consumer = await udp();
  try {
    sfu.addServerParticipant('r', 'cam', 'ingress');
    const pub = await sfu.publishLocalRtp('r', 'cam', { kind: 'video', streamId: 'cam-video' });
    assert.equal(pub.address, '127.0.0.1');
    assert.deepEqual(sfu.publications('r').map((p) => [p.id, p.kind, p.streamId]), [[pub.id, 'video', 'cam-video']]);
    let seq = 65530; // crosses the 16-bit wrap
    const send = (keyframe: boolean) => sender.send(rtp(seq++ & 0xffff, keyframe), pub.port, pub.address);
    for (let i = 0; i < 3; i++) send(false);
    sfu.addServerParticipant('r', 'rec', 'egress');
    const plis = next(sender, 1);
    const sub = await sfu.subscribeLocalRtp('r', 'rec', pub.id, { address: '127.0.0.1', port: consumer.address().port });
    // The sink's subscription asks the source for a keyframe: an RTCP PLI to where the RTP came from.
    assert.deepEqual(keyframeRequests((await plis)[0]!), [0xcafe]);
    const received = next(consumer, 4);
    send(false); // not forwarded: the sink starts at a keyframe
    send(true);
    for (let i = 0; i < 3; i++) send(false);
    const headers = (await received).map((b) => ({ h: readRtpHeader(b)!, b }));
    assert.ok(isVp8Keyframe(headers[0]!.b.subarray(headers[0]!.h.payloadOffset)), 'the first packet is a keyframe');
    assert.deepEqual(headers.map(({ h }) => h.ssrc), [sub.ssrc, sub.ssrc, sub.ssrc, sub.ssrc]);
    assert.ok(headers.every(({ h }, i) => i === 0 || ((h.sequenceNumber - headers[i - 1]!.h.sequenceNumber) & 0xffff) === 1), 'continuous sequence numbers');
    assert.ok(headers.every(({ h }) => h.extension === undefined), "the publisher's header extension is not passed on");
    // The consumer asks for a keyframe (RTCP PLI to the sink's port): it reaches the source, past the 1 s limit.
    await new Promise((r) => setTimeout(r, 1100));
    const again = next(sender, 1);
    consumer.send(encodePli(7, sub.ssrc), sub.localPort, '127.0.0.1');
    assert.deepEqual(keyframeRequests((await again)[0]!), [0xcafe]);
    const m = sfu.metrics();
    assert.ok(m.forwardedPackets >= 4 && m.pliReceived === 1 && m.pliSent === 2, JSON.stringify(m));
    sub.close();
    sub.close(); // idempotent
    sfu.removeServerParticipant('r', 'rec');
    pub.close();
    sfu.removeServerParticipant('r', 'cam');
    assert.deepEqual(sfu.stats(), { rooms: 0, peerConnections: 0, publications: 0, downTracks: 0 });
  } finally {
    sender.close();
    consumer.close();
    await sfu.close();
  }
});

test('bad calls get a typed SfuApiError with a reason; garbage datagrams are dropped without harm', async () => {
  const sfu = manager();
  const sender = await udp();
  try {
    const reason = async (p: Promise<unknown> | (() => unknown), want: string) => {
      const run = typeof p === 'function' ? Promise.resolve().then(p) : p;
      await assert.rejects(run, (err: unknown) => err instanceof SfuApiError && err.reason === want);
    };
    await reason(sfu.publishLocalRtp('nowhere', 'cam', { kind: 'video' }), 'unknown-participant');
    sfu.addServerParticipant('r', 'cam', 'ingress');
    await reason(() => sfu.addServerParticipant('r', 'cam', 'mixer'), 'participant-exists');
    await reason(sfu.publishLocalRtp('r', 'ghost', { kind: 'audio' }), 'unknown-participant');
    await reason(sfu.publishLocalRtp('r', 'cam', { kind: 'video', keyframeRequestsTo: { address: '192.0.2.1', port: 9 } }), 'bad-option');
    await reason(sfu.subscribeLocalRtp('r', 'cam', 'no-such-publication', { address: '127.0.0.1', port: 9 }), 'unknown-publication');
    const pub = await sfu.publishLocalRtp('r', 'cam', { kind: 'audio' });
    await reason(sfu.subscribeLocalRtp('r', 'cam', pub.id, { address: '198.51.100.7', port: 5004 }), 'bad-option');
    await reason(sfu.subscribeLocalRtp('r', 'cam', pub.id, { address: '127.0.0.1', port: 70000 }), 'bad-option');
    for (const junk of [Buffer.from('hello'), Buffer.alloc(0), Buffer.from([0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])]) sender.send(junk, pub.port, pub.address);
    sender.send(rtp(1, false), pub.port, pub.address); // one good packet after the junk
    const deadline = Date.now() + 3000;
    while (sfu.publications('r')[0]!.layers[0]!.ssrc === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(sfu.publications('r')[0]!.layers[0]!.ssrc, 0xcafe, 'the good packet after the junk got through');
  } finally {
    sender.close();
    await sfu.close();
  }
});

test("SfuManager's active-speakers event names a speaking server-side publisher (RFC 6464 levels); a throwing listener breaks nothing", { timeout: 20_000 }, async () => {
  const sfu = manager();
  const sender = await udp();
  try {
    sfu.addServerParticipant('r', 'mic', 'ingress');
    const pub = await sfu.publishLocalRtp('r', 'mic', { kind: 'audio', audioLevelExtensionId: 1 });
    sfu.on('active-speakers', () => {
      throw new Error('a listener that throws');
    });
    const heard = new Promise<{ room: string; speakers: string[] }>((resolve) =>
      sfu.on('active-speakers', (room, speakers) => (speakers.length > 0 ? resolve({ room, speakers: speakers.map((s) => s.identity) }) : undefined)),
    );
    let seq = 0;
    // Opus-like packets every 20 ms with an RFC 6464 element (id 1, V=1, -20 dBov).
    const timer = setInterval(() => {
      const header = Buffer.from([0x90, 111, seq >> 8, seq & 0xff, 0, 0, 0, 0, 0, 0, 0x0a, 0x0b, 0xbe, 0xde, 0, 1, 0x10, 0x80 | 20, 0, 0]);
      sender.send(Buffer.concat([header, Buffer.from([0xfc, 1, 2])]), pub.port, pub.address);
      seq++;
    }, 20);
    try {
      assert.deepEqual(await heard, { room: 'r', speakers: ['mic'] });
    } finally {
      clearInterval(timer);
    }
  } finally {
    sender.close();
    await sfu.close();
  }
});

test('a publication listener that throws is logged; the publication stands and the next listener runs', async () => {
  const warned: string[] = [];
  const sfu = new SfuManager({ announcedAddresses: [], logger: { ...logger, warn: (o: object | string, msg?: string) => void warned.push(msg ?? String(o)) }, send: () => undefined });
  sfu.addServerParticipant('r', 'cam', 'ingress');
  // The room's listener hook (WHEP's late tracks use it) is internal to the adapter.
  const room = (sfu as unknown as { room(name: string): { onPublication(l: (ref: { id: string }) => void): () => void } }).room('r');
  const seen: string[] = [];
  room.onPublication(() => {
    throw new Error('listener bug');
  });
  room.onPublication((ref) => seen.push(ref.id));
  const pub = await sfu.publishLocalRtp('r', 'cam', { kind: 'audio' });
  try {
    assert.deepEqual(sfu.publications('r').map((p) => p.id), [pub.id]);
    assert.deepEqual(seen, [pub.id]);
    assert.equal(warned.length, 1);
    assert.match(warned[0]!, /publication listener threw/);
  } finally {
    pub.close();
    sfu.removeServerParticipant('r', 'cam');
  }
});
