import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  GenericNack,
  MediaStreamTrack,
  RTCPeerConnection,
  RtcpTransportLayerFeedback,
  RtpHeader,
  RtpPacket,
  type RTCRtpSender,
} from 'werift';
import { absSendTime, disableWeriftDefaultStun, ntpNow, sendRtpNow } from '../src/werift/patches/index.js';
import { legConfigs, weriftCodec } from '../src/werift/peer-config.js';
import { VP8 } from '../src/rtp/vp8.js';
import { until } from './wait.js';

const MID_URI = 'urn:ietf:params:rtp-hdrext:sdes:mid';
const ABS_URI = 'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time';


/** A werift subscriber-leg sender (the SFU's configuration) connected over loopback to a werift receiver. */
async function connectedPair(): Promise<{ sender: RTCRtpSender; received: RtpPacket[]; close: () => Promise<void> }> {
  disableWeriftDefaultStun();
  const { subscriber } = legConfigs(['127.0.0.1'], undefined);
  const a = new RTCPeerConnection(subscriber);
  const b = new RTCPeerConnection(subscriber);
  const transceiver = a.addTransceiver(new MediaStreamTrack({ kind: 'video', codec: weriftCodec(VP8) }), { direction: 'sendonly' });
  const received: RtpPacket[] = [];
  b.onTrack.subscribe((track) => track.onReceiveRtp.subscribe((rtp) => received.push(rtp)));
  await a.setLocalDescription(await a.createOffer());
  await until('a gathered', () => a.iceGatheringState === 'complete');
  await b.setRemoteDescription(a.localDescription!);
  await b.setLocalDescription(await b.createAnswer());
  await until('b gathered', () => b.iceGatheringState === 'complete');
  await a.setRemoteDescription(b.localDescription!);
  const sender = transceiver.sender;
  const close = async () => void (await Promise.all([a.close(), b.close()]));
  await until('DTLS connected', () => sender.dtlsTransport?.state === 'connected' && b.connectionState === 'connected').catch(async (err: unknown) => {
    await close();
    throw err;
  });
  return { sender, received, close };
}

const packet = (sequenceNumber: number, timestamp: number, bytes = 50) => new RtpPacket(new RtpHeader({ sequenceNumber, timestamp, payloadType: 100, ssrc: 1234, marker: true }), Buffer.alloc(bytes, sequenceNumber & 0xff));

test('ntpNow and absSendTime follow RFC 3550 §4 and abs-send-time (6.18 fixed point)', () => {
  const ms = Date.UTC(2026, 10, 30, 12, 0, 0) + 500; // x.5 s
  const ntp = ntpNow(ms);
  assert.equal(Number(ntp >> 32n), (ms + 2_208_988_800_000 - 500) / 1000);
  assert.equal(Number(ntp & 0xffff_ffffn), 0x8000_0000, 'half a second is fraction 2^31');
  const abs = absSendTime(ms);
  assert.equal(abs.readUIntBE(0, 3), Number((ntp >> 14n) & 0xffffffn), 'the same bits as NTP >> 14');
  // 100 ms later: 0.1 × 2^18 = 26,214 units
  assert.equal((absSendTime(ms + 100).readUIntBE(0, 3) - abs.readUIntBE(0, 3)) & 0xffffff, 26_214);
});

