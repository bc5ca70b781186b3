/**
 * The SFU's forwarding logic, sans-I/O: a down track's decisions per RTP packet of a layer
 * (forward with which sequence number and timestamp, ask for a keyframe), with a clock. Packets
 * are real RTP bytes read with the package's parser and VP8 keyframe detection, as a local RTP
 * source does; the byte rewrite a local RTP sink does is tested at the end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DownTrack, KeyframeRequestLimiter } from '../src/core/down-track.js';
import { readRtpHeader, rewriteRtp, seqNewer } from '../src/rtp/rtp-header.js';
import { isVp8Keyframe } from '../src/rtp/vp8.js';

/** An RTP packet carrying a VP8 payload descriptor (RFC 7741) with a PictureID. */
function vp8(ssrc: number, seq: number, ts: number, keyframe: boolean, start = true): Uint8Array {
  const p = new Uint8Array(12 + 4 + 10);
  const v = new DataView(p.buffer);
  p[0] = 0x80;
  p[1] = 96;
  v.setUint16(2, seq & 0xffff);
  v.setUint32(4, ts >>> 0);
  v.setUint32(8, ssrc);
  p[12] = 0x80 | (start ? 0x10 : 0); // X, S, PID 0
  p[13] = 0x80; // I: PictureID present
  p[14] = 0x80 | 0x01; // 15-bit PictureID
  p[15] = 0x23;
  p[16] = keyframe ? 0x00 : 0x01; // VP8 payload header: P bit
  return p;
}

/** Layer ids (a down track's source is always a layer of its publication). */
const LOW = 0;
const HIGH = 1;
/** SSRCs of those layers on the wire. */
const LOW_SSRC = 0x1111;
const HIGH_SSRC = 0x2222;

/** What route() decided, copied out of its reused result: the rewritten header values when forwarded. */
interface Decision {
  packet?: { sequenceNumber: number; timestamp: number };
  requestKeyframe?: number;
}

/** One packet of `layer` through `d`, as the core hands it over (header read, keyframe detected lazily). */
function push(d: DownTrack, packet: Uint8Array, now: number, layer: number): Decision {
  const h = readRtpHeader(packet)!;
  const r = d.route(layer, h.sequenceNumber, h.timestamp, () => isVp8Keyframe(packet.subarray(h.payloadOffset)), now);
  const out: Decision = {};
  if (r.forward) out.packet = { sequenceNumber: r.sequenceNumber, timestamp: r.timestamp };
  if (r.requestKeyframe >= 0) out.requestKeyframe = r.requestKeyframe;
  return out;
}

test('VP8 keyframe detection follows the payload descriptor', () => {
  const payload = (p: Uint8Array) => p.subarray(readRtpHeader(p)!.payloadOffset);
  assert.equal(isVp8Keyframe(payload(vp8(1, 1, 1, true))), true);
  assert.equal(isVp8Keyframe(payload(vp8(1, 1, 1, false))), false);
  assert.equal(isVp8Keyframe(payload(vp8(1, 1, 1, true, false))), false, 'not the start of a partition');
  assert.equal(isVp8Keyframe(new Uint8Array([0x10, 0x00])), true, 'no extensions');
  assert.equal(readRtpHeader(new Uint8Array([0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])), null, 'RTP version 1');
  assert.equal(seqNewer(1, 65535), true);
  assert.equal(seqNewer(65535, 1), false);
});

test('the first layer starts at a keyframe; a PLI is asked for meanwhile, at most once a second', () => {
  const d = new DownTrack({ outSsrc: 0xabcd, clockRate: 90000, kind: 'video' });
  assert.equal(d.selectLayer(LOW, 0), LOW, 'ask for a keyframe at once');
  assert.deepEqual(push(d, vp8(LOW_SSRC, 100, 9000, false), 10, LOW), {});
  assert.deepEqual(push(d, vp8(LOW_SSRC, 101, 12000, false), 500, LOW), {}, 'throttled');
  assert.deepEqual(push(d, vp8(LOW_SSRC, 102, 15000, false), 1001, LOW), { requestKeyframe: LOW });
  const h = push(d, vp8(LOW_SSRC, 103, 18000, true), 1100, LOW).packet!;
  assert.equal(d.options.outSsrc, 0xabcd);
  assert.equal(h.sequenceNumber, 103);
  assert.equal(h.timestamp, 18000);
  assert.ok(push(d, vp8(LOW_SSRC, 104, 18000, false), 1101, LOW).packet);
  assert.equal(push(d, vp8(HIGH_SSRC, 500, 70000, true), 1102, HIGH).packet, undefined, 'other layers are not forwarded');
});

