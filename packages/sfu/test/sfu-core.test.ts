/**
 * The SFU core's forwarding policy with a manual clock and simulated publishers (test/sim.ts), no
 * werift: the late joiner's keyframe, layer choice under render sizes and REMB, dynacast, PLI/FIR
 * throttling, the byte path of local RTP sinks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sim, continuous } from './sim.js';
import { SfuCore } from '../src/core/sfu-core.js';
import { readRtpHeader, rewriteRtp } from '../src/rtp/rtp-header.js';
import { VP8 } from '../src/rtp/vp8.js';
import type { RtpMeta, SubscriptionRef } from '../src/core/sfu-core-types.js';

/** A room with browser `pub` publishing q/h/f video and browser `sub` subscribed to it, its transport up. */
function room(): Sim {
  const sim = new Sim();
  sim.browser('pub');
  sim.browser('sub');
  sim.video('cam', 'pub');
  sim.ready('sub', 'cam');
  return sim;
}

test('a late joiner gets a keyframe at once: the PLI goes out when its transport is up, and its first packet is a keyframe', () => {
  const sim = new Sim();
  sim.browser('pub');
  sim.video('cam', 'pub', false);
  sim.run(5000); // long after the publisher's first keyframe
  const mark = sim.actions.length;
  sim.browser('late');
  assert.deepEqual(sim.of('subscribe', mark).map((a) => a.subscription.subscriber), ['late']);
  assert.deepEqual(sim.of('renegotiate', mark), [{ type: 'renegotiate', subscriber: 'late' }]);
  sim.run(500);
  assert.equal(sim.got('late', 'cam').length, 0, 'nothing before its transport is up (a keyframe would be lost)');
  assert.equal(sim.of('request-keyframe', mark).length, 0);
  const readyAt = sim.now;
  sim.ready('late', 'cam');
  const plis = sim.of('request-keyframe', mark);
  assert.equal(plis.length, 1, 'one PLI at once');
  assert.equal(plis[0]!.ssrc, sim.pubs.get('cam')!.layers[0]!.ssrc, 'for the layer it will get, by its SSRC');
  sim.run(1000);
  const got = sim.got('late', 'cam');
  assert.equal(got[0]!.keyframe, true, 'the first packet forwarded is a keyframe');
  assert.ok(got[0]!.at - readyAt <= 40, `first frame ${got[0]!.at - readyAt} ms after the transport came up`);
  assert.ok(continuous(got));
});

test('render sizes pick the layer; dynacast pauses what nobody needs and resumes it when someone does', () => {
  const sim = room();
  sim.run(1000);
  assert.equal(sim.sub('sub', 'cam').currentLayer, 2, 'no render size known: the top layer');
  let mark = sim.actions.length;
  sim.apply(sim.core.trackSettings('sub', 'pub', 'cam-stream', 160, 90, sim.now));
  sim.run(1500); // f and h stop arriving (no packet for a measuring window, 1 s)
  assert.equal(sim.sub('sub', 'cam').currentLayer, 0, '160×90 is covered by q');
  assert.deepEqual(sim.of('publisher-layers', mark).at(-1)!.rids, ['q'], 'h and f paused at the publisher');
  const beforeGrow = sim.got('sub', 'cam').length;
  mark = sim.actions.length;
  sim.apply(sim.core.trackSettings('sub', 'pub', 'cam-stream', 1280, 720, sim.now));
  assert.deepEqual(sim.of('publisher-layers', mark)[0]!.rids, ['q', 'f'], 'f resumed; q kept until f arrives');
  assert.equal(sim.sub('sub', 'cam').currentLayer, 0, 'still q: f is not arriving yet');
  sim.run(1000);
  assert.equal(sim.sub('sub', 'cam').currentLayer, 2);
  assert.deepEqual(sim.of('publisher-layers', mark).at(-1)!.rids, ['f'], 'q paused once f is forwarded');
  const got = sim.got('sub', 'cam');
  assert.ok(continuous(got), 'sequence numbers continue across the switch');
  const switchAt = got.findIndex((f, i) => i >= beforeGrow && f.layer === 2);
  assert.equal(got[switchAt]!.keyframe, true, 'the switch happens on a keyframe of f');
  assert.ok(got.slice(1).every((f, i) => ((f.timestamp - got[i]!.timestamp) >>> 0) < 90_000), 'timestamps advance, never jump back');
  sim.apply(sim.core.trackSettings('sub', 'pub', 'cam-stream', 0, 0, sim.now));
  sim.run(500);
  assert.equal(sim.sub('sub', 'cam').currentLayer, null, 'not visible: paused');
  assert.deepEqual(sim.of('publisher-layers').at(-1)!.rids, [], 'and nothing needed from the publisher');
});

