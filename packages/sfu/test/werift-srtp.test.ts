/**
 * patchWeriftSrtp(): the patched SRTP protect/unprotect must give byte-identical results to
 * werift's own code (outputs, header side effects, errors) for any packet, well-formed or not.
 * Each case runs the same packet sequence through fresh session pairs with the same keys, once
 * with werift's methods (unpatchWeriftSrtp) and once patched, and compares everything. Both runs
 * have the header-parse guard (guardWeriftRtpHeaderParse), tested on its own first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import {
  RtpHeader,
  RtpPacket,
  SrtpAuthenticationError,
  SrtpSession,
  ProtectionProfileAes128CmHmacSha1_80 as CM,
  ProtectionProfileAeadAes128Gcm as GCM,
} from 'werift';
import { guardWeriftRtpHeaderParse, patchWeriftSrtp, unpatchWeriftSrtp } from '../src/werift/patches/index.js';

/** werift's own parser, taken before anything is patched (each test file runs in its own process). */
const weriftDeSerialize = RtpHeader.deSerialize.bind(RtpHeader);

type Ext = { id: number; payload: Buffer };
interface HeaderSpec {
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  payloadType: number;
  marker: boolean;
  csrc: number[];
  extension: boolean;
  extensionProfile: number;
  extensions: Ext[];
  padding: number; // 0: none, else RTP padding octets (RFC 3550 §5.1), last one counts them
  payloadLength: number;
}

type Outcome = { ok: Buffer; header?: Record<string, unknown> } | { error: string };

const profiles = [
  { name: 'AES_CM_128_HMAC_SHA1_80', profile: CM, salt: 14 },
  { name: 'AEAD_AES_128_GCM', profile: GCM, salt: 12 },
] as const;

function pair(profile: number, keys: Buffer[]) {
  const [k1, s1, k2, s2] = keys as [Buffer, Buffer, Buffer, Buffer];
  return {
    tx: new SrtpSession({ keys: { localMasterKey: k1, localMasterSalt: s1, remoteMasterKey: k2, remoteMasterSalt: s2 }, profile }),
    rx: new SrtpSession({ keys: { localMasterKey: k2, localMasterSalt: s2, remoteMasterKey: k1, remoteMasterSalt: s1 }, profile }),
  };
}

function toHeader(s: HeaderSpec): { header: RtpHeader; payload: Buffer } {
  const payload = Buffer.alloc(s.payloadLength + s.padding, 0x5a);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + s.sequenceNumber) & 255;
  if (s.padding) payload[payload.length - 1] = s.padding;
  const header = new RtpHeader({
    sequenceNumber: s.sequenceNumber,
    timestamp: s.timestamp,
    ssrc: s.ssrc,
    payloadType: s.payloadType,
    marker: s.marker,
    csrc: s.csrc,
    extension: s.extension,
    extensionProfile: s.extensionProfile as RtpHeader['extensionProfile'],
    extensions: s.extensions.map((e) => ({ id: e.id, payload: Buffer.from(e.payload) })),
    padding: s.padding > 0,
  });
  return { header, payload };
}

function attempt(fn: () => Buffer | [Buffer, RtpHeader]): Outcome {
  try {
    const r = fn();
    if (Array.isArray(r)) return { ok: Buffer.from(r[0]), header: plain(r[1]) };
    return { ok: Buffer.from(r) };
  } catch (err) {
    return { error: `${(err as Error).constructor.name}: ${(err as Error).message}` };
  }
}

function plain(h: RtpHeader): Record<string, unknown> {
  return { ...h, extensions: h.extensions.map((e) => ({ id: e.id, payload: Buffer.from(e.payload).toString('hex') })) };
}

/**
 * Protects every header spec, unprotects each result (whole context path, header included), and
 * unprotects each `mutate`d copy; returns every outcome plus the headers' state afterwards.
 */
function run(profile: number, keys: Buffer[], specs: HeaderSpec[], mutate: (b: Buffer, i: number) => Buffer | undefined): unknown[] {
  const { tx, rx } = pair(profile, keys);
  const out: unknown[] = [];
  for (const [i, s] of specs.entries()) {
    const { header, payload } = toHeader(s);
    const enc = attempt(() => tx.encrypt(payload, header));
    out.push(enc, { extension: header.extension, payloadOffset: header.payloadOffset });
    if (!('ok' in enc)) continue;
    const bad = mutate(enc.ok, i);
    if (bad) out.push(attempt(() => rx.remoteContext.decryptRtp(bad)));
    out.push(attempt(() => rx.remoteContext.decryptRtp(enc.ok)));
  }
  return out;
}

