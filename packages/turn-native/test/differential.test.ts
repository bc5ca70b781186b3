/**
 * Fuzzing the addon's parsing against the TypeScript path: attacker bytes from clients (random,
 * and valid ChannelData, Send indications, Binding and other STUN messages with random attributes,
 * then mutated) and from peers, judged on the same state and clock by @dari/stun's TurnServer and
 * by the addon; every addon verdict must be the core's (same relay, same bytes, or the same ignore
 * reason), or "defer" (the core decides). Also replays the fuzz corpora through both
 * (@dari/stun's, bench/fuzz's saved findings, and a campaign's corpus with DARI_FUZZ_CORPUS=DIR).
 * DARI_FUZZ_RUNS raises the number of cases (a campaign; the default keeps the suite quick).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { Attr, MessageBuilder, Method, writeXorAddress, type StunClass } from '@dari/stun';
import { engine } from './helpers.js';
import { Harness, PEERS, TIMES } from './differential.js';

const RUNS = Number(process.env.DARI_FUZZ_RUNS ?? 4000);

const time = fc.constantFrom(...TIMES);
const peerAddress = fc.constantFrom(PEERS.v4, PEERS.v4other, PEERS.v4unpermitted, PEERS.v6, { address: '127.0.0.1', port: 9 });
const attribute = fc.record({
  // Mostly types the path cares about, some unknown comprehension-required/optional ones.
  type: fc.oneof(
    fc.constantFrom(Attr.XOR_PEER_ADDRESS, Attr.DATA, Attr.DONT_FRAGMENT, Attr.CHANGE_REQUEST, Attr.PADDING, Attr.RESPONSE_PORT, Attr.SOFTWARE, Attr.USERNAME, Attr.MESSAGE_INTEGRITY, Attr.FINGERPRINT, Attr.LIFETIME),
    fc.integer({ min: 0, max: 0xffff }),
  ),
  value: fc.uint8Array({ maxLength: 24 }),
});
const cls = fc.constantFrom<StunClass>('request', 'indication', 'success', 'error');

/** Build a message from parts (the Send indication's XOR-PEER-ADDRESS and DATA first when asked). */
function message(m: { cls: StunClass; method: number; peer?: { address: string; port: number }; data?: Uint8Array; attrs: { type: number; value: Uint8Array }[]; fingerprint: boolean }): Uint8Array {
  const b = new MessageBuilder(m.cls, m.method);
  if (m.peer) b.add(Attr.XOR_PEER_ADDRESS, writeXorAddress({ family: m.peer.address.includes(':') ? 6 : 4, ...m.peer }, b.transactionId));
  if (m.data) b.add(Attr.DATA, m.data);
  for (const a of m.attrs) b.add(a.type, a.value);
  if (m.fingerprint) b.fingerprint();
  return b.build();
}

/** Attributes a well-behaved client adds to a Binding request (ICE), some unknown optional ones, now and then a 5780 one. */
const bindingAttribute = fc.record({
  type: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(Attr.SOFTWARE, Attr.USERNAME, Attr.PRIORITY, Attr.ICE_CONTROLLING, Attr.USE_CANDIDATE, Attr.MESSAGE_INTEGRITY) }, { weight: 2, arbitrary: fc.integer({ min: 0x8000, max: 0xffff }) }, { weight: 1, arbitrary: fc.constantFrom(Attr.CHANGE_REQUEST, Attr.PADDING, Attr.RESPONSE_PORT, 0x7777) }),
  value: fc.uint8Array({ maxLength: 24 }),
});
const binding = fc.record({ attrs: fc.array(bindingAttribute, { maxLength: 4 }), fingerprint: fc.boolean() }).map((m) => message({ cls: 'request', method: Method.Binding, ...m }));
const send = fc.record({ peer: peerAddress, data: fc.uint8Array({ maxLength: 64 }), attrs: fc.array(attribute, { maxLength: 2 }), fingerprint: fc.boolean(), skip: fc.constantFrom('none', 'none', 'none', 'peer', 'data') })
  .map((m) => message({ cls: 'indication', method: Method.Send, attrs: m.attrs, fingerprint: m.fingerprint, ...(m.skip !== 'peer' ? { peer: m.peer } : {}), ...(m.skip !== 'data' ? { data: m.data } : {}) }));
/** Any class and method, mostly the ones the fast path looks at. */
const anyStun = fc.record({
  cls,
  method: fc.oneof(fc.constantFrom(Method.Send, Method.Binding, Method.Data, Method.Allocate, Method.Refresh), fc.integer({ min: 0, max: 0xfff })),
  attrs: fc.array(attribute, { maxLength: 3 }),
  fingerprint: fc.boolean(),
}).map(message);
const stun = fc.oneof(binding, send, anyStun);

/** ChannelData on bound and unbound channels, and numbers just outside 0x4000-0x7FFF; padded or not. */
const channelData = fc.record({ channel: fc.oneof(fc.constantFrom(0x4000, 0x4001, 0x4002), fc.integer({ min: 0x3ff0, max: 0x8010 })), data: fc.uint8Array({ maxLength: 64 }), pad: fc.boolean() })
  .map((c) => {
    const out = new Uint8Array(4 + (c.pad ? (c.data.length + 3) & ~3 : c.data.length));
    new DataView(out.buffer).setUint16(0, c.channel);
    new DataView(out.buffer).setUint16(2, c.data.length);
    out.set(c.data, 4);
    return out;
  });