test('a layer switch happens on the target\'s keyframe, continuing sequence numbers and timestamps', () => {
  const d = new DownTrack({ outSsrc: 7, clockRate: 90000, kind: 'video' });
  d.selectLayer(LOW, 0);
  const outs: number[][] = [];
  const take = (p: Uint8Array, now: number, layer: number) => {
    const r = push(d, p, now, layer);
    if (r.packet) outs.push([r.packet.sequenceNumber, r.packet.timestamp]);
    return r;
  };
  take(vp8(LOW_SSRC, 65534, 4294960000, true), 0, LOW); // wraps in both spaces soon
  take(vp8(LOW_SSRC, 65535, 4294963000, false), 33, LOW);
  assert.equal(d.selectLayer(HIGH, 40), HIGH, 'PLI for the new layer');
  take(vp8(HIGH_SSRC, 200, 1000, false), 41, HIGH); // not a keyframe yet: still on LOW
  take(vp8(LOW_SSRC, 0, 4294966000, false), 66, LOW);
  assert.equal(d.currentSource, LOW);
  take(vp8(HIGH_SSRC, 201, 4000, true), 100, HIGH); // switch here
  take(vp8(LOW_SSRC, 1, 4294969000, false), 100, LOW); // old layer no longer forwarded
  take(vp8(HIGH_SSRC, 202, 7000, false), 133, HIGH);
  assert.equal(d.currentSource, HIGH);
  assert.equal(d.stats.switches, 1);
  const seqs = outs.map((o) => o[0]);
  assert.deepEqual(seqs, [65534, 65535, 0, 1, 2], 'no gap and no repeat across the switch');
  for (let i = 1; i < outs.length; i++) {
    const dt = (outs[i]![1]! - outs[i - 1]![1]!) >>> 0;
    assert.ok(dt > 0 && dt < 90000, `timestamp advances (${dt})`);
  }
  // The switch packet is stamped with the wall time since the last one: 34 ms at 90 kHz.
  assert.equal((outs[3]![1]! - outs[2]![1]!) >>> 0, Math.round(34 * 90));
});

test('late and duplicate packets keep their place; audio switches at once', () => {
  const d = new DownTrack({ outSsrc: 9, clockRate: 90000, kind: 'video' });
  d.selectLayer(LOW, 0);
  push(d, vp8(LOW_SSRC, 10, 1000, true), 0, LOW);
  push(d, vp8(LOW_SSRC, 12, 1000, false), 1, LOW);
  const late = push(d, vp8(LOW_SSRC, 11, 1000, false), 2, LOW).packet!;
  assert.equal(late.sequenceNumber, 11);
  const a = new DownTrack({ outSsrc: 3, clockRate: 48000, kind: 'audio' });
  assert.equal(a.selectLayer(LOW, 0), undefined, 'audio needs no keyframe');
  const opus = vp8(LOW_SSRC, 5, 960, false);
  assert.ok(push(a, opus, 0, LOW).packet);
});

test('keyframe requests from many subscribers reach the publisher at most once a second', () => {
  const limiter = new KeyframeRequestLimiter(1000);
  const allowed = [0, 10, 500, 999, 1000, 1500, 2100].filter((t) => limiter.allow(LOW, t));
  assert.deepEqual(allowed, [0, 1000, 2100]);
  assert.equal(limiter.allow(HIGH, 10), true, 'per layer');
});

test('the source is the layer the caller names, never the header SSRC (werift may have rewritten it)', () => {
  const d = new DownTrack({ outSsrc: 5, clockRate: 90000, kind: 'video' });
  d.selectLayer(LOW, 0);
  const clobbered = vp8(0xdead, 1, 100, true);
  assert.equal(push(d, clobbered, 0, HIGH).packet, undefined, 'another layer: not forwarded');
  assert.ok(push(d, clobbered, 1, LOW).packet, 'the selected layer: forwarded');
});

test('rewriteRtp drops the header extension (its ids were negotiated with the publisher) and keeps CSRCs and payload', () => {
  // V=2, X=1, CC=1; one CSRC; a one-byte-form extension of 2 words; 3 payload bytes.
  const packet = Uint8Array.from([0x91, 96, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xaa, 0xbb, 0xcc, 0xdd, 0xbe, 0xde, 0, 2, 0x10, 0x41, 0x20, 0x01, 0x02, 0, 0, 0, 7, 8, 9]);
  const out = rewriteRtp(packet, 0x11223344, 500, 9000);
  const h = readRtpHeader(out)!;
  assert.equal(h.extension, undefined);
  assert.equal(out[0]! & 0x10, 0, 'X bit cleared');
  assert.equal(out[0]! & 0x0f, 1, 'CSRC count kept');
  assert.deepEqual([...out.subarray(12, 16)], [0xaa, 0xbb, 0xcc, 0xdd]);
  assert.deepEqual([...out.subarray(h.payloadOffset)], [7, 8, 9]);
  assert.deepEqual([h.ssrc, h.sequenceNumber, h.timestamp], [0x11223344, 500, 9000]);
  assert.equal(packet[0], 0x91, 'the input is not modified');
  const plain = Uint8Array.from([0x80, 96, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 5]);
  assert.deepEqual([...rewriteRtp(plain, 1, 2, 3).subarray(12)], [5]);
});
