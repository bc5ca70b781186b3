/**
 * Active speaker detection: the RFC 6464 audio level read from hand-built RTP packets
 * (RFC 3550 §5.3.1 header extension, RFC 8285 §4.2 one-byte and §4.3 two-byte forms), and the
 * sans-I/O detector driven by a fake clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ACTIVE_SPEAKER_DEFAULTS, ActiveSpeakerDetector } from '../src/core/active-speaker.js';
import { AUDIO_LEVEL_URI, decodeAudioLevel, readAudioLevel } from '../src/rtp/audio-level.js';
import { findRtpHeaderExtension, readRtpHeader } from '../src/rtp/rtp-header.js';

const ONE_BYTE = 0xbede;
const TWO_BYTE = 0x1000;

interface PacketSpec {
  /** The header extension: its profile and raw data (padded with zeros to 32 bits). */
  ext?: { profile: number; data: number[]; lengthWords?: number };
  csrcs?: number;
  payload?: number[];
  /** RTP padding bytes (RFC 3550 §5.1, P bit), the last one holding the count. */
  padding?: number;
}

/** An opus RTP packet, byte by byte (RFC 3550 §5.1). */
function rtp(spec: PacketSpec = {}): Uint8Array {
  const cc = spec.csrcs ?? 0;
  const bytes: number[] = [0x80 | (spec.padding ? 0x20 : 0) | (spec.ext ? 0x10 : 0) | cc, 111, 0x12, 0x34, 0, 0, 0x03, 0xc0, 0xca, 0xfe, 0xba, 0xbe];
  for (let i = 0; i < cc; i++) bytes.push(0, 0, 0, i + 1);
  if (spec.ext) {
    const data = [...spec.ext.data];
    while (data.length % 4 !== 0) data.push(0);
    const words = spec.ext.lengthWords ?? data.length / 4;
    bytes.push(spec.ext.profile >> 8, spec.ext.profile & 0xff, words >> 8, words & 0xff, ...data);
  }
  bytes.push(...(spec.payload ?? [0xfc, 0xff, 0xfe]));
  if (spec.padding) {
    for (let i = 1; i < spec.padding; i++) bytes.push(0);
    bytes.push(spec.padding);
  }
  return Uint8Array.from(bytes);
}

/** One-byte form element (RFC 8285 §4.2): ID (4 bits), L = length - 1 (4 bits), data. */
const one = (id: number, ...data: number[]) => [(id << 4) | (data.length - 1), ...data];
/** Two-byte form element (RFC 8285 §4.3): ID, length, data. */
const two = (id: number, ...data: number[]) => [id, data.length, ...data];
/** RFC 6464 §3 data byte. */
const lvl = (level: number, voice: boolean) => (voice ? 0x80 : 0) | level;

// ---------------------------------------------------------------- parsing

test('one-byte form: the element with the negotiated id, after other elements and padding', () => {
  const p = rtp({ ext: { profile: ONE_BYTE, data: [...one(3, 0xaa, 0xbb, 0xcc), 0, 0, ...one(1, lvl(33, true)), ...one(5, lvl(90, false))] } });
  // Byte layout as on the wire: 0xBEDE, length 3 words, then the elements.
  assert.deepEqual([...p.subarray(12, 16)], [0xbe, 0xde, 0x00, 0x03]);
  assert.deepEqual([...p.subarray(16, 20)], [0x32, 0xaa, 0xbb, 0xcc]);
  assert.deepEqual(readAudioLevel(p, 1), { level: 33, voice: true });
  assert.deepEqual(readAudioLevel(p, 5), { level: 90, voice: false });
  assert.equal(readAudioLevel(p, 2), undefined, 'no element 2');
  assert.deepEqual([...findRtpHeaderExtension(p, 3)!], [0xaa, 0xbb, 0xcc]);
  const h = readRtpHeader(p)!;
  assert.deepEqual(h.extension, { profile: ONE_BYTE, offset: 16, length: 12 });
  assert.equal(h.payloadOffset, 28);
});