test('REMB: congestion steps down to a layer that fits, room steps up one layer per tick', () => {
  const sim = room();
  sim.run(1000);
  assert.equal(sim.sub('sub', 'cam').currentLayer, 2);
  sim.feedback({ type: 'remb', subscriber: 'sub', bitrateBps: 100_000 });
  sim.run(600);
  assert.equal(sim.sub('sub', 'cam').currentLayer, 0, '100 kbps: below every layer, the lowest');
  const layersSeen: number[] = [];
  for (let i = 0; i < 12; i++) {
    sim.feedback({ type: 'remb', subscriber: 'sub', bitrateBps: 10_000_000 });
    sim.run(250);
    const l = sim.sub('sub', 'cam').currentLayer!;
    if (layersSeen.at(-1) !== l) layersSeen.push(l);
  }
  assert.deepEqual(layersSeen, [0, 1, 2], 'up through h to f, one layer at a time');
  sim.feedback({ type: 'remb', subscriber: 'sub', bitrateBps: 600_000 });
  sim.run(600);
  assert.equal(sim.sub('sub', 'cam').currentLayer, 1, '600 kbps: h fits, f does not');
  assert.ok(continuous(sim.got('sub', 'cam')));
  // Two videos share one estimate: 1.2 Mbps for both is 600 kbps each.
  sim.video('cam2', 'pub', true);
  sim.ready('sub', 'cam2');
  sim.feedback({ type: 'remb', subscriber: 'sub', bitrateBps: 1_200_000 });
  sim.run(1500);
  assert.deepEqual([sim.sub('sub', 'cam').currentLayer, sim.sub('sub', 'cam2').currentLayer], [1, 1]);
});

test('PLI and FIR from many subscribers reach the publisher at most once a second per layer', () => {
  const sim = room();
  sim.browser('sub2');
  sim.ready('sub2', 'cam');
  sim.run(2000);
  const mark = sim.actions.length;
  sim.core.takeMetrics();
  for (const s of ['sub', 'sub2']) sim.feedback({ type: 'pli', subscription: sim.sub(s, 'cam') });
  sim.feedback({ type: 'fir', subscription: sim.sub('sub', 'cam') });
  assert.equal(sim.of('request-keyframe', mark).length, 1, 'three requests, one PLI');
  sim.run(500);
  sim.feedback({ type: 'pli', subscription: sim.sub('sub2', 'cam') });
  assert.equal(sim.of('request-keyframe', mark).length, 1, 'still within the second');
  sim.run(600);
  sim.feedback({ type: 'fir', subscription: sim.sub('sub2', 'cam') });
  const plis = sim.of('request-keyframe', mark);
  assert.equal(plis.length, 2, 'a second later, one more');
  assert.ok(plis.every((p) => p.layer === 2 && p.ssrc === sim.pubs.get('cam')!.layers[2]!.ssrc));
  // Counted: the metrics actions of the ticks meanwhile, and what is left.
  const deltas = [...sim.of('metrics', mark).map((a) => a.delta), sim.core.takeMetrics()];
  assert.equal(deltas.reduce((n, d) => n + d.pliReceived, 0), 5, 'every request counted (3 + 1 + 1)');
  assert.equal(deltas.reduce((n, d) => n + d.pliSent, 0), 2);
  sim.feedback({ type: 'nack', subscription: sim.sub('sub', 'cam') });
  assert.equal(sim.core.takeMetrics().nackReceived, 1);
});

test('the publisher leaving ends its subscriptions, renegotiates its subscribers, and makes its packets stale', () => {
  const sim = room();
  sim.audio('mic', 'pub');
  sim.run(500);
  const mark = sim.actions.length;
  const ref = sim.pubs.get('cam')!.ref;
  const sub = sim.sub('sub', 'cam');
  sim.apply(sim.core.leave('pub', sim.now));
  assert.deepEqual(sim.of('unsubscribe', mark).map((a) => a.subscription.publication.id).sort(), ['cam', 'mic']);
  assert.deepEqual(sim.of('renegotiate', mark), [{ type: 'renegotiate', subscriber: 'sub' }], 'once, after both');
  assert.equal(ref.closed, true);
  assert.equal(sub.closed, true);
  const meta: RtpMeta = { ssrc: 1, sequenceNumber: 1, timestamp: 1, payload: new Uint8Array(4), size: 16 };
  const late = sim.core.rtp(ref, 0, meta, null, sim.now, { forward: () => assert.fail('nothing to forward to') });
  assert.deepEqual(late, [{ type: 'ignore', reason: 'unknown-publication', detail: 'cam' }]);
  assert.deepEqual(sim.core.stats(), { participants: 1, publications: 0, subscriptions: 0 });
  assert.deepEqual(sim.core.feedback({ type: 'pli', subscription: sub }, sim.now), [{ type: 'ignore', reason: 'not-subscribed' }]);
});

