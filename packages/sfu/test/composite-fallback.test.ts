/**
 * The composite fallback (issue #10 item 3): the sans-I/O decision (CompositeFallback: ramp-up
 * grace, hold, recovery by estimate, timed probes with backoff) with a manual clock, and the core
 * applying it in a simulated room (sim.ts): a weak subscriber gets the composite instead of the
 * separate videos once a mixer publishes one, and the videos back when it recovers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompositeFallback, COMPOSITE_FALLBACK_DEFAULTS, resolveFallbackOptions, type FallbackDecision } from '../src/core/composite-fallback.js';
import { COMPOSITE_STREAM_ID } from '../src/core/subscription-policy.js';
import { VP8 } from '../src/rtp/vp8.js';
import { Sim } from './sim.js';

const NEED = 400_000;
const opts = { rampUpMs: 5000, holdMs: 2000, probeIntervalMs: 20_000, maxProbeIntervalMs: 80_000, probeMs: 10_000 };

/** Feeds one sample every 250 ms from `from` to `to` (ms) and returns the decisions with their times. */
function run(f: CompositeFallback, from: number, to: number, estimateBps: number | undefined, needBps = NEED, videos = 2, nacks = 1): { at: number; d: FallbackDecision }[] {
  const out: { at: number; d: FallbackDecision }[] = [];
  for (let t = from; t < to; t += 250) {
    const d = f.sample('cat', { estimateBps, needBps, videos, nacks }, t);
    if (d) out.push({ at: t, d });
  }
  return out;
}

test('fallback: no decision while the estimate ramps up after the first REMB, then on after the hold', () => {
  const f = new CompositeFallback(opts);
  // The first estimate at t = 0 is far below the need: nothing within rampUpMs.
  assert.deepEqual(run(f, 0, 5000, 100_000), []);
  const on = run(f, 5000, 8000, 100_000);
  assert.equal(on.length, 1);
  assert.equal(on[0]!.at, 7000, 'below the need from 5000 ms (end of the grace) for holdMs');
  assert.deepEqual(on[0]!.d, { on: true, reason: 'estimate-below-need', estimateBps: 100_000, needBps: NEED });
  assert.equal(f.inComposite('cat'), true);
  assert.equal(f.size, 1);
});

test('fallback: a dip shorter than the hold, an unknown estimate and an estimate at the need change nothing', () => {
  const f = new CompositeFallback(opts);
  run(f, 0, 6000, 1_000_000);
  assert.deepEqual(run(f, 6000, 7750, 300_000), [], 'below the need for 1750 ms < holdMs');
  assert.deepEqual(run(f, 7750, 8000, 500_000), []);
  assert.deepEqual(run(f, 8000, 9750, 300_000), [], 'the hold starts over');
  assert.deepEqual(run(f, 9750, 20_000, undefined), [], 'stale or no REMB: no decision');
  assert.deepEqual(run(f, 20_000, 30_000, NEED), [], 'an estimate equal to the need carries it');
  assert.equal(f.inComposite('cat'), false);
});

test('fallback: an estimate below the need with no loss reported is the estimator reacting to delay, not a fallback', () => {
  const f = new CompositeFallback(opts);
  assert.deepEqual(run(f, 0, 30_000, 300_000, NEED, 2, 0), [], 'no NACK: no fallback');
  // A NACK now: the estimate has been below the need for long, so loss decides at once.
  const on = run(f, 30_000, 31_000, 300_000, NEED, 2, 1);
  assert.deepEqual(on.map((x) => [x.at, x.d.reason]), [[30_000, 'estimate-below-need']]);
  // Loss long before the estimate fell does not count.
  const g = new CompositeFallback(opts);
  run(g, 0, 3000, 1_000_000, NEED, 2, 1);
  run(g, 3000, 6000, 1_000_000, NEED, 2, 0);
  assert.deepEqual(run(g, 6000, 20_000, 300_000, NEED, 2, 0), [], 'the last NACK was more than holdMs before the estimate fell');
});

