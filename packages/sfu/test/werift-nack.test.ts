import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RTCPeerConnection, RtpHeader, RtpPacket } from 'werift';
import { nackPerSsrc } from '../src/werift/patches/index.js';

/** A werift video receiver whose RTCP goes to `sent` instead of a transport; resolves on the first NACK. */
function receiverWithCapturedRtcp(): { receiver: any; firstNack: Promise<any>; pc: RTCPeerConnection } {
  const pc = new RTCPeerConnection({ iceServers: [] });
  const receiver = pc.addTransceiver('video', { direction: 'recvonly' }).receiver as any;
  let resolve!: (nack: unknown) => void;
  const firstNack = new Promise<any>((r) => (resolve = r));
  receiver.dtlsTransport.sendRtcp = async (packets: any[]) => {
    for (const p of packets) if (p.feedback?.lost) resolve(p.feedback);
    return 0;
  };
  return { receiver, firstNack, pc };
}

const packet = (ssrc: number, sequenceNumber: number) => new RtpPacket(new RtpHeader({ ssrc, sequenceNumber, payloadType: 96 }), Buffer.alloc(10));

test('simulcast NACKs: one generator per SSRC, so interleaved layers are not losses and a real loss is NACKed for its own layer', async () => {
  const { receiver, firstNack, pc } = receiverWithCapturedRtcp();
  try {
    assert.equal(nackPerSsrc(receiver), true);
    assert.equal(nackPerSsrc(receiver), true, 'idempotent');
    // Two layers with unrelated sequence spaces, interleaved, nothing lost ...
    for (let i = 0; i < 20; i++) {
      receiver.nack.addPacket(packet(0x1111, 100 + i));
      receiver.nack.addPacket(packet(0x2222, 40_000 + i));
    }
    // ... then layer 0x1111 loses 120.
    receiver.nack.addPacket(packet(0x1111, 121));
    const nack = await firstNack;
    assert.equal(nack.mediaSourceSsrc, 0x1111);
    assert.deepEqual(nack.lost, [120], 'exactly the lost packet (werift alone NACKs ranges between the layers)');
  } finally {
    receiver.nack.close();
    await pc.close();
  }
});
