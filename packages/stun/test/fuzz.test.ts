/**
 * Property tests (fast-check) of the codec: decoding arbitrary and mutated bytes never throws and
 * returns a value or a typed StunDecodeError; whatever decodes re-encodes and decodes to the same
 * message. 100,000+ cases in all. Seeds of past failures are replayed from fuzz-regressions.json.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  MessageBuilder, StunDecodeError, decodeMessage, encodeMessage, decodeChannelData, encodeChannelData, frameLength,
  readAddress, readXorAddress, readErrorCode, readString, readPasswordAlgorithms, readUnknownAttributes, readAddressErrorCode,
  readIcmp, readChangeRequest, readEvenPort, type StunClass,
} from '../src/index.js';

const REGRESSIONS = JSON.parse(readFileSync(fileURLToPath(new URL('../../test/fuzz-regressions.json', import.meta.url)), 'utf8')) as {
  inputs: string[];
  seeds: { property: string; seed: number; path?: string }[];
};

const cls = fc.constantFrom<StunClass>('request', 'indication', 'success', 'error');
const attribute = fc.record({ type: fc.integer({ min: 0, max: 0xffff }), value: fc.uint8Array({ maxLength: 48 }) });
const message = fc.record({
  cls,
  method: fc.integer({ min: 0, max: 0xfff }),
  transactionId: fc.uint8Array({ minLength: 12, maxLength: 12 }),
  attributes: fc.array(attribute, { maxLength: 8 }),
});

function build(m: { cls: StunClass; method: number; transactionId: Uint8Array; attributes: { type: number; value: Uint8Array }[] }): Uint8Array {
  const b = new MessageBuilder(m.cls, m.method, m.transactionId);
  for (const a of m.attributes) b.add(a.type, a.value);
  return b.build();
}

/** Decoding must give a value or a typed error; a value must round-trip. */
function roundTrips(bytes: Uint8Array): boolean {
  const r = decodeMessage(bytes);
  if (!r.ok) return r.error instanceof StunDecodeError && typeof r.error.code === 'string';
  const again = decodeMessage(encodeMessage(r.value));
  if (!again.ok) return false;
  assert.equal(again.value.cls, r.value.cls);
  assert.equal(again.value.method, r.value.method);
  assert.deepEqual([...again.value.transactionId], [...r.value.transactionId]);
  assert.deepEqual(again.value.attributes.map((a) => [a.type, [...a.value]]), r.value.attributes.map((a) => [a.type, [...a.value]]));
  return true;
}

/** Byte-level mutations of a valid message: flips, truncation, extension, length lies. */
const mutated = fc.tuple(message, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.integer({ min: -8, max: 8 }), fc.boolean()).map(([m, flips, cut, lieLength]) => {
  let bytes = build(m);
  for (const [at, v] of flips) if (bytes.length > 0) bytes[at % bytes.length] = v;
  if (cut < 0) bytes = bytes.subarray(0, Math.max(0, bytes.length + cut));
  else if (cut > 0) bytes = new Uint8Array([...bytes, ...new Uint8Array(cut)]);
  if (lieLength && bytes.length >= 4) new DataView(bytes.buffer, bytes.byteOffset).setUint16(2, (bytes[2]! << 8 | bytes[3]!) ^ 4);
  return bytes;
});

const PROPERTIES: Record<string, fc.IProperty<never> | fc.IProperty<any>> = {
  'valid messages round-trip exactly': fc.property(message, (m) => {
    const r = decodeMessage(build(m));
    assert.ok(r.ok);
    assert.deepEqual(r.value.attributes.map((a) => [a.type, [...a.value]]), m.attributes.map((a) => [a.type, [...a.value]]));
    return roundTrips(build(m));
  }),
  'mutated messages decode to a value or a typed error': fc.property(mutated, roundTrips),
  'arbitrary bytes decode to a value or a typed error': fc.property(fc.uint8Array({ maxLength: 120 }), roundTrips),
  'ChannelData decodes safely and round-trips': fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 0x4000, max: 0x7fff }), fc.boolean(), (junk, channel, pad) => {
    const r = decodeChannelData(junk);
    if (r.ok) assert.ok(r.value.data.length <= junk.length - 4);
    const enc = encodeChannelData(channel, junk, pad);
    const back = decodeChannelData(enc);
    assert.ok(back.ok);
    assert.equal(back.value.channel, channel);
    assert.deepEqual([...back.value.data], [...junk]);
    // Stream framing assumes the TCP padding (RFC 8656 §12.5).
    const padded = encodeChannelData(channel, junk, true);
    return frameLength(padded) === padded.length && padded.length % 4 === 0;
  }),
  'typed attribute readers never throw': fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 12, maxLength: 12 }), (v, tid) => {
    for (const r of [readAddress(v), readXorAddress(v, tid), readErrorCode(v), readString(v), readPasswordAlgorithms(v), readUnknownAttributes(v), readAddressErrorCode(v), readIcmp(v), readChangeRequest(v), readEvenPort(v)]) {
      if (!r.ok) assert.ok(r.error instanceof StunDecodeError);
    }
    return true;
  }),
};

const RUNS: Record<string, number> = {
  'valid messages round-trip exactly': 20_000,
  'mutated messages decode to a value or a typed error': 40_000,
  'arbitrary bytes decode to a value or a typed error': 20_000,
  'ChannelData decodes safely and round-trips': 10_000,
  'typed attribute readers never throw': 15_000,
};

test('fuzz: 105,000 cases over the STUN and ChannelData codecs', () => {
  let total = 0;
  for (const [name, property] of Object.entries(PROPERTIES)) {
    fc.assert(property, { numRuns: RUNS[name]!, seed: 0x5eed + total });
    total += RUNS[name]!;
  }
  assert.ok(total >= 100_000);
});

test('fuzz regressions: kept inputs and seeds still pass', () => {
  for (const input of REGRESSIONS.inputs) assert.ok(roundTrips(new Uint8Array(Buffer.from(input, 'hex'))), input);
  for (const { property, seed, path } of REGRESSIONS.seeds) {
    const p = PROPERTIES[property];
    assert.ok(p, `unknown property ${property}`);
    fc.assert(p, path === undefined ? { seed, numRuns: 100 } : { seed, path, numRuns: 100 });
  }
});