function both(profile: number, keys: Buffer[], specs: HeaderSpec[], mutate: (b: Buffer, i: number) => Buffer | undefined = () => undefined) {
  unpatchWeriftSrtp();
  const reference = run(profile, keys, specs, mutate);
  assert.equal(patchWeriftSrtp().patched, true);
  const patched = run(profile, keys, specs, mutate);
  return { reference, patched };
}

const extension = (twoByte: boolean) =>
  fc.record({
    id: twoByte ? fc.integer({ min: 1, max: 255 }) : fc.integer({ min: 1, max: 14 }),
    payload: fc.uint8Array({ minLength: twoByte ? 0 : 1, maxLength: twoByte ? 20 : 16 }).map((a) => Buffer.from(a)),
  });

const headerSpec = fc.boolean().chain((twoByte) =>
  fc.record({
    sequenceNumber: fc.integer({ min: 0, max: 0xffff }),
    timestamp: fc.integer({ min: 0, max: 0xffffffff }),
    ssrc: fc.constantFrom(0x11111111, 0xdeadbeef),
    payloadType: fc.integer({ min: 0, max: 127 }),
    marker: fc.boolean(),
    csrc: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 3 }),
    extension: fc.boolean(),
    extensionProfile: fc.constant(twoByte ? 0x1000 : 0xbede),
    extensions: fc.array(extension(twoByte), { maxLength: 5 }),
    padding: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 32 })),
    payloadLength: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 900, max: 1300 })),
  }),
);

/** Consecutive sequence numbers from a random start (exercises the rollover counter), random headers otherwise. */
const stream = fc
  .tuple(fc.integer({ min: 0, max: 0xffff }), fc.array(headerSpec, { minLength: 1, maxLength: 12 }))
  .map(([start, specs]) => specs.map((s, i) => ({ ...s, sequenceNumber: (start + i * 1000) & 0xffff })));

const keysFor = (salt: number) => [randomBytes(16), randomBytes(salt), randomBytes(16), randomBytes(salt)];

/** A header whose one-byte extension block claims `words` 32-bit words (RFC 8285 §4.2). */
function overrun(words: number, total = 200): Buffer {
  const p = Buffer.alloc(total);
  p[0] = 0x90;
  p[1] = 96;
  p.writeUInt16BE(0xbede, 12);
  p.writeUInt16BE(words, 14);
  return p;
}

test('the header-parse guard refuses an overlong one-byte extension block at once and changes nothing else', () => {
  guardWeriftRtpHeaderParse();
  guardWeriftRtpHeaderParse(); // idempotent
  const t = process.hrtime.bigint();
  assert.throws(() => RtpHeader.deSerialize(overrun(0xffff)), RangeError);
  assert.throws(() => RtpPacket.deSerialize(overrun(0xffff, 1200)), RangeError);
  assert.ok(Number(process.hrtime.bigint() - t) < 50e6, 'microseconds, not minutes');
  const plainOf = (f: () => RtpHeader) => {
    try {
      return plain(f());
    } catch (err) {
      return `${(err as Error).constructor.name}: ${(err as Error).message}`;
    }
  };
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 80 }), fc.boolean(), (bytes, forceX) => {
      const raw = Buffer.from(bytes);
      if (forceX && raw.length > 0) raw[0] = 0x90 | (raw[0]! & 0x2f); // version 2, X set: extension paths
      const at = 12 + ((raw[0] ?? 0) & 15) * 4;
      const overlong = raw.length >= 12 && (raw[0]! & 0x10) !== 0 && at + 4 <= raw.length && raw.readUInt16BE(at) === 0xbede && at + 4 + raw.readUInt16BE(at + 2) * 4 > raw.length;
      const expected = overlong ? 'RangeError: RTP header extension block longer than the packet' : plainOf(() => weriftDeSerialize(raw));
      assert.deepEqual(plainOf(() => RtpHeader.deSerialize(raw)), expected);
    }),
    { numRuns: 2000 },
  );
});

test('an unauthenticated SRTP packet with an overlong extension block is refused in microseconds', () => {
  assert.equal(patchWeriftSrtp().patched, true);
  for (const { profile, salt } of profiles) {
    const { rx } = pair(profile, keysFor(salt));
    const t = process.hrtime.bigint();
    assert.throws(() => rx.decrypt(overrun(0xffff, 1200)), SrtpAuthenticationError);
    assert.ok(Number(process.hrtime.bigint() - t) < 50e6);
  }
});