test('local RTP sinks: the bytes go out with the subscription\'s SSRC, continuous sequence numbers and no header extension', () => {
  const core = new SfuCore();
  core.join('cam', 'ingress', 0);
  core.join('rec', 'egress', 0);
  core.publish({ id: 'v', participant: 'cam', kind: 'video', streamId: 'v', layers: [{ rid: '' }], codec: VP8 }, 0);
  core.addSubscriber({ id: 'rec/1', participant: 'rec', ready: true }, 0);
  assert.equal(core.subscription('rec/1', 'v'), undefined, 'server-side subscribers get nothing by policy');
  const actions = core.subscribe('rec/1', 'v', 0);
  const sub = core.subscription('rec/1', 'v')!;
  assert.deepEqual(actions.map((a) => a.type), ['subscribe', 'renegotiate'], 'no PLI yet: no packet has told the layer\'s SSRC');
  const sent: Uint8Array[] = [];
  const sink = { forward: (s: SubscriptionRef, bytes: Uint8Array, seq: number, ts: number) => sent.push(rewriteRtp(bytes, s.outSsrc, seq, ts)) };
  const ref = core.publication('v')!;
  /** V=2, X=1 with a one-byte extension element (a publisher's mid), then a VP8 payload. */
  const packet = (seq: number, keyframe: boolean) => {
    const payload = [0x10, keyframe ? 0x00 : 0x01, 0, 0];
    const b = Uint8Array.from([0x90, 96, seq >> 8, seq & 0xff, 0, 0, 0x10, 0, 0, 0, 0, 42, 0xbe, 0xde, 0, 1, 0x10, 0x30, 0, 0, ...payload]);
    const h = readRtpHeader(b)!;
    const meta: RtpMeta = { ssrc: h.ssrc, sequenceNumber: h.sequenceNumber, timestamp: h.timestamp, payload: b.subarray(h.payloadOffset), size: 12 + h.payloadLength };
    return core.rtp(ref, 0, meta, b, seq * 33, sink);
  };
  packet(500, false);
  assert.equal(sent.length, 0, 'waits for a keyframe');
  packet(501, true);
  packet(502, false);
  packet(503, false);
  const headers = sent.map((b) => readRtpHeader(b)!);
  assert.deepEqual(headers.map((h) => h.ssrc), [sub.outSsrc, sub.outSsrc, sub.outSsrc]);
  assert.deepEqual(headers.map((h) => h.sequenceNumber), [501, 502, 503]);
  assert.ok(headers.every((h) => h.extension === undefined && h.payloadLength === 4));
});

test('subscriber estimates: a bitrate-adapting publication is told its subscribers\' lowest fresh REMB each tick, and null once when none is left', () => {
  const sim = new Sim({ rembStaleMs: 2000 });
  sim.apply(sim.core.join('mixer', 'mixer', sim.now));
  sim.video('grid', 'mixer', false, { rembSenderSsrc: undefined, adaptsBitrate: true });
  sim.video('cam', 'mixer', false, { rembSenderSsrc: undefined }); // does not adapt: never told
  sim.browser('ana');
  sim.browser('ben');
  sim.run(1000);
  assert.equal(sim.of('subscriber-estimate').length, 0, 'no REMB yet: nothing to report');
  let mark = sim.actions.length;
  sim.feedback({ type: 'remb', subscriber: 'ana', bitrateBps: 800_000 });
  sim.feedback({ type: 'remb', subscriber: 'ben', bitrateBps: 300_000 });
  sim.run(1000);
  let got = sim.of('subscriber-estimate', mark);
  assert.equal(got.length, 4, 'one per tick (250 ms)');
  assert.ok(got.every((a) => a.publication.id === 'grid' && a.bitrateBps === 300_000), JSON.stringify(got.map((a) => [a.publication.id, a.bitrateBps])));
  // What the grid sends: 30 frames/s of 2,095 bytes (sim.ts), ~503 kbps.
  assert.ok(got.every((a) => Math.abs(a.sendingBps - 502_800) < 30_000), JSON.stringify(got.map((a) => a.sendingBps)));
  // ben's REMBs stop: its estimate goes stale and ana's is the lowest left.
  for (let i = 0; i < 3; i++) {
    sim.feedback({ type: 'remb', subscriber: 'ana', bitrateBps: 800_000 });
    sim.run(1000);
  }
  mark = sim.actions.length;
  sim.run(250);
  assert.deepEqual(sim.of('subscriber-estimate', mark).map((a) => a.bitrateBps), [800_000]);
  // ana leaves; ben's estimate is stale: null, once.
  sim.apply(sim.core.leave('ana', sim.now));
  mark = sim.actions.length;
  sim.run(2000);
  assert.deepEqual(sim.of('subscriber-estimate', mark).map((a) => a.bitrateBps), [null]);
});