test('two-byte form: ids above 14, zero-length elements, appbits in the profile', () => {
  for (const profile of [TWO_BYTE, TWO_BYTE | 0x0f]) {
    const p = rtp({ ext: { profile, data: [...two(7), 0, ...two(200, 1, 2, 3), ...two(1, lvl(127, false)), ...two(16, lvl(0, true))] } });
    assert.deepEqual([...p.subarray(12, 14)], [profile >> 8, profile & 0xff]);
    assert.deepEqual(readAudioLevel(p, 1), { level: 127, voice: false });
    assert.deepEqual(readAudioLevel(p, 16), { level: 0, voice: true });
    assert.deepEqual([...findRtpHeaderExtension(p, 200)!], [1, 2, 3]);
    assert.deepEqual([...findRtpHeaderExtension(p, 7)!], [], 'a zero-length element is found');
    assert.equal(readAudioLevel(p, 7), undefined, 'but carries no level');
  }
});

test('CSRCs, RTP padding and a Buffer view at an offset do not move the extension', () => {
  const p = rtp({ csrcs: 2, padding: 4, ext: { profile: ONE_BYTE, data: one(1, lvl(45, true)) } });
  assert.deepEqual(readAudioLevel(p, 1), { level: 45, voice: true });
  const big = Buffer.alloc(p.length + 9);
  big.set(p, 9);
  assert.deepEqual(readAudioLevel(big.subarray(9), 1), { level: 45, voice: true });
});

test('malformed packets give undefined, never an exception', () => {
  const good = rtp({ ext: { profile: ONE_BYTE, data: [...one(2, 9, 9), ...one(1, lvl(20, true))] } });
  assert.deepEqual(readAudioLevel(good, 1), { level: 20, voice: true });
  // Truncated anywhere before the end of the extension.
  for (let n = 0; n < 12 + 4 + 8; n++) assert.equal(readAudioLevel(good.subarray(0, n), 1), undefined, `truncated to ${n} bytes`);

  const cases: [string, Uint8Array, number][] = [
    ['no X bit', rtp({ payload: [0x10, lvl(20, true)] }), 1],
    ['RTP version 1', Uint8Array.from(good, (b, i) => (i === 0 ? (b & 0x3f) | 0x40 : b)), 1],
    ['extension length lies (10 words, 1 present)', rtp({ ext: { profile: ONE_BYTE, data: one(1, lvl(20, true)), lengthWords: 10 }, payload: [] }), 1],
    ['one-byte element runs past the extension', rtp({ ext: { profile: ONE_BYTE, data: [0x1f, 1, 2, 3] } }), 1],
    ['one-byte element after one that runs past', rtp({ ext: { profile: ONE_BYTE, data: [0x2f, 1, 2, 3, ...one(1, lvl(20, true))] } }), 1],
    ['id 15 ends the walk (RFC 8285 §4.2)', rtp({ ext: { profile: ONE_BYTE, data: [0xf3, ...one(1, lvl(20, true))] } }), 1],
    ['id 15 ends the walk, its length field ignored', rtp({ ext: { profile: ONE_BYTE, data: [0xf0, 0x00, ...one(1, lvl(20, true))] } }), 1],
    ['two-byte element runs past the extension', rtp({ ext: { profile: TWO_BYTE, data: [1, 9, lvl(20, true), 0] } }), 1],
    ['two-byte id without its length byte', rtp({ ext: { profile: TWO_BYTE, data: [0, 0, 0, 1] } }), 1],
    ['unknown profile', rtp({ ext: { profile: 0x1234, data: one(1, lvl(20, true)) } }), 1],
    ['RTP padding count larger than the packet', Uint8Array.from([...good.subarray(0, good.length - 1), 0xff].map((b, i) => (i === 0 ? b | 0x20 : b))), 1],
    ['id 0', good, 0],
    ['id 15 in the one-byte form', good, 15],
    ['id 256', good, 256],
    ['id 1.5', good, 1.5],
    ['id NaN', good, Number.NaN],
    ['empty packet', new Uint8Array(0), 1],
  ];
  for (const [name, packet, id] of cases) assert.equal(readAudioLevel(packet, id), undefined, name);
});