/** Flips, truncation, extension and length lies on a valid message. */
const mutate = (base: fc.Arbitrary<Uint8Array>) =>
  fc.tuple(base, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), fc.integer({ min: -6, max: 6 }), fc.boolean()).map(([b, flips, cut, lie]) => {
    let bytes = Uint8Array.from(b);
    for (const [at, v] of flips) if (bytes.length > 0) bytes[at % bytes.length] = v;
    if (cut < 0) bytes = bytes.subarray(0, Math.max(0, bytes.length + cut));
    else if (cut > 0) bytes = Uint8Array.from([...bytes, ...new Uint8Array(cut)]);
    if (lie && bytes.length >= 4) bytes[3] = bytes[3]! ^ 4;
    return bytes;
  });

const clientInput = fc.oneof(
  { weight: 2, arbitrary: binding },
  { weight: 2, arbitrary: send },
  { weight: 1, arbitrary: anyStun },
  { weight: 2, arbitrary: channelData },
  { weight: 4, arbitrary: mutate(fc.oneof(stun, channelData)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 80 }) },
);

test('client datagrams: the addon relays, answers and drops exactly as the TypeScript core, or defers to it', (t) => {
  const made = engine();
  if (!made) return t.skip('DARI_SKIP_NATIVE=1');
  const h = new Harness(made.engine);
  fc.assert(
    fc.property(fc.nat({ max: 2 }), clientInput, time, (who, bytes, now) => {
      h.client(h.clients[who]!, bytes, now);
    }),
    { numRuns: RUNS },
  );
  // The generator reaches every verdict (else this test would prove little).
  for (const v of ['relay', 'reply', 'drop', 'defer'] as const) assert.ok(h.verdicts[v] > RUNS / 100, `${v}: ${JSON.stringify(h.verdicts)}`);
  void made.engine.close();
});

test('peer datagrams: the same ChannelData or Data indication as the core, or the same ignore reason', (t) => {
  const made = engine();
  if (!made) return t.skip('DARI_SKIP_NATIVE=1');
  const h = new Harness(made.engine);
  fc.assert(
    fc.property(fc.constantFrom(...h.allocations, 99), peerAddress, fc.uint8Array({ maxLength: 200 }), time, (allocation, peer, bytes, now) => {
      h.peer(allocation, peer, bytes, now);
    }),
    { numRuns: RUNS },
  );
  // Sizes at the edge of a Data indication over IPv6 (65,504 fits, 65,505 does not), with and without a channel.
  const [v4, v6] = h.allocations as [number, number];
  for (const n of [65504, 65505, 65527]) {
    h.peer(v6, PEERS.v6, new Uint8Array(n), TIMES[0]!);
    h.peer(v6, { address: PEERS.v6.address, port: 7 }, new Uint8Array(n), TIMES[0]!);
  }
  h.peer(v4, PEERS.v4other, new Uint8Array(65507), TIMES[0]!);
  for (const v of ['reply', 'drop'] as const) assert.ok(h.verdicts[v] > RUNS / 100, `${v}: ${JSON.stringify(h.verdicts)}`);
  void made.engine.close();
});

/**
 * The STUN/TURN messages of the fuzz corpora: @dari/stun's fuzz-regressions.json, every saved
 * finding of the bench/fuzz campaign (packages/fuzz/regressions: STUN messages and TURN client
 * datagrams), and, when DARI_FUZZ_CORPUS names a campaign directory, its stun and turn corpora
 * (`node bench/fuzz/run.mjs … --dir DIR`). Hex strings.
 */
function corpusInputs(): { source: string; hex: string[] }[] {
  const out: { source: string; hex: string[] }[] = [];
  const stun = JSON.parse(readFileSync(fileURLToPath(new URL('../../../stun/test/fuzz-regressions.json', import.meta.url)), 'utf8')) as { inputs: string[] };
  out.push({ source: 'packages/stun/test/fuzz-regressions.json', hex: stun.inputs });
  type Steps = { record: { target: string; steps: { op: string; hex?: string }[] } };
  const stepsHex = (r: Steps) => (r.record.target === 'stun' || r.record.target === 'turn' ? r.record.steps.filter((s) => (s.op === 'message' || s.op === 'client') && typeof s.hex === 'string').map((s) => s.hex!) : []);
  const dir = fileURLToPath(new URL('../../../fuzz/regressions/', import.meta.url));
  const regressions = readdirSync(dir).filter((f) => f.endsWith('.json')).flatMap((f) => stepsHex(JSON.parse(readFileSync(join(dir, f), 'utf8')) as Steps));
  out.push({ source: 'packages/fuzz/regressions', hex: regressions });
  const campaign = process.env.DARI_FUZZ_CORPUS;
  if (campaign) {
    for (const target of ['stun', 'turn']) {
      const file = join(campaign, 'corpus', `${target}.jsonl`);
      const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
      out.push({ source: file, hex: lines.flatMap((l) => stepsHex(JSON.parse(l) as Steps)) });
    }
  }
  return out;
}

test('the fuzz corpora get the same answer on both paths', (t) => {
  const made = engine();
  if (!made) return t.skip('DARI_SKIP_NATIVE=1');
  const h = new Harness(made.engine);
  for (const { source, hex } of corpusInputs()) {
    assert.ok(hex.length > 0, `${source} has inputs`);
    for (const x of hex) for (const c of h.clients) for (const now of TIMES) h.client(c, Buffer.from(x, 'hex'), now);
    t.diagnostic(`${source}: ${hex.length} inputs × ${h.clients.length} clients × ${TIMES.length} times`);
  }
  void made.engine.close();
});