test('fallback: more videos restart the ramp-up grace (the estimate follows what arrives)', () => {
  const f = new CompositeFallback(opts);
  run(f, 0, 6000, 1_000_000, 300_000, 1);
  assert.deepEqual(run(f, 6000, 11_000, 500_000, 600_000, 2), [], 'a second video: no judgement for rampUpMs');
  const on = run(f, 11_000, 14_000, 500_000, 600_000, 2);
  assert.equal(on[0]?.at, 13_000);
});

test('recovery: the estimate at recoverRatio x the need for the hold brings the tracks back; a fallback within probeMs doubles the probe interval', () => {
  const f = new CompositeFallback(opts);
  run(f, 0, 7250, 100_000); // on at 7000
  assert.deepEqual(run(f, 7250, 12_000, NEED * 1.4), [], 'below recoverRatio (1.5) x the need');
  const off = run(f, 12_000, 15_000, NEED * 1.5);
  assert.deepEqual(off.map((x) => [x.at, x.d.on, x.d.reason]), [[14_000, false, 'estimate-recovered']]);
  // Back on the tracks: a new grace, then congestion within probeMs of the return: a failed probe.
  assert.deepEqual(run(f, 14_250, 19_000, 100_000), []);
  const again = run(f, 19_000, 22_000, 100_000);
  assert.deepEqual(again.map((x) => [x.at, x.d.reason]), [[21_000, 'probe-failed']]);
  // The next probe comes after 2 x probeIntervalMs.
  const probe = run(f, 21_250, 70_000, 100_000);
  assert.deepEqual(probe[0] && [probe[0].at, probe[0].d.on, probe[0].d.reason], [61_000, false, 'probe']);
});

test('probes: back to the tracks after probeIntervalMs, doubling up to the ceiling while they fail, reset by a probe that holds', () => {
  const f = new CompositeFallback(opts);
  const all = run(f, 0, 300_000, 100_000);
  const offs = all.filter((x) => !x.d.on).map((x) => x.at);
  const ons = all.filter((x) => x.d.on).map((x) => x.at);
  // on at 7000; probe at 27000 (20 s), failed at 34000 (grace 5 s + hold 2 s); next probe 40 s later, then 80 s (the ceiling), then 80 s.
  assert.deepEqual(ons.slice(0, 4), [7000, 34_000, 81_000, 168_000]);
  assert.deepEqual(offs.slice(0, 3), [27_000, 74_000, 161_000]);
  assert.ok(all.slice(1).filter((x) => x.d.on).every((x) => x.d.reason === 'probe-failed'));
  // A probe that holds (no congestion for probeMs) resets the interval: the next fallback probes after 20 s.
  const g = new CompositeFallback(opts);
  run(g, 0, 7250, 100_000);
  run(g, 7250, 27_250, 100_000); // probe at 27000
  assert.deepEqual(run(g, 27_250, 40_000, 1_000_000), [], 'the probe holds');
  const on = run(g, 40_000, 43_000, 100_000);
  assert.deepEqual(on.map((x) => [x.at, x.d.reason]), [[42_000, 'estimate-below-need']]);
  const next = run(g, 43_000, 70_000, 100_000);
  assert.equal(next[0]?.at, 62_000);
});

test('no video left, disabled, or the subscriber leaving: back to the tracks', () => {
  const f = new CompositeFallback(opts);
  run(f, 0, 7250, 100_000);
  assert.deepEqual(f.sample('cat', { estimateBps: 100_000, needBps: 0, videos: 0 }, 8000), { on: false, reason: 'no-video', estimateBps: 100_000, needBps: 0 });
  run(f, 8000, 20_000, 100_000);
  assert.equal(f.inComposite('cat'), true);
  assert.deepEqual(f.remove('cat'), { on: false, reason: 'left', estimateBps: undefined, needBps: 0 });
  assert.equal(f.remove('cat'), undefined);
  const off = new CompositeFallback({ ...opts, enabled: false });
  assert.deepEqual(run(off, 0, 60_000, 10_000), []);
});