test('one-byte padding: zero bytes, and id 0 with a non-zero length field, are single bytes', () => {
  const p = rtp({ ext: { profile: ONE_BYTE, data: [0, 0x03, 0, ...one(1, lvl(64, false))] } });
  assert.deepEqual(readAudioLevel(p, 1), { level: 64, voice: false });
  // In the two-byte form a 0 byte is padding as well.
  const q = rtp({ ext: { profile: TWO_BYTE, data: [0, 0, 0, ...two(4, lvl(10, true))] } });
  assert.deepEqual(readAudioLevel(q, 4), { level: 10, voice: true });
});

test('decodeAudioLevel reads the V bit and the 7-bit level (RFC 6464 §3)', () => {
  assert.deepEqual(decodeAudioLevel(Uint8Array.of(0xff)), { level: 127, voice: true });
  assert.deepEqual(decodeAudioLevel(Uint8Array.of(0x7f)), { level: 127, voice: false });
  assert.deepEqual(decodeAudioLevel(Uint8Array.of(0x80)), { level: 0, voice: true });
  assert.equal(decodeAudioLevel(new Uint8Array(0)), undefined);
  assert.equal(AUDIO_LEVEL_URI, 'urn:ietf:params:rtp-hdrext:ssrc-audio-level');
});

test('fuzz: encoded elements are all found again; random bytes never throw', () => {
  const element = (maxId: number, maxLen: number) =>
    fc.record({ id: fc.integer({ min: 1, max: maxId }), data: fc.uint8Array({ minLength: 1, maxLength: maxLen }), pad: fc.integer({ min: 0, max: 3 }) });
  const property = fc.property(fc.boolean(), fc.array(element(255, 40), { maxLength: 8 }), (oneByte, raw) => {
    const seen = new Set<number>();
    const elements = raw
      .map((e) => ({ ...e, id: oneByte ? 1 + (e.id % 14) : e.id, data: oneByte ? e.data.subarray(0, 16) : e.data }))
      .filter((e) => !seen.has(e.id) && seen.add(e.id));
    const data: number[] = [];
    for (const e of elements) {
      data.push(...new Array<number>(e.pad).fill(0));
      data.push(...(oneByte ? one(e.id, ...e.data) : two(e.id, ...e.data)));
    }
    const p = rtp({ ext: { profile: oneByte ? ONE_BYTE : TWO_BYTE, data } });
    for (const e of elements) assert.deepEqual(findRtpHeaderExtension(p, e.id), e.data);
    for (let id = 1; id <= 255; id++) if (!seen.has(id)) assert.equal(findRtpHeaderExtension(p, id), undefined);
  });
  fc.assert(property, { numRuns: 300, seed: 0x6464 });
  const noThrow = fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 0, max: 256 }), (bytes, id) => {
    if (bytes.length > 0) bytes[0] = (bytes[0]! & 0x3f) | 0x90; // version 2 with X, so the walk runs
    const r = readAudioLevel(bytes, id);
    assert.ok(r === undefined || (r.level >= 0 && r.level <= 127));
  });
  fc.assert(noThrow, { numRuns: 2000, seed: 0x8285 });
});

// ---------------------------------------------------------------- the detector

/** Pushes one packet every `stepMs` in [from, to). */
function talk(d: ActiveSpeakerDetector, identity: string, level: number, from: number, to: number, stepMs = 20, voice = true): void {
  for (let t = from; t < to; t += stepMs) d.push(identity, level, voice, t);
}

const ids = (list: readonly { identity: string }[] | undefined) => list?.map((s) => s.identity);

/** A participant's RFC 6464 level at time t (ms), or undefined: no packet then. */
type Source = (t: number) => number | undefined;

/**
 * Real time, simulated: a packet from every source each 20 ms, a tick each 250 ms (after that
 * instant's packets), from `from` to `to` inclusive.
 * @returns the ticks that reported a change, as [time, identities]
 */
function run(d: ActiveSpeakerDetector, sources: Record<string, Source>, from: number, to: number, voice = true): [number, string[]][] {
  const changes: [number, string[]][] = [];
  for (let t = from; t <= to; t += 10) {
    if (t % 20 === 0) {
      for (const [identity, source] of Object.entries(sources)) {
        const level = source(t);
        if (level !== undefined) d.push(identity, level, voice, t);
      }
    }
    if (t % 250 === 0) {
      const list = d.tick(t);
      if (list) changes.push([t, ids(list)!]);
    }
  }
  return changes;
}

