/**
 * The MCU composite's encoder bitrate from its subscribers' REMB estimates (EncoderBitrate,
 * sans-I/O, manual clock): up to a higher estimate, down only after the estimate fell
 * (congestion), never for a low but steady one (a REMB capped by a still picture's throughput);
 * clamped to [50 kbps, mcu.maxBitrateBps], at most one change a second, no change for small moves
 * or unknown estimates.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EncoderBitrate, MIN_ENCODER_BITRATE_BPS } from '../src/mcu/encoder-bitrate.js';

test('a REMB capped by a still picture\'s throughput, or ramping under a moving one, leaves the encoder where it is', () => {
  const b = new EncoderBitrate({ maxBitrateBps: 1_500_000, startBps: 800_000 });
  // A still picture: ~5 kbps sent, REMB 1.5x + 10 kbps, wobbling down and up.
  for (let t = 0; t < 10_000; t += 250) assert.equal(b.update(t % 500 === 0 ? 18_000 : 16_000, 5_000, t), undefined);
  // A new subscriber's first REMB, lower still, under what a keyframe burst sends (seen in mcu.test).
  assert.equal(b.update(12_040, 12_634, 10_000), undefined);
  // It moves: 800 kbps sent, the REMB grows from there (no fall).
  for (let t = 10_250, remb = 18_000; t < 20_000; t += 250, remb *= 1.02) assert.equal(b.update(remb, 800_000, t), undefined);
  assert.equal(b.bitrateBps, 800_000);
});

test('the encoder goes up to a higher estimate and down after a fall, clamped and rate limited', () => {
  const b = new EncoderBitrate({ maxBitrateBps: 1_500_000, startBps: 800_000 });
  assert.equal(b.update(null, 800_000, 0), undefined, 'no estimate: the bitrate stays');
  assert.equal(b.update(1_000_000, 800_000, 0), 1_000_000, 'a higher estimate: up');
  assert.equal(b.update(1_020_000, 1_000_000, 1500), undefined, 'a move under 5 %: no change');
  assert.equal(b.update(850_000, 1_000_000, 1750), 850_000, 'the estimate fell under what is sent (congestion): down to it');
  assert.equal(b.update(600_000, 850_000, 2000), undefined, 'fell again, but within a second of the last change');
  assert.equal(b.update(600_000, 850_000, 2750), 600_000, 'a second later: applied (the fall is remembered)');
  assert.equal(b.update(20_000, 600_000, 3750), MIN_ENCODER_BITRATE_BPS, 'never under 50 kbps');
  assert.equal(b.update(9_000_000, 50_000, 5000), 1_500_000, 'never over mcu.maxBitrateBps');
  assert.equal(b.update(Number.NaN, 1_500_000, 7000), undefined);
  assert.equal(b.bitrateBps, 1_500_000);
});

test('a small fall is forgotten: a still picture\'s low REMB much later does not pull the encoder down', () => {
  const b = new EncoderBitrate({ maxBitrateBps: 1_500_000, startBps: 800_000 });
  // Sending 790 kbps at 800 kbps; REMB 830k then 780k: a fall under what is sent (congestion),
  // but to within 5 % of the bitrate: nothing to change, and nothing left to remember.
  assert.equal(b.update(830_000, 790_000, 0), undefined, 'a move under 5 %');
  assert.equal(b.update(780_000, 790_000, 250), undefined, 'fell, but to within 5 % of the bitrate');
  // Later the picture stands still: ~10 kbps sent, the REMB steady at ~25 kbps.
  for (let t = 1000; t < 10_000; t += 250) assert.equal(b.update(25_000, 10_000, t), undefined, `t=${t}`);
  assert.equal(b.bitrateBps, 800_000);
  // A fall that waits for the rate limit is still followed, within 2 s of it.
  const c = new EncoderBitrate({ maxBitrateBps: 1_500_000, startBps: 800_000 });
  assert.equal(c.update(1_000_000, 800_000, 0), 1_000_000);
  assert.equal(c.update(700_000, 990_000, 500), undefined, 'fell: within a second of the last change');
  assert.equal(c.update(700_000, 990_000, 1000), 700_000, 'followed once the rate limit allows');
  assert.equal(c.update(900_000, 700_000, 2000), 900_000);
  assert.equal(c.update(600_000, 890_000, 2500), undefined, 'fell at 2.5 s');
  assert.equal(c.update(600_000, 600_000, 5000), undefined, 'more than 2 s later: forgotten');
});
