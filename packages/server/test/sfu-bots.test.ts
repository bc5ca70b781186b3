/**
 * The SFU with werift bots (bench/sfu/dari-bot.mjs) as publishers and subscribers: scenarios
 * too heavy or too fine-grained for browsers. The server runs in this process, so a test can
 * reach into a leg and drop one packet on the wire.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { RunningServer } from '../src/serve.js';
import { testServer } from './helpers.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
const bench = (file: string) => new URL(`../../../../bench/sfu/${file}`, import.meta.url).href;
const { DariBot, devToken } = (await import(bench('dari-bot.mjs'))) as any;
const { readStamp, nowMs } = (await import(bench('media.mjs'))) as any;

let server: RunningServer;
before(async () => {
  server = await testServer({ sfu: { mode: 'sfu' }, turn: { enabled: false } });
});
after(async () => {
  await server?.close();
});

const wsUrl = () => server.wsUrl;
const bot = async (room: string, identity: string) => {
  const b = new DariBot({ url: wsUrl(), token: await devToken(server.url, room, identity) });
  await b.connect();
  return b;
};

/** The werift sender forwarding `publisher`'s `kind` track to `subscriber` in `room` (reaching into the SFU: the test drops packets on its leg). */
function downSender(room: string, publisher: string, kind: 'audio' | 'video', subscriber: string): any {
  const r = (server.sfu as any).rooms.get(room);
  const pub = r.core.publications().find((p: any) => p.participant === publisher && p.kind === kind);
  return r.output(r.core.subscription(subscriber, pub.id)).transceiver.sender;
}

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Makes `sender`'s leg drop, on the wire, the first video packet it sends after `skip` more of
 * them, once (later sends of the same packet, i.e. retransmissions, go through). Resolves with its
 * stamp index (never `except`'s). The packet is picked where it is encrypted (werift's SRTP session, which every send
 * path uses) and dropped at the leg's UDP socket, by its clear SRTP header (SSRC and sequence number).
 */
function dropOnce(sender: any, skip: number, except?: number): Promise<number> {
  const dtls = sender.dtlsTransport;
  const socket = dtls.iceTransport.connection.nominated.protocol.transport.socket;
  return new Promise((resolve) => {
    let seen = 0;
    let target: { seq: number; index: number } | null = null;
    let dropped = false;
    const encrypt = dtls.srtp.encrypt.bind(dtls.srtp);
    dtls.srtp.encrypt = (payload: Buffer, header: any) => {
      if (!target && header.ssrc === sender.ssrc && ++seen > skip) {
        const stamp = readStamp(payload);
        if (stamp && stamp.index !== except) target = { seq: header.sequenceNumber, index: stamp.index };
      }
      return encrypt(payload, header);
    };
    const send = socket.send.bind(socket);
    socket.send = (data: Buffer, ...rest: unknown[]) => {
      if (target && !dropped && data.length >= 12 && data[0]! >> 6 === 2 && data.readUInt32BE(8) === sender.ssrc && data.readUInt16BE(2) === target.seq) {
        dropped = true;
        resolve(target.index);
        return;
      }
      return send(data, ...rest);
    };
  });
}

test('NACK and retransmission work end to end: a packet lost before the SFU and one lost after it both reach the subscriber', { timeout: 60_000 }, async () => {
  const pub = await bot('nack', 'pub');
  const sub = await bot('nack', 'sub');
  try {
    await pub.publish();
    await sub.subscriberConnected(15_000);
    // Every stamped video packet the subscriber receives, by the publisher's index.
    const received = new Set<number>();
    await until('the subscriber video track', () => sub.subscriberPc.getTransceivers().some((t: any) => t.kind === 'video' && t.receiver.tracks.length > 0));
    const videoRx = sub.subscriberPc.getTransceivers().find((t: any) => t.kind === 'video');
    for (const track of videoRx.receiver.tracks) track.onReceiveRtp.subscribe((rtp: any) => {
      const s = readStamp(rtp.payload);
      if (s) received.add(s.index);
    });
    await until('video flowing', () => received.size > 30);

    // Hop 1: the publisher's transport drops one video packet on its way to the SFU.
    const pubVideo = pub.publisherPc.getTransceivers().find((t: any) => t.kind === 'video');
    const lostBeforeSfu = await dropOnce(pubVideo.sender, 5);
    // Hop 2: the SFU's transport toward the subscriber drops another.
    const down = downSender('nack', 'pub', 'video', 'sub');
    const lostAfterSfu = await dropOnce(down, 5, lostBeforeSfu); // two different packets repaired

    await until(`packets ${lostBeforeSfu} and ${lostAfterSfu} repaired`, () => received.has(lostBeforeSfu) && received.has(lostAfterSfu), 10_000);
    const m = server.sfu.metrics();
    assert.ok(m.nackSent >= 1, `the SFU NACKed the publisher (${m.nackSent})`);
    assert.ok(m.nackReceived >= 1, `the subscriber NACKed the SFU (${m.nackReceived})`);
  } finally {
    await Promise.all([pub.close(), sub.close()]);
  }
});

/** A Full Intra Request (RFC 5104 §4.3.1): media source SSRC 0, the target SSRC in the FCI entry. */
function firPacket(senderSsrc: number, targetSource: number, seq: number): Buffer {
  const b = Buffer.alloc(20);
  b[0] = 0x80 | 4; // V=2, FMT=4
  b[1] = 206; // PSFB
  b.writeUInt16BE(4, 2); // length in words - 1
  b.writeUInt32BE(senderSsrc, 4);
  b.writeUInt32BE(0, 8);
  b.writeUInt32BE(targetSource, 12);
  b[16] = seq & 0xff;
  return b;
}