test('options: defaults, and a bad value throws a RangeError naming the option', () => {
  assert.deepEqual(resolveFallbackOptions(), { ...COMPOSITE_FALLBACK_DEFAULTS });
  assert.throws(() => new CompositeFallback({ holdMs: -1 }), /holdMs/);
  assert.throws(() => new CompositeFallback({ rampUpMs: Number.NaN }), /rampUpMs/);
  assert.throws(() => new CompositeFallback({ recoverRatio: 0.9 }), /recoverRatio/);
  assert.throws(() => new CompositeFallback({ probeIntervalMs: 10_000, maxProbeIntervalMs: 5000 }), /maxProbeIntervalMs/);
});

/** A room: ana and ben publish simulcast video and audio, cat only receives; every subscription ready. */
function room(): Sim {
  const sim = new Sim({ compositeFallback: { rampUpMs: 3000, holdMs: 1000, probeIntervalMs: 60_000, maxProbeIntervalMs: 60_000 } });
  for (const id of ['ana', 'ben', 'cat']) sim.browser(id);
  sim.video('ana-v', 'ana');
  sim.audio('ana-a', 'ana');
  sim.video('ben-v', 'ben');
  sim.audio('ben-a', 'ben');
  for (const s of ['ana', 'ben', 'cat']) for (const p of ['ana-v', 'ben-v']) if (!p.startsWith(s)) sim.ready(s, p);
  return sim;
}

/** Every 250 ms for `ms`: a REMB from each subscriber as given. */
function remb(sim: Sim, ms: number, estimates: Record<string, number>, lossy: readonly string[] = Object.keys(estimates)): void {
  for (let t = 0; t < ms; t += 250) {
    for (const [subscriber, bitrateBps] of Object.entries(estimates)) sim.feedback({ type: 'remb', subscriber, bitrateBps });
    // A NACK from each lossy subscriber, on one of its video subscriptions.
    for (const subscriber of lossy) {
      const subscription = sim.core.publications().map((p) => (p.kind === 'video' ? sim.core.subscription(subscriber, p.id) : undefined)).find((x) => x !== undefined);
      if (subscription) sim.feedback({ type: 'nack', subscription });
    }
    sim.run(250);
  }
}

const videosOf = (sim: Sim, subscriber: string) =>
  sim.core
    .publications()
    .filter((p) => p.kind === 'video' && sim.core.subscription(subscriber, p.id))
    .map((p) => p.streamId)
    .sort();

