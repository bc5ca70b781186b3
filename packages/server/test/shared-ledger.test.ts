/**
 * The allocation ledger that the workers of a sharded TURN server share: the same answers as
 * @dari/stun's LocalLedger on random operation sequences (small tables, so probing and deletion
 * are exercised), full tables refuse, and worker threads racing for a quota get it exactly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import {
  Attr, LocalLedger, MessageBuilder, Method, TurnServer, decodeMessage, getAttribute, readErrorCode, readXorAddress, tupleKey, writeEvenPort, writeRequestedTransport, writeUint32,
  TRANSPORT_UDP, type ClientTuple, type TurnAction,
} from '@dari/stun';
import { SharedLedger } from '../src/turn/shared-ledger.js';

const op = fc.oneof(
  fc.record({ kind: fc.constant('acquire' as const), user: fc.integer({ min: 0, max: 5 }), userQuota: fc.integer({ min: 0, max: 3 }), totalQuota: fc.integer({ min: 0, max: 8 }) }),
  fc.record({ kind: fc.constant('release' as const), user: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ kind: fc.constant('reserve' as const), token: fc.integer({ min: 0, max: 6 }), port: fc.integer({ min: 1, max: 65535 }), expiresAt: fc.integer({ min: 0, max: 100 }) }),
  fc.record({ kind: fc.constant('take' as const), token: fc.integer({ min: 0, max: 6 }), now: fc.integer({ min: 0, max: 100 }) }),
  fc.record({ kind: fc.constant('expire' as const), now: fc.integer({ min: 0, max: 100 }) }),
);

// Tokens whose first word collides in a small table (same home slot), and the all-zero token.
const token = (n: number): Uint8Array => Uint8Array.from([0, 0, 0, n % 3 === 0 ? 0 : 8 * n, 0, 0, 0, n]);

test('the shared ledger answers as LocalLedger on random sequences of operations', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const local = new LocalLedger();
      const shared = new SharedLedger(SharedLedger.buffer(8, 8));
      for (const o of ops) {
        if (o.kind === 'acquire') assert.equal(shared.acquire(`user${o.user}`, o.userQuota, o.totalQuota), local.acquire(`user${o.user}`, o.userQuota, o.totalQuota));
        else if (o.kind === 'release') {
          shared.release(`user${o.user}`);
          local.release(`user${o.user}`);
        } else if (o.kind === 'reserve') {
          const r = { family: 4 as const, port: o.port, expiresAt: o.expiresAt };
          assert.equal(shared.reserve(token(o.token), r), local.reserve(token(o.token), r));
        } else if (o.kind === 'take') assert.deepEqual(shared.take(token(o.token), o.now), local.take(token(o.token), o.now));
        else {
          shared.expire(o.now);
          local.expire(o.now);
        }
      }
    }),
    { numRuns: 2000 },
  );
});

test('a full table refuses a new user (486) and a new reservation, and makes room again after a release', () => {
  const ledger = new SharedLedger(SharedLedger.buffer(4, 2));
  for (const u of ['a', 'b', 'c']) assert.equal(ledger.acquire(u, 0, 0), null);
  assert.equal(ledger.acquire('d', 0, 0), 'user', 'three users fill a 4-slot table');
  assert.equal(ledger.acquire('a', 0, 0), null, 'a known user still counts');
  ledger.release('b');
  assert.equal(ledger.acquire('d', 0, 0), null);
  assert.equal(ledger.total, 4);
  assert.equal(ledger.reserve(token(1), { family: 6, port: 50001, expiresAt: 10 }), true);
  assert.equal(ledger.reserve(token(2), { family: 4, port: 50003, expiresAt: 10 }), false);
  assert.deepEqual(ledger.take(token(1), 5), { family: 6, port: 50001, expiresAt: 10 });
  assert.equal(ledger.reserve(token(2), { family: 4, port: 50003, expiresAt: 10 }), true);
});

test('worker threads racing for a user quota get exactly the quota, and a token made in one is taken in another', async () => {
  const sab = SharedLedger.buffer();
  const url = new URL('../src/turn/shared-ledger.js', import.meta.url).href;
  const source = `
    import { workerData, parentPort } from 'node:worker_threads';
    const { SharedLedger } = await import(${JSON.stringify(url)});
    const ledger = new SharedLedger(workerData.sab);
    let got = 0;
    for (let i = 0; i < 4000; i++) if (ledger.acquire('alice', 1000, 0) === null) got++;
    for (let i = 0; i < 2000; i++) { ledger.acquire('u' + workerData.n + '-' + i, 0, 0); ledger.release('u' + workerData.n + '-' + i); }
    if (workerData.n === 0) ledger.reserve(Uint8Array.from([1,2,3,4,5,6,7,8]), { family: 4, port: 50002, expiresAt: Date.now() + 30000 });
    parentPort.postMessage(got);`;
  const run = (n: number) =>
    new Promise<number>((resolve, reject) => {
      const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(source)}`), { workerData: { sab, n } });
      w.once('message', resolve);
      w.once('error', reject);
    });
  const got = await Promise.all([run(0), run(1), run(2)]);
  assert.equal(got.reduce((a, b) => a + b, 0), 1000, `successes per worker: ${got.join(', ')}`);
  const ledger = new SharedLedger(sab);
  assert.equal(ledger.total, 1000);
  for (let i = 0; i < 1000; i++) ledger.release('alice');
  assert.equal(ledger.total, 0);
  assert.equal(ledger.take(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]), Date.now())?.port, 50002);
});

test('two TURN cores sharing the ledger (two workers) hold the user quota together and honour each other\'s reservation tokens', () => {
  const ledger = new SharedLedger(SharedLedger.buffer());
  const opts = { noAuth: true, userQuota: 2, relayAddresses: { v4: '192.0.2.1' }, ledger };
  const [w1, w2] = [new TurnServer({ ...opts, minPort: 50000, maxPort: 50099 }), new TurnServer({ ...opts, minPort: 50100, maxPort: 50199 })];
  const tuple = (port: number): ClientTuple => ({ key: tupleKey('udp', '192.0.2.10', port, '192.0.2.1', 3478), protocol: 'udp', address: '192.0.2.10', port, family: 4, localAddress: '192.0.2.1', localPort: 3478 });
  const allocate = (core: TurnServer, port: number, extra: (b: MessageBuilder) => void = () => {}) => {
    const b = new MessageBuilder('request', Method.Allocate).add(Attr.REQUESTED_TRANSPORT, writeRequestedTransport(TRANSPORT_UDP));
    extra(b);
    const out = core.handleClient(tuple(port), b.build(), 1000);
    const bind = out.find((a) => a.kind === 'bind-relay');
    if (!bind || bind.kind !== 'bind-relay') return out;
    return core.relayBound(bind.allocation, { ok: true }, 1000);
  };
  const response = (actions: TurnAction[]) => {
    const send = actions.find((a) => a.kind === 'send');
    assert.ok(send?.kind === 'send');
    const m = decodeMessage(send.data);
    assert.ok(m.ok);
    return m.value;
  };
  // The anonymous user '' gets 2 allocations in all: one in each worker, then 486 in either.
  const first = response(allocate(w1, 40001, (b) => b.add(Attr.EVEN_PORT, writeEvenPort(true))));
  assert.equal(first.cls, 'success');
  const token = getAttribute(first, Attr.RESERVATION_TOKEN)!.value;
  assert.equal(response(allocate(w2, 40002)).cls, 'success');
  const refused = response(allocate(w1, 40003));
  const code = readErrorCode(getAttribute(refused, Attr.ERROR_CODE)!.value);
  assert.ok(code.ok && code.value.code === 486, '486 Allocation Quota Reached');
  // A Refresh to 0 in worker 2 frees a place; the RTCP Allocate lands in worker 2 with worker 1's token.
  w2.handleClient(tuple(40002), new MessageBuilder('request', Method.Refresh).add(Attr.LIFETIME, writeUint32(0)).build(), 1000);
  const rtcp = response(allocate(w2, 40004, (b) => b.add(Attr.RESERVATION_TOKEN, token)));
  assert.equal(rtcp.cls, 'success');
  const relay = readXorAddress(getAttribute(rtcp, Attr.XOR_RELAYED_ADDRESS)!.value, rtcp.transactionId);
  const rtp = readXorAddress(getAttribute(first, Attr.XOR_RELAYED_ADDRESS)!.value, first.transactionId);
  assert.ok(relay.ok && rtp.ok && relay.value.port === rtp.value.port + 1, 'the reserved port, next to the RTP one');
  assert.equal(ledger.total, 2);
});