test('patchWeriftSrtp applies, self-tests and is idempotent', () => {
  unpatchWeriftSrtp();
  const first = patchWeriftSrtp();
  assert.deepEqual(first, { patched: true });
  const probe = pair(GCM, keysFor(12)).tx.localContext;
  const method = Object.getPrototypeOf(probe.cipher).decryptRtp;
  assert.equal(patchWeriftSrtp(), first, 'second call: same status, nothing re-patched');
  assert.equal(Object.getPrototypeOf(probe.cipher).decryptRtp, method);
  unpatchWeriftSrtp();
  assert.notEqual(Object.getPrototypeOf(probe.cipher).decryptRtp, method, 'unpatch restores werift');
  assert.equal(patchWeriftSrtp().patched, true);
});

for (const { name, profile, salt } of profiles) {
  test(`${name}: protect and unprotect are byte-identical to werift's for arbitrary RTP headers`, () => {
    fc.assert(
      fc.property(stream, (specs) => {
        const { reference, patched } = both(profile, keysFor(salt), specs);
        assert.deepEqual(patched, reference);
      }),
      { numRuns: 150 },
    );
  });

  test(`${name}: tampered and truncated packets fail (or pass) exactly as with werift`, () => {
    fc.assert(
      fc.property(stream, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 }), fc.integer({ min: 0, max: 3 })), { minLength: 12, maxLength: 12 }), (specs, edits) =>
        {
          const mutate = (b: Buffer, i: number) => {
            const [pos, xor, kind] = edits[i % edits.length]!;
            const c = Buffer.from(b);
            const flip = (at: number) => (c[at] = c[at]! ^ xor);
            if (kind === 0) flip(pos % c.length); // one flipped byte anywhere
            else if (kind === 1) return c.subarray(0, pos % c.length); // truncated
            else if (kind === 2) flip(pos % Math.min(c.length, 40)); // a header byte (CC, X, extension lengths)
            else c[0] = (c[0]! & 0xe0) | 0x10 | (xor & 15); // X set, CSRC count changed
            return c;
          };
          const { reference, patched } = both(profile, keysFor(salt), specs, mutate);
          assert.deepEqual(patched, reference);
        },
      ),
      { numRuns: 150 },
    );
  });

  test(`${name}: arbitrary bytes are rejected exactly as werift rejects them`, () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 0, maxLength: 120 }), { minLength: 1, maxLength: 8 }), (packets) => {
        const keys = keysFor(salt);
        const go = () => {
          const { rx } = pair(profile, keys);
          return packets.map((p) => attempt(() => rx.remoteContext.decryptRtp(Buffer.from([0x90 | (p[0] ?? 0) & 0x2f, ...p.subarray(1)]))));
        };
        unpatchWeriftSrtp();
        const reference = go();
        assert.equal(patchWeriftSrtp().patched, true);
        assert.deepEqual(go(), reference);
      }),
      { numRuns: 200 },
    );
  });

  test(`${name}: headers werift parses in its own way (ID 15, other extension profiles) take werift's path`, () => {
    const keys = keysFor(salt);
    const specs: HeaderSpec[] = [
      { sequenceNumber: 1, timestamp: 1, ssrc: 7, payloadType: 96, marker: false, csrc: [], extension: true, extensionProfile: 0xbede, extensions: [{ id: 15, payload: Buffer.from([1]) }, { id: 2, payload: Buffer.from([2, 3]) }], padding: 0, payloadLength: 100 },
      { sequenceNumber: 2, timestamp: 2, ssrc: 7, payloadType: 96, marker: false, csrc: [], extension: true, extensionProfile: 0x1234, extensions: [{ id: 0, payload: Buffer.alloc(8, 1) }], padding: 0, payloadLength: 100 },
      { sequenceNumber: 3, timestamp: 3, ssrc: 7, payloadType: 96, marker: false, csrc: [], extension: true, extensionProfile: 0xbede, extensions: [{ id: 3, payload: Buffer.alloc(0) }], padding: 0, payloadLength: 100 },
    ];
    const { reference, patched } = both(profile, keys, specs);
    assert.deepEqual(patched, reference);
    assert.ok(reference.some((o) => typeof o === 'object' && o !== null && 'error' in o), 'an empty one-byte extension is refused by both');
  });

  test(`${name}: a long stream crosses the 16-bit sequence wrap with the same bytes`, () => {
    const keys = keysFor(salt);
    const specs: HeaderSpec[] = [];
    for (let i = 0; i < 300; i++) {
      specs.push({ sequenceNumber: (65400 + i) & 0xffff, timestamp: i * 3000, ssrc: 0x2badf00d, payloadType: 96, marker: i % 5 === 0, csrc: [], extension: true, extensionProfile: 0xbede, extensions: [{ id: 3, payload: Buffer.from([i >> 8, i & 255]) }], padding: 0, payloadLength: 1072 });
    }
    const { reference, patched } = both(profile, keys, specs);
    assert.deepEqual(patched, reference);
  });
}
