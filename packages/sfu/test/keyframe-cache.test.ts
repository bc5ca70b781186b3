/**
 * The kept keyframe (PublicationSpec.keyframeCache, Janus's videobufferkf): a subscriber that
 * joins a source that cannot make keyframes on request gets the last keyframe's packets before
 * the next frame, with sequence numbers and timestamps that continue into the live stream.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SfuCore } from '../src/core/sfu-core.js';
import { KeyframeCache } from '../src/core/keyframe-cache.js';
import type { ForwardSink, RtpMeta, SfuAction, SubscriptionRef } from '../src/core/sfu-core-types.js';
import { VP8 } from '../src/rtp/vp8.js';
import { vp8Payload } from './sim.js';

interface Sent {
  label: string;
  sequenceNumber: number;
  timestamp: number;
}

function setup(keyframeCache: boolean) {
  const core = new SfuCore();
  const sent: Sent[] = [];
  const actions: SfuAction[] = [];
  const sink: ForwardSink<string> = { forward: (_s: SubscriptionRef, label: string, sequenceNumber: number, timestamp: number) => sent.push({ label, sequenceNumber, timestamp }) };
  actions.push(...core.join('camera', 'ingress', 0), ...core.join('viewer', 'browser', 0));
  actions.push(...core.publish({ id: 'v', participant: 'camera', kind: 'video', streamId: 'camera', layers: [{ rid: '' }], codec: VP8, keyframeCache }, 0));
  const pub = core.publication('v')!;
  let seq = 1000;
  /** One packet: a label for the sink, its timestamp, whether it starts a keyframe. */
  const packet = (label: string, timestamp: number, keyframe: boolean, now: number, ssrc = 0xcafe) => {
    const payload = vp8Payload(keyframe);
    const meta: RtpMeta = { ssrc, sequenceNumber: seq++ & 0xffff, timestamp, payload, size: 12 + payload.length };
    actions.push(...core.rtp(pub, 0, meta, label, now, sink));
  };
  return { core, sent, actions, packet };
}

/** A keyframe of two packets at ts 0, then P frames of one packet each, 3000 ticks apart (30 fps). */
function camera(packet: (label: string, ts: number, keyframe: boolean, now: number) => void, frames: number): void {
  packet('K0', 0, true, 0);
  packet('K1', 0, false, 0);
  for (let f = 1; f <= frames; f++) packet(`P${f}`, f * 3000, false, f * 33);
}

test('a late subscriber gets the kept keyframe, then the live stream, continuous in sequence numbers and timestamps', () => {
  const { core, sent, actions, packet } = setup(true);
  camera(packet, 5);
  actions.push(...core.addSubscriber({ id: 'viewer', participant: 'viewer', ready: true }, 200));
  packet('P6', 18_000, false, 200);
  packet('P7', 21_000, false, 233);
  assert.deepEqual(sent.map((s) => s.label), ['K0', 'K1', 'P6', 'P7'], 'the keyframe first, then the live frames');
  const seqs = sent.map((s) => s.sequenceNumber);
  assert.ok(seqs.every((s, i) => i === 0 || s === ((seqs[i - 1]! + 1) & 0xffff)), `continuous sequence numbers: ${seqs}`);
  assert.equal(sent[0]!.timestamp, sent[1]!.timestamp, 'the keyframe\'s packets share a timestamp');
  assert.equal((sent[2]!.timestamp - sent[0]!.timestamp) >>> 0, 3000, 'one frame before the live one');
  assert.equal((sent[3]!.timestamp - sent[2]!.timestamp) >>> 0, 3000, 'live frames keep their spacing');
  assert.equal(core.takeMetrics().keyframeReplays, 1);
});

test('the replay waits for the start of a frame: not in the middle of one', () => {
  const { core, sent, packet } = setup(true);
  camera(packet, 2);
  packet('P3a', 9000, false, 100);
  core.addSubscriber({ id: 'viewer', participant: 'viewer', ready: true }, 110);
  packet('P3b', 9000, false, 110);
  assert.equal(sent.length, 0, 'the rest of a frame the subscriber did not see the start of');
  packet('P4', 12_000, false, 133);
  assert.deepEqual(sent.map((s) => s.label), ['K0', 'K1', 'P4']);
});

test('a live keyframe needs no replay; without a kept keyframe a subscriber waits for one and asks with a PLI', () => {
  const live = setup(true);
  camera(live.packet, 2);
  live.core.addSubscriber({ id: 'viewer', participant: 'viewer', ready: true }, 100);
  live.packet('K9', 9000, true, 100);
  assert.deepEqual(live.sent.map((s) => s.label), ['K9']);

  const off = setup(false);
  camera(off.packet, 3);
  const added = off.core.addSubscriber({ id: 'viewer', participant: 'viewer', ready: true }, 200);
  assert.ok(added.some((a) => a.type === 'request-keyframe'), 'a PLI for the first keyframe');
  off.packet('P4', 12_000, false, 233);
  assert.equal(off.sent.length, 0, 'nothing kept: nothing until a keyframe');
  off.packet('K5', 15_000, true, 266);
  assert.deepEqual(off.sent.map((s) => s.label), ['K5']);
});

test('KeyframeCache: the keyframe ends at the next timestamp; a keyframe larger than the cap is not kept; frame duration learned', () => {
  const c = new KeyframeCache(3);
  c.push('a', 100, true);
  c.push('b', 100, false);
  assert.equal(c.readyFor(100), false, 'still collecting');
  assert.equal(c.startsFrame(3100), true);
  c.push('p', 3100, false);
  assert.deepEqual(c.keyframe(), ['a', 'b']);
  assert.equal(c.readyFor(6100), true);
  assert.equal(c.frameTicks, 3000);
  c.push('q', 9100, false);
  assert.equal(c.frameTicks, 6000, 'the last spacing (15 fps)');
  c.push('x', 12_100, true);
  for (const l of ['y', 'z', 'w']) c.push(l, 12_100, false);
  c.push('r', 15_100, false);
  assert.equal(c.readyFor(18_100), false, 'four packets: over the cap of three, dropped');
  c.push('big', 0xffff_fff0, false);
  c.push('wrap', 0x0000_0ff0, false);
  assert.equal(c.frameTicks, 0x1000, 'timestamps wrap (RFC 3550 §5.1)');
});

for (const keyframeCache of [true, false]) test(`a server-side source that starts over (new SSRC, new numbering) is forwarded again from its next keyframe, our numbering continuous (${keyframeCache ? 'a camera, with a kept keyframe' : 'the MCU composite, without'})`, () => {
  const { core, sent, actions, packet } = setup(keyframeCache);
  actions.push(...core.addSubscriber({ id: 'viewer', participant: 'viewer', ready: true }, 0));
  camera(packet, 2);
  // The pull restarted: another SSRC, timestamps elsewhere; P frames before its first keyframe are not forwarded.
  packet('Q', 900_000, false, 500, 0xbeef);
  packet('L0', 903_000, true, 533, 0xbeef);
  packet('L1', 906_000, false, 566, 0xbeef);
  assert.deepEqual(sent.map((s) => s.label), ['K0', 'K1', 'P1', 'P2', 'L0', 'L1']);
  const seqs = sent.map((s) => s.sequenceNumber);
  assert.ok(seqs.every((s, i) => i === 0 || s === ((seqs[i - 1]! + 1) & 0xffff)), `continuous sequence numbers: ${seqs}`);
  const gap = (sent[4]!.timestamp - sent[3]!.timestamp) >>> 0;
  assert.ok(gap > 0 && gap < 90_000, `the timestamp moves on by the wall time, not by the new source's numbering (${gap})`);
});