test('PLI and FIR from a subscriber reach the publisher as keyframe requests, at most one a second', { timeout: 60_000 }, async () => {
  const pub = await bot('fir', 'pub');
  const sub = await bot('fir', 'sub');
  try {
    const media = await pub.publish();
    await sub.subscriberConnected(15_000);
    await until('video at the subscriber', () => sub.streams.some((st: any) => st.kind === 'video' && st.total > 30));
    const rx = sub.subscriberPc.getTransceivers().find((t: any) => t.kind === 'video');
    const outSsrc: number = downSender('fir', 'pub', 'video', 'sub').ssrc;
    // Past the limiter's second since the start-up keyframe request.
    await new Promise((r) => setTimeout(r, 1100));
    const before = media.stats.keyframeRequests;
    const received = server.sfu.metrics().pliReceived;
    await rx.receiver.dtlsTransport.sendRtcp([{ serialize: () => firPacket(rx.receiver.rtcpSsrc, outSsrc, 1) }]);
    await until('a PLI at the publisher after the FIR', () => media.stats.keyframeRequests > before, 5000);
    assert.equal(server.sfu.metrics().pliReceived, received + 1);
    // A burst of PLIs within the second: none reaches the publisher.
    const afterFir = media.stats.keyframeRequests;
    for (let i = 0; i < 5; i++) await rx.receiver.sendRtcpPLI(outSsrc);
    await until('the SFU saw the PLIs', () => server.sfu.metrics().pliReceived >= received + 6, 5000);
    assert.equal(media.stats.keyframeRequests, afterFir, 'rate-limited to one a second per layer');
    // A second later, one gets through.
    await new Promise((r) => setTimeout(r, 1100));
    await rx.receiver.sendRtcpPLI(outSsrc);
    await until('a PLI at the publisher a second later', () => media.stats.keyframeRequests > afterFir, 5000);
  } finally {
    await Promise.all([pub.close(), sub.close()]);
  }
});

test('one publisher, 30 subscribers: every subscriber gets audio and video without loss; all gone leaves nothing', { timeout: 120_000 }, async () => {
  const pub = await bot('fanout', 'pub');
  const subs: any[] = [];
  try {
    await pub.publish();
    for (let i = 0; i < 30; i++) subs.push(await bot('fanout', `sub${i}`));
    await Promise.all(subs.map((s) => s.subscriberConnected(30_000)));
    await until('both tracks at every subscriber', () => subs.every((s) => s.streams.length === 2 && s.streams.every((st: any) => st.total > 20)), 30_000);
    // A 2 s window: every packet the publisher sends in it must reach every subscriber.
    const t0 = nowMs() + 200;
    const t1 = t0 + 2000;
    pub.media.setWindow(t0, t1);
    for (const s of subs) for (const st of s.streams) st.reset({ t0, t1 });
    await until('the window and a drain', () => nowMs() > t1 + 500, 5000);
    for (const [i, s] of subs.entries()) {
      for (const st of s.streams) {
        const sum = st.summary(pub.media.windowCounts[st.kind]);
        assert.ok(sum.sent > 0, `sub${i} ${st.kind}: the publisher sent in the window`);
        assert.equal(sum.lossPct, 0, `sub${i} ${st.kind}: ${JSON.stringify(sum)}`);
      }
    }
    const stats = (server.sfu as any).rooms.get('fanout').stats();
    assert.equal(stats.peerConnections, 62);
    assert.equal(stats.downTracks, 60);
    assert.ok((server.sfu.metrics().layers['-'] ?? 0) >= 30, 'each subscriber forwards the (single) video layer');
  } finally {
    await Promise.all([pub.close(), ...subs.map((s) => s.close())]);
  }
  await until('SFU empty', () => server.sfu.stats().peerConnections === 0, 20_000);
  assert.deepEqual(server.sfu.stats(), { rooms: 0, peerConnections: 0, publications: 0, downTracks: 0 });
});

test('sfu-restart-ice: the SFU offers the subscriber leg again with fresh ICE credentials and its ICE connects again', { timeout: 60_000 }, async () => {
  // Media over the restarted leg is checked with Chromium (lab/test/network.test.ts): werift as
  // the answering client does not resume receiving after an ICE restart, while the SFU keeps sending.
  const pub = await bot('restart', 'pub');
  const sub = await bot('restart', 'sub');
  const ufrag = (sdp: string | undefined) => /a=ice-ufrag:(\S+)/.exec(sdp ?? '')?.[1];
  try {
    await pub.publish();
    await sub.subscriberConnected(15_000);
    const leg = (server.sfu as any).rooms.get('restart').members.get('sub').subscriber;
    const before = { offered: ufrag(sub.subscriberPc.remoteDescription?.sdp), answered: ufrag(leg.remoteDescription?.sdp) };
    const states: string[] = [];
    leg.iceConnectionStateChange.subscribe((s: string) => states.push(s));
    sub.send({ type: 'sfu-restart-ice' });
    await until('a subscriber offer with a new ufrag', () => ufrag(sub.subscriberPc.remoteDescription?.sdp) !== before.offered);
    await until('the answer with the client\'s new ufrag', () => ufrag(leg.remoteDescription?.sdp) !== before.answered);
    await until('the leg\'s ICE checking then connected again', () => states.includes('new') && ['connected', 'completed'].includes(leg.iceConnectionState), 10_000);
  } finally {
    await Promise.all([pub.close(), sub.close()]);
  }
});