test('sendRtpNow: forwarded RTP arrives as werift would send it, with a moving abs-send-time, and NACKs are answered from the history', async () => {
  const { sender, received, close } = await connectedPair();
  try {
    const ids = Object.fromEntries((sender as unknown as { headerExtensions: { id: number; uri: string }[] }).headerExtensions.map((e) => [e.uri, e.id]));
    assert.ok(ids[MID_URI] && ids[ABS_URI], 'the subscriber leg negotiates mid and abs-send-time');

    // werift's own path, for comparison.
    await sender.sendRtp(packet(1000, 90_000));
    await until('werift-sent packet', () => received.length === 1);
    const sentAt = [performance.now()];
    assert.equal(sendRtpNow(sender, packet(1001, 93_000)), true);
    await new Promise((r) => setTimeout(r, 100));
    sentAt.push(performance.now());
    assert.equal(sendRtpNow(sender, packet(1002, 102_000, 1100)), true);
    await until('both fast-path packets', () => received.length === 3);

    const [viaWerift, first, second] = received as [RtpPacket, RtpPacket, RtpPacket];
    for (const p of [first, second]) {
      assert.equal(p.header.ssrc, sender.ssrc, 'the sender SSRC');
      assert.equal(p.header.payloadType, viaWerift.header.payloadType, 'the negotiated payload type');
      assert.equal(p.header.marker, true);
      assert.deepEqual(p.header.extensions.map((e) => e.id).sort(), viaWerift.header.extensions.map((e) => e.id).sort(), 'the same extensions as werift writes');
      assert.equal(p.header.extensions.find((e) => e.id === ids[MID_URI])!.payload.toString(), (sender as unknown as { mid: string }).mid);
    }
    assert.deepEqual([first.header.sequenceNumber, first.header.timestamp, second.header.sequenceNumber, second.header.timestamp], [1001, 93_000, 1002, 102_000]);
    assert.deepEqual(second.payload, Buffer.alloc(1100, 1002 & 0xff));
    const abs = (p: RtpPacket) => p.header.extensions.find((e) => e.id === ids[ABS_URI])!.payload.readUIntBE(0, 3);
    const deltaMs = (((abs(second) - abs(first)) & 0xffffff) / 262_144) * 1000;
    const gapMs = sentAt[1]! - sentAt[0]!;
    assert.ok(Math.abs(deltaMs - gapMs) < 3, `abs-send-time moved ${deltaMs.toFixed(1)} ms between sends ${gapMs.toFixed(1)} ms apart (werift's own barely moves within a second)`);

    // Sender report state and counters follow the packets.
    const s = sender as unknown as { packetCount: number; rtpTimestamp: number; ntpTimestamp: bigint };
    assert.equal(s.packetCount, 3);
    assert.equal(s.rtpTimestamp, 102_000);
    const srSeconds = Number(s.ntpTimestamp >> 32n) - 2_208_988_800;
    assert.ok(Math.abs(srSeconds - Date.now() / 1000) < 5, 'the SR time is wall-clock NTP');

    // A NACK for 1002 is answered from werift's history: the receiver gets it again.
    sender.handleRtcpPacket(new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: sender.ssrc, lost: [1002] }) }));
    await until('the retransmission', () => received.length === 4);
    assert.equal(received[3]!.header.sequenceNumber, 1002);
    assert.deepEqual(received[3]!.payload, second.payload);

    // Outside its case (a stopped sender) it does nothing and says so.
    await sender.stop();
    assert.equal(sendRtpNow(sender, packet(1003, 105_000)), false);
  } finally {
    await close();
  }
});

/** A werift sender as sendRtpNow reads it, connected over `protocol` to `address` (no sockets). */
function fakeSender(over: { protocolType?: string; address?: string; sent?: Buffer[]; throwOnCodec?: boolean } = {}): any {
  const sent = over.sent ?? [];
  const sender: any = {
    stopped: false,
    pendingRtpEnabled: false,
    rtpContinuityPending: false,
    ssrc: 42,
    mid: '0',
    headerExtensions: [],
    seqOffset: 0,
    timestampOffset: 0,
    ntpTimestamp: 0n,
    rtpTimestamp: 0,
    octetCount: 0,
    packetCount: 0,
    headerBytesSent: 0,
    rtpCache: [],
    rtcpRunning: true,
    werift: [] as unknown[],
    sendRtp: async (p: unknown) => void sender.werift.push(p),
    dtlsTransport: {
      state: 'connected',
      srtp: { encrypt: (payload: Buffer) => Buffer.concat([Buffer.alloc(12), payload]) },
      bytesSent: 0,
      packetsSent: 0,
      iceTransport: {
        connection: {
          canSendApplicationData: () => true,
          nominated: { remoteAddr: [over.address ?? '127.0.0.1', 9], packetsSent: 0, bytesSent: 0, protocol: { type: over.protocolType ?? 'stun', transport: { type: 'udp', closed: false, socket: { send: (d: Buffer) => void sent.push(d) } } } },
        },
      },
    },
  };
  Object.defineProperty(sender, 'codec', { get: () => (over.throwOnCodec ? (undefined as any).payloadType : { payloadType: 96 }) });
  return sender;
}

test('sendRtpNow leaves TURN pairs and named destinations to werift, and sendRtp survives werift internals it cannot read', async () => {
  const { sendRtp } = await import('../src/werift/patches/index.js');
  const sent: Buffer[] = [];
  assert.equal(sendRtpNow(fakeSender({ sent }), packet(1, 1)), true, 'a plain STUN pair over UDP to an IP literal: sent');
  assert.equal(sent.length, 1);
  assert.equal(sendRtpNow(fakeSender({ sent, protocolType: 'turn' }), packet(2, 2)), false, 'a TURN pair');
  assert.equal(sendRtpNow(fakeSender({ sent, address: 'peer.example' }), packet(3, 3)), false, 'a named destination');
  assert.equal(sent.length, 1, 'nothing more sent by the fast path');
  // Sequence number and timestamp offsets wrap (uint16, uint32), negative ones included.
  const wrap = fakeSender({ sent });
  wrap.seqOffset = -2;
  wrap.timestampOffset = -5;
  const p = packet(1, 3);
  assert.equal(sendRtpNow(wrap, p), true);
  assert.deepEqual([p.header.sequenceNumber, p.header.timestamp], [65_535, 4_294_967_294]);
  // A sender whose internals throw: the packet is dropped, no exception, werift's path afterwards.
  const broken = fakeSender({ sent, throwOnCodec: true });
  assert.doesNotThrow(() => sendRtp(broken, packet(4, 4)));
  assert.equal(broken.werift.length, 0, 'the packet that threw is dropped');
  sendRtp(broken, packet(5, 5));
  assert.equal(broken.werift.length, 1, 'later packets go through werift');
});
