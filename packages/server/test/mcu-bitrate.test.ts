/**
 * The MCU composite's encoder bitrate from its subscribers' REMB estimates (EncoderBitrate,
 * sans-I/O, manual clock): clamped to [50 kbps, mcu.maxBitrateBps], at most one change a second,
 * no change for small moves or unknown estimates.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EncoderBitrate, MIN_ENCODER_BITRATE_BPS } from '../src/mcu/encoder-bitrate.js';

test('the encoder follows the lowest estimate, clamped, rate limited, ignoring small moves and unknown estimates', () => {
  const b = new EncoderBitrate({ maxBitrateBps: 1_500_000, startBps: 800_000 });
  assert.equal(b.update(null, 0), undefined, 'no estimate: the bitrate stays');
  assert.equal(b.update(300_000, 0), 300_000, 'a lower estimate: down at once');
  assert.equal(b.update(200_000, 500), undefined, 'within a second of the last change: not yet');
  assert.equal(b.update(200_000, 1000), 200_000, 'a second later: applied');
  assert.equal(b.update(205_000, 3000), undefined, 'a move under 5 %: no change');
  assert.equal(b.update(10_000, 4000), MIN_ENCODER_BITRATE_BPS, 'never under 50 kbps');
  assert.equal(b.update(9_000_000, 5000), 1_500_000, 'never over mcu.maxBitrateBps');
  assert.equal(b.update(Number.NaN, 7000), undefined);
  assert.equal(b.bitrateBps, 1_500_000);
});
