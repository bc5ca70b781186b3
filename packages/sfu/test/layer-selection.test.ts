import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseLayer, LayerMonitor, type LayerInfo } from '../src/core/layer-selection.js';
import { DownTrack } from '../src/core/down-track.js';
import { readRtpHeader } from '../src/rtp/rtp-header.js';
import { isVp8Keyframe, vp8KeyframeSize } from '../src/rtp/vp8.js';

/** q/h/f of a 1280×720 camera, all arriving at typical rates. */
function ladder(over: Partial<Record<number, Partial<LayerInfo>>> = {}, unsized: number[] = []): LayerInfo[] {
  const base: LayerInfo[] = [
    { rid: 'q', width: 320, height: 180, arriving: true, bitrateBps: 150_000, nominalBps: 150_000 },
    { rid: 'h', width: 640, height: 360, arriving: true, bitrateBps: 500_000, nominalBps: 500_000 },
    { rid: 'f', width: 1280, height: 720, arriving: true, bitrateBps: 1_500_000, nominalBps: 1_500_000 },
  ];
  return base.map((l, i) => {
    const out: LayerInfo = { ...l, ...over[i] };
    if (unsized.includes(i)) {
      delete out.width;
      delete out.height;
    }
    return out;
  });
}

test('render size picks the smallest layer that covers it; unknown size takes the top; 0×0 takes nothing', () => {
  assert.deepEqual(chooseLayer(ladder(), { render: { width: 160, height: 90 } }, null), { desired: 0, forward: 0 });
  assert.deepEqual(chooseLayer(ladder(), { render: { width: 320, height: 180 } }, null), { desired: 0, forward: 0 });
  assert.deepEqual(chooseLayer(ladder(), { render: { width: 600, height: 338 } }, null), { desired: 1, forward: 1 });
  assert.deepEqual(chooseLayer(ladder(), { render: { width: 1280, height: 720 } }, null), { desired: 2, forward: 2 });
  assert.deepEqual(chooseLayer(ladder(), { render: { width: 2560, height: 1440 } }, null), { desired: 2, forward: 2 }, 'larger than any: the top');
  assert.deepEqual(chooseLayer(ladder(), {}, null), { desired: 2, forward: 2 });
  assert.deepEqual(chooseLayer(ladder(), { render: { width: 0, height: 0 } }, 1), { desired: null, forward: null });
  assert.deepEqual(chooseLayer([], {}, null), { desired: null, forward: null });
});

test('unmeasured layer sizes are derived from a measured one (each layer doubles the one below)', () => {
  const layers = ladder({}, [1, 2]);
  assert.equal(chooseLayer(layers, { render: { width: 600, height: 338 } }, null).desired, 1);
  const none = ladder({}, [0, 1, 2]);
  assert.equal(chooseLayer(none, { render: { width: 100, height: 60 } }, null).desired, 2, 'no size known yet: the top layer');
});

test('a desired layer that is not arriving: keep the current one, else the best arriving one below, else above', () => {
  const fPaused = ladder({ 2: { arriving: false, bitrateBps: 0 } });
  assert.deepEqual(chooseLayer(fPaused, {}, 0), { desired: 2, forward: 0 }, 'keeps forwarding q until f arrives');
  assert.deepEqual(chooseLayer(fPaused, {}, null), { desired: 2, forward: 1 });
  const onlyF = ladder({ 0: { arriving: false }, 1: { arriving: false } });
  assert.deepEqual(chooseLayer(onlyF, { render: { width: 100, height: 60 } }, null), { desired: 0, forward: 2 });
});

test('REMB: congestion steps down to a layer that fits, headroom allows one layer up, in between holds', () => {
  const big = { render: { width: 1280, height: 720 } };
  // Forwarding f at 1.5 Mbps, the subscriber estimates 600 kbps: congested → h (500 kbps fits).
  assert.deepEqual(chooseLayer(ladder(), { ...big, estimateBps: 600_000 }, 2), { desired: 1, forward: 1 });
  assert.deepEqual(chooseLayer(ladder(), { ...big, estimateBps: 100_000 }, 2), { desired: 0, forward: 0 }, 'below every layer: the lowest');
  // Forwarding q at 150 kbps: an estimate of 1.2× that or more lets it try h, not f at once.
  assert.deepEqual(chooseLayer(ladder(), { ...big, estimateBps: 190_000 }, 0), { desired: 1, forward: 1 });
  assert.deepEqual(chooseLayer(ladder(), { ...big, estimateBps: 160_000 }, 0), { desired: 0, forward: 0 }, 'no headroom: hold');
  assert.deepEqual(chooseLayer(ladder(), { ...big, estimateBps: 1_600_000 }, 2), { desired: 2, forward: 2 }, 'fits: stay on top');
  assert.deepEqual(chooseLayer(ladder(), { render: { width: 160, height: 90 }, estimateBps: 10_000_000 }, 0).desired, 0, 'the render size still caps');
});