test('core: a subscriber whose REMB cannot carry the lowest layers gets the composite instead of the videos, others are unaffected, and it gets the videos back when it recovers', () => {
  const sim = room();
  // cat's two videos need about 2 x 153 kbps (q layers) + 2 x 40 kbps of audio; 250 kbps cannot carry them.
  remb(sim, 6000, { ana: 3_000_000, ben: 3_000_000, cat: 250_000 });
  const on = sim.of('composite-fallback');
  assert.equal(on.length, 1);
  assert.equal(on[0]!.subscriber, 'cat');
  assert.equal(on[0]!.on, true);
  assert.equal(on[0]!.reason, 'estimate-below-need');
  assert.ok(on[0]!.needBps > 350_000 && on[0]!.needBps < 420_000, `need ${on[0]!.needBps}`);
  assert.equal(sim.core.compositeFallbacks, 1);
  assert.deepEqual(videosOf(sim, 'cat'), ['ana-v-stream', 'ben-v-stream'], 'no composite yet: cat keeps the videos');
  // The owner starts the composite: a mixer publishes it; cat switches, ana and ben do not get it.
  const mark = sim.actions.length;
  sim.apply(sim.core.join('dari-fallback-1', 'mixer', sim.now));
  sim.apply(sim.core.publish({ id: 'comp', participant: 'dari-fallback-1', kind: 'video', streamId: COMPOSITE_STREAM_ID, layers: [{ rid: '' }], codec: VP8 }, sim.now));
  assert.deepEqual(videosOf(sim, 'cat'), [COMPOSITE_STREAM_ID]);
  assert.deepEqual(videosOf(sim, 'ana'), ['ben-v-stream']);
  assert.deepEqual(videosOf(sim, 'ben'), ['ana-v-stream']);
  assert.ok(sim.core.subscription('cat', 'ana-a') && sim.core.subscription('cat', 'ben-a'), 'its audio stays the separate tracks');
  assert.deepEqual(sim.of('renegotiate', mark).map((a) => a.subscriber), ['cat']);
  // The network recovers: cat's estimate climbs with the composite past 1.5 x the need.
  remb(sim, 3000, { ana: 3_000_000, ben: 3_000_000, cat: 1_000_000 });
  const off = sim.of('composite-fallback', mark);
  assert.deepEqual(off.map((a) => [a.subscriber, a.on, a.reason]), [['cat', false, 'estimate-recovered']]);
  assert.deepEqual(videosOf(sim, 'cat'), ['ana-v-stream', 'ben-v-stream']);
  assert.equal(sim.core.compositeFallbacks, 0);
});

test('core: the composite going away gives a subscriber in the fallback its videos back; leaving reports it', () => {
  const sim = room();
  sim.apply(sim.core.join('mix', 'mixer', sim.now));
  sim.apply(sim.core.publish({ id: 'comp', participant: 'mix', kind: 'video', streamId: COMPOSITE_STREAM_ID, layers: [{ rid: '' }], codec: VP8 }, sim.now));
  assert.deepEqual(videosOf(sim, 'cat'), ['ana-v-stream', 'ben-v-stream'], 'nobody in the fallback: nobody gets the composite');
  remb(sim, 6000, { cat: 200_000 });
  assert.deepEqual(videosOf(sim, 'cat'), [COMPOSITE_STREAM_ID]);
  sim.apply(sim.core.unpublish('comp', sim.now));
  assert.deepEqual(videosOf(sim, 'cat'), ['ana-v-stream', 'ben-v-stream'], 'the worker failed for good: back to the videos');
  const mark = sim.actions.length;
  sim.apply(sim.core.leave('cat', sim.now));
  assert.deepEqual(sim.of('composite-fallback', mark).map((a) => [a.subscriber, a.on, a.reason]), [['cat', false, 'left']]);
  assert.equal(sim.core.compositeFallbacks, 0);
});

test('core: a low REMB without NACKs (no loss) is no fallback', () => {
  const sim = room();
  remb(sim, 10_000, { cat: 200_000 }, []);
  assert.equal(sim.of('composite-fallback').length, 0);
  remb(sim, 2000, { cat: 200_000 });
  assert.deepEqual(sim.of('composite-fallback').map((a) => [a.subscriber, a.on]), [['cat', true]], 'loss reported: it falls back');
});

test('core: videos rendered at 0x0 do not count in the need; turned off, nobody falls back', () => {
  const sim = room();
  sim.apply(sim.core.trackSettings('cat', 'ana', 'ana-v-stream', 0, 0, sim.now));
  sim.apply(sim.core.trackSettings('cat', 'ben', 'ben-v-stream', 0, 0, sim.now));
  remb(sim, 8000, { cat: 100_000 });
  assert.equal(sim.of('composite-fallback').length, 0, 'nothing visible to carry');
  const off = new Sim({ compositeFallback: { enabled: false } });
  for (const id of ['ana', 'cat']) off.browser(id);
  off.video('ana-v', 'ana');
  off.ready('cat', 'ana-v');
  remb(off, 10_000, { cat: 50_000 });
  assert.equal(off.of('composite-fallback').length, 0);
});