test('a speaker becomes active at the first tick with 100 ms of speech, reported once, with a linear level', () => {
  const d = new ActiveSpeakerDetector();
  assert.deepEqual(run(d, { ana: () => 30 }, 0, 1000), [[250, ['ana']]], 'not at t=0 with one packet');
  assert.deepEqual(d.speakers, [{ identity: 'ana', level: 0.0316 }], '-30 dBov is 10^(-30/20) ≈ 0.0316');
  assert.equal(d.tick(1000), undefined, 'no change');
});

test('quiet rooms, lone clicks and voice-flag gating stay inactive', () => {
  const d = new ActiveSpeakerDetector();
  const click: Source = (t) => (t === 1000 || t === 1020 ? 10 : 127);
  assert.deepEqual(run(d, { fan: () => 60, bob: click }, 0, 3000), [], 'noise below -50 dBov, two loud packets');
  // Only clicks, no other packets: the fraction is 100 %, but the span is 20 ms.
  assert.deepEqual(run(new ActiveSpeakerDetector(), { bob: (t) => (t === 1000 || t === 1020 ? 10 : undefined) }, 0, 2000), []);

  const gated = new ActiveSpeakerDetector({ requireVoiceFlag: true });
  assert.deepEqual(run(gated, { ana: () => 20 }, 0, 490, false), [], 'loud but V=0');
  assert.deepEqual(run(gated, { ana: () => 20 }, 500, 1000, true), [[750, ['ana']]]);
  assert.deepEqual(run(new ActiveSpeakerDetector(), { ana: () => 20 }, 0, 500, false), [[250, ['ana']]], 'the V bit is ignored by default');
});

test('the threshold is inclusive at -50 dBov and the speech fraction must reach one half', () => {
  assert.deepEqual(run(new ActiveSpeakerDetector(), { ana: () => 50 }, 0, 500), [[250, ['ana']]]);
  assert.deepEqual(run(new ActiveSpeakerDetector(), { ana: () => 51 }, 0, 500), []);
  // 40 % of the packets are speech: not enough; 60 %: enough.
  const d = new ActiveSpeakerDetector();
  const few: Source = (t) => ((t / 20) % 5 < 2 ? 20 : 127);
  const many: Source = (t) => ((t / 20) % 5 < 3 ? 20 : 127);
  assert.deepEqual(run(d, { few, many }, 0, 2000), [[250, ['many']]]);
});

test('newcomers into an empty list are ordered by level at once', () => {
  const d = new ActiveSpeakerDetector();
  talk(d, 'quiet', 45, 0, 400);
  talk(d, 'loud', 15, 0, 400);
  talk(d, 'mid', 30, 0, 400);
  const list = d.tick(400)!;
  assert.deepEqual(ids(list), ['loud', 'mid', 'quiet']);
  assert.deepEqual(list.map((s) => s.level), [0.1778, 0.0316, 0.0056]);
});

test('hysteresis: a louder challenger takes over only after 500 ms of being louder', () => {
  const d = new ActiveSpeakerDetector();
  const changes = run(d, { ana: () => 35, bob: (t) => (t >= 1000 ? 15 : undefined) }, 0, 3000);
  assert.deepEqual(changes, [
    [250, ['ana']],
    [1250, ['ana', 'bob']], // bob joins behind the dominant speaker, louder from now on
    [1750, ['bob', 'ana']], // 500 ms later: bob is dominant
  ]);
});

test('hysteresis: 400 ms bursts of a louder challenger do not flap the dominant speaker', () => {
  const d = new ActiveSpeakerDetector();
  const bursts: Source = (t) => (t >= 1000 && t % 1000 < 400 ? 10 : 40);
  assert.deepEqual(run(d, { ana: () => 30, bob: bursts }, 0, 10000), [[250, ['ana', 'bob']]]);
  // The same bursts, 600 ms long, win.
  const longer: Source = (t) => (t >= 1000 && t % 1000 < 600 ? 10 : 40);
  assert.deepEqual(run(new ActiveSpeakerDetector(), { ana: () => 30, bob: longer }, 0, 2000), [
    [250, ['ana', 'bob']],
    [1750, ['bob', 'ana']],
  ]);
});