test('LayerMonitor: bitrate per window, keyframe sizes, layers that stop arriving', () => {
  const m = new LayerMonitor(['q', 'h'], [150_000, 500_000], 1000);
  m.packet(0, 1000, 0, { width: 320, height: 180 });
  for (let t = 10; t < 1000; t += 10) m.packet(0, 1000, t);
  m.packet(1, 500, 900);
  let layers = m.layers(1000);
  assert.deepEqual(layers[0], { rid: 'q', width: 320, height: 180, arriving: true, bitrateBps: 800_000, nominalBps: 150_000 });
  assert.equal(layers[1]!.bitrateBps, 4000);
  layers = m.layers(2000);
  assert.equal(layers[0]!.arriving, false, 'nothing for a whole window');
  assert.equal(layers[1]!.arriving, false);
  assert.equal(layers[0]!.nominalBps, 150_000);
});

test('vp8KeyframeSize reads the size of a keyframe (RFC 6386 §9.1) and nothing else', () => {
  // Descriptor: X=1, S=1, PID=0; I=1 with a 15-bit picture id; then the keyframe header.
  const key = Uint8Array.from([0x90, 0x80, 0x81, 0x23, 0x50, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x00, 0x05, 0xd0, 0x02, 0xaa]);
  assert.deepEqual(vp8KeyframeSize(key), { width: 1280, height: 720 });
  const inter = key.slice();
  inter[4] = 0x51; // P bit set: an inter frame
  assert.equal(vp8KeyframeSize(inter), undefined);
  const badStart = key.slice();
  badStart[8] = 0x02;
  assert.equal(vp8KeyframeSize(badStart), undefined);
  assert.equal(vp8KeyframeSize(key.subarray(0, 10)), undefined, 'truncated');
  const notStart = key.slice();
  notStart[0] = 0x80; // S=0: a continuation packet
  assert.equal(vp8KeyframeSize(notStart), undefined);
});

test('DownTrack.pause stops forwarding; resuming continues the sequence after a keyframe', () => {
  const d = new DownTrack({ outSsrc: 7, clockRate: 90000, kind: 'video' });
  const pkt = (seq: number, ts: number, key: boolean) => {
    const b = new Uint8Array(12 + 3);
    b[0] = 0x80;
    b[1] = 96;
    new DataView(b.buffer).setUint16(2, seq);
    new DataView(b.buffer).setUint32(4, ts);
    new DataView(b.buffer).setUint32(8, 1);
    b[12] = 0x10;
    b[13] = key ? 0x00 : 0x01;
    return b;
  };
  /** Layer 0's packet through the down track: the rewritten sequence number, or undefined when dropped. */
  const push = (b: Uint8Array, now: number) => {
    const h = readRtpHeader(b)!;
    const r = d.route(0, h.sequenceNumber, h.timestamp, () => isVp8Keyframe(b.subarray(h.payloadOffset)), now);
    return r.forward ? { sequenceNumber: r.sequenceNumber } : undefined;
  };
  d.selectLayer(0, 0);
  const first = push(pkt(100, 1000, true), 0)!;
  assert.equal(d.options.outSsrc, 7);
  assert.equal(first.sequenceNumber, 100);
  assert.ok(push(pkt(101, 1000, false), 10));
  d.pause();
  assert.equal(d.currentSource, null);
  assert.equal(push(pkt(102, 4000, false), 50), undefined, 'paused: nothing forwarded');
  const req = d.selectLayer(0, 2000);
  assert.equal(req, 0, 'resuming asks for a keyframe');
  assert.equal(push(pkt(150, 90000, false), 2010), undefined, 'waits for the keyframe');
  const resumed = push(pkt(151, 93000, true), 2020)!;
  assert.equal(resumed.sequenceNumber, 102, 'continues right after the last packet sent');
});
