/** REMB encode/decode (draft-alvestrand-rmcat-remb-03 §2.2), interop with werift, and the REMB schedule. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ReceiverEstimatedMaxBitrate, RtcpPacketConverter, RtcpPayloadSpecificFeedback, RtcpRrPacket } from 'werift';
import { RembEstimate, RembGenerator, decodeRemb, encodeRemb } from '../src/core/bwe-feedback.js';

test('a REMB of 2.5 Mbps for two SSRCs has the draft\'s layout', () => {
  const p = encodeRemb({ senderSsrc: 0x01020304, bitrateBps: 2_500_000, ssrcs: [0xaabbccdd, 7] });
  assert.equal(p.length, 28);
  assert.deepEqual([...p.subarray(0, 4)], [0x8f, 206, 0, 6], 'V=2 FMT=15, PT=206, length 7 words - 1');
  assert.deepEqual([...p.subarray(4, 12)], [1, 2, 3, 4, 0, 0, 0, 0], 'sender SSRC, media source 0');
  assert.equal(Buffer.from(p.subarray(12, 16)).toString(), 'REMB');
  // 2,500,000 = 156,250 · 2^4: exp 4, mantissa 0x02625A
  assert.deepEqual([...p.subarray(16, 20)], [2, (4 << 2) | 0x02, 0x62, 0x5a]);
  assert.deepEqual([...p.subarray(20)], [0xaa, 0xbb, 0xcc, 0xdd, 0, 0, 0, 7]);
});

test('werift parses our REMB, and we parse werift\'s', () => {
  const bytes = encodeRemb({ senderSsrc: 42, bitrateBps: 1_234_567, ssrcs: [1, 2, 3] });
  const [parsed] = RtcpPacketConverter.deSerialize(Buffer.from(bytes));
  assert.ok(parsed instanceof RtcpPayloadSpecificFeedback);
  assert.ok(parsed.feedback instanceof ReceiverEstimatedMaxBitrate);
  const remb = decodeRemb(bytes)!;
  assert.equal(parsed.feedback.bitrate, BigInt(remb.bitrateBps));
  assert.deepEqual(parsed.feedback.ssrcFeedbacks, [1, 2, 3]);
  assert.equal(parsed.feedback.senderSsrc, 42);

  const theirs = new RtcpPayloadSpecificFeedback({
    feedback: new ReceiverEstimatedMaxBitrate({ senderSsrc: 9, mediaSsrc: 0, ssrcNum: 1, brExp: 3, brMantissa: 100_000, ssrcFeedbacks: [77] }),
  }).serialize();
  assert.deepEqual(decodeRemb(theirs), { senderSsrc: 9, bitrateBps: 800_000, ssrcs: [77] });
});

test('the encoded bitrate is never above the asked one and within 2^-17 of it', () => {
  fc.assert(
    fc.property(fc.oneof(fc.integer({ min: 0, max: 300_000 }), fc.double({ min: 0, max: 1e15, noNaN: true })), fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 6 }), (bps, ssrcs) => {
      const r = decodeRemb(encodeRemb({ senderSsrc: 1, bitrateBps: bps, ssrcs }))!;
      assert.ok(r.bitrateBps <= Math.floor(bps));
      assert.ok(r.bitrateBps >= Math.floor(bps) * (1 - 2 ** -17) - 1, `${r.bitrateBps} vs ${bps}`);
      assert.deepEqual(r.ssrcs, ssrcs);
    }),
  );
});

test('bad REMB input is refused', () => {
  assert.throws(() => encodeRemb({ senderSsrc: -1, bitrateBps: 1, ssrcs: [] }), RangeError);
  assert.throws(() => encodeRemb({ senderSsrc: 1, bitrateBps: 1, ssrcs: [2 ** 32] }), RangeError);
  assert.throws(() => encodeRemb({ senderSsrc: 1, bitrateBps: 1, ssrcs: new Array(256).fill(1) }), RangeError);
  assert.throws(() => encodeRemb({ senderSsrc: 1, bitrateBps: -5, ssrcs: [] }), RangeError);
  assert.throws(() => encodeRemb({ senderSsrc: 1, bitrateBps: Number.NaN, ssrcs: [] }), RangeError);
  assert.throws(() => encodeRemb({ senderSsrc: 1, bitrateBps: 2 ** 90, ssrcs: [] }), RangeError);
  assert.throws(() => new RembGenerator({ senderSsrc: 1, maxBitrateBps: Number.POSITIVE_INFINITY }), RangeError);
});

test('decodeRemb finds a REMB inside a compound packet and never throws on garbage', () => {
  const rr = new RtcpRrPacket({ ssrc: 5, reports: [] }).serialize();
  const compound = Buffer.concat([rr, encodeRemb({ senderSsrc: 5, bitrateBps: 300_000, ssrcs: [8] })]);
  assert.deepEqual(decodeRemb(compound), { senderSsrc: 5, bitrateBps: 300_000, ssrcs: [8] });
  assert.equal(decodeRemb(rr), null);
  assert.equal(decodeRemb(encodeRemb({ senderSsrc: 5, bitrateBps: 1, ssrcs: [1, 2] }).subarray(0, 24)), null, 'truncated');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      decodeRemb(bytes);
    }),
  );
});

test('RembGenerator: silent until media, fast during startup, then once a second; changes go out at once', () => {
  const g = new RembGenerator({ senderSsrc: 3, maxBitrateBps: 2_000_000 });
  assert.equal(g.poll(0), undefined, 'no media yet');
  g.onRtp(100, 1000);
  g.onRtp(200, 1001);
  const first = decodeRemb(g.poll(1001)!)!;
  assert.deepEqual(first, { senderSsrc: 3, bitrateBps: 2_000_000, ssrcs: [100, 200] });
  assert.equal(g.poll(1100), undefined);
  assert.ok(g.poll(1201), 'startup: every 200 ms');
  let sent = 0;
  for (let t = 1202; t < 4000; t += 10) if (g.poll(t)) sent++;
  assert.ok(sent >= 12 && sent <= 14, `startup sends ${sent}`);
  const times: number[] = [];
  for (let t = 4000; t < 8000; t += 10) {
    g.onRtp(100, t);
    if (g.poll(t)) times.push(t);
  }
  assert.ok(times.length >= 3 && times.length <= 5, `after startup, about once a second: ${times}`);
  const last = times.at(-1)!;
  g.setMaxBitrate(800_000);
  assert.equal(g.bitrateBps, 800_000);
  const changed = decodeRemb(g.poll(last + 10)!)!;
  assert.equal(changed.bitrateBps, 800_000);
  assert.deepEqual(changed.ssrcs, [100], 'SSRC 200 went quiet more than 5 s ago');
  assert.equal(g.poll(last + 20), undefined);
});

test('RembEstimate: the latest value until it is stale', () => {
  const e = new RembEstimate(5000);
  assert.equal(e.estimate(0), undefined);
  e.onRemb(700_000, 10);
  e.onRemb(Number.NaN, 20);
  assert.equal(e.estimate(5010), 700_000);
  assert.equal(e.estimate(5011), undefined);
});