test('with no hysteresis the louder speaker leads at the next tick (the delay is what holds it)', () => {
  const d = new ActiveSpeakerDetector({ switchDelayMs: 0 });
  assert.deepEqual(run(d, { ana: () => 35, bob: (t) => (t >= 500 ? 15 : undefined) }, 0, 1500), [
    [250, ['ana']],
    [750, ['bob', 'ana']],
  ]);
});

test('a speaker silent for more than a second drops out; the next one takes over at once', () => {
  const sources = { ana: (t: number) => (t <= 1000 ? 20 : 127), bob: () => 40 };
  // With the default delay, bob overtakes ana 500 ms after she went quiet, then she drops out.
  assert.deepEqual(run(new ActiveSpeakerDetector(), sources, 0, 3000), [
    [250, ['ana', 'bob']],
    [1750, ['bob', 'ana']],
    [2250, ['bob']],
  ]);
  // With a long delay ana stays dominant until she drops out (last speech at 1000: still in at
  // 2000, exactly 1000 ms later; out at 2250), and bob takes over without waiting.
  const d = new ActiveSpeakerDetector({ switchDelayMs: 5000 });
  assert.deepEqual(run(d, sources, 0, 3000), [
    [250, ['ana', 'bob']],
    [2250, ['bob']],
  ]);
  assert.deepEqual(d.speakers, [{ identity: 'bob', level: 0.01 }]);
});

test('a sender that stops sending (DTX, a muted or gone track) drops out too', () => {
  const d = new ActiveSpeakerDetector();
  talk(d, 'ana', 20, 0, 600); // last packet at 580
  assert.deepEqual(ids(d.tick(600)), ['ana']);
  assert.equal(d.tick(1500), undefined);
  assert.deepEqual(d.tick(1600), [], '1020 ms after the last speech packet');
  assert.equal(d.tick(1800), undefined);
  talk(d, 'ana', 20, 3000, 3400);
  assert.deepEqual(ids(d.tick(3400)), ['ana'], 'and comes back when speaking again');
});

test('remove() takes a participant out at the next tick', () => {
  const d = new ActiveSpeakerDetector();
  talk(d, 'ana', 20, 0, 400);
  talk(d, 'bob', 30, 0, 400);
  assert.deepEqual(ids(d.tick(400)), ['ana', 'bob']);
  d.remove('ana');
  d.remove('nobody');
  assert.deepEqual(ids(d.tick(450)), ['bob']);
  assert.equal(d.tick(500), undefined);
});

test('levels are the mean in dB over the window, and bad input is ignored', () => {
  const d = new ActiveSpeakerDetector();
  // Alternating -20 and -40 dBov: the mean is -30 dBov (a power mean would give -23 dBov).
  for (let i = 1; i <= 20; i++) d.push('ana', i % 2 ? 40 : 20, true, i * 20);
  d.push('ana', Number.NaN, true, 400);
  d.push('ana', 20, true, Number.NaN);
  assert.deepEqual(d.tick(400), [{ identity: 'ana', level: 0.0316 }]);
  // A clock that goes back and levels out of range are tolerated (clamped).
  d.push('ana', 500, true, 100);
  d.push('ana', -5, true, 100);
  assert.equal(d.tick(420), undefined);
});

test('options: defaults documented, bad values refused', () => {
  assert.deepEqual(
    { ...ACTIVE_SPEAKER_DEFAULTS },
    { windowMs: 400, thresholdDbov: -50, minSpeechFraction: 0.5, minSpeechMs: 100, silenceMs: 1000, switchDelayMs: 500, requireVoiceFlag: false },
  );
  assert.throws(() => new ActiveSpeakerDetector({ windowMs: 0 }), RangeError);
  assert.throws(() => new ActiveSpeakerDetector({ thresholdDbov: 10 }), /thresholdDbov/);
  assert.throws(() => new ActiveSpeakerDetector({ minSpeechFraction: 0 }), RangeError);
  assert.throws(() => new ActiveSpeakerDetector({ switchDelayMs: Number.NaN }), RangeError);
});
