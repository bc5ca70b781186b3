/**
 * @dari/cluster: placement (pure), the node link codec and auth, and the Redis store against a
 * real redis-server started on a free loopback port.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, type RedisProcess } from '@dari/testkit';
import {
  ClusterStore,
  FrameType,
  LinkDecodeError,
  OpenPayload,
  StoreUnavailableError,
  decodeFrame,
  encodeBatch,
  encodeFrame,
  splitBatch,
  linkAuth,
  payloadJson,
  payloadText,
  selectNode,
  verifyLinkAuth,
  type NodeInfo,
  type RoomSnapshot,
} from '../src/index.js';

function node(id: string, participants: number, rooms: number, extra: Partial<NodeInfo> = {}): NodeInfo {
  return {
    id,
    url: `http://127.0.0.1:${7000 + id.length}`,
    addresses: ['127.0.0.1'],
    ports: { http: 7880, turn: null },
    state: 'serving',
    load: { rooms, participants, connections: participants, cpu: 0.05 },
    startedAt: 0,
    updatedAt: 0,
    ...extra,
  };
}

test('least-loaded: fewest participants, then rooms; ties go to the receiving node; draining nodes never', () => {
  const nodes = [node('a', 5, 1), node('b', 2, 2), node('c', 2, 1)];
  assert.equal(selectNode({ nodes, self: 'a', selector: 'least-loaded' }), 'c');
  const tied = [node('a', 0, 0), node('b', 0, 0), node('c', 0, 0)];
  assert.equal(selectNode({ nodes: tied, self: 'b', selector: 'least-loaded' }), 'b');
  assert.equal(selectNode({ nodes: tied, self: 'zz', selector: 'least-loaded' }), 'a');
  // CPU in 10 % steps: 5 % vs 8 % is a tie, 5 % vs 45 % is not.
  const cpu = [node('a', 0, 0, { load: { rooms: 0, participants: 0, connections: 0, cpu: 0.45 } }), node('b', 0, 0, { load: { rooms: 0, participants: 0, connections: 0, cpu: 0.08 } })];
  assert.equal(selectNode({ nodes: cpu, self: 'a', selector: 'least-loaded' }), 'b');
  // cluster.placementCpu: false: CPU is not compared, the tie goes to the node the join reached.
  assert.equal(selectNode({ nodes: cpu, self: 'a', selector: 'least-loaded', cpu: false }), 'a');
  const draining = [node('a', 0, 0, { state: 'draining' }), node('b', 9, 9)];
  assert.equal(selectNode({ nodes: draining, self: 'a', selector: 'least-loaded' }), 'b');
  assert.equal(selectNode({ nodes: [node('a', 0, 0, { state: 'draining' })], self: 'a', selector: 'least-loaded' }), undefined);
});

test('local and random selectors', () => {
  const nodes = [node('a', 9, 9), node('b', 0, 0), node('c', 0, 0, { state: 'draining' })];
  assert.equal(selectNode({ nodes, self: 'a', selector: 'local' }), 'a');
  assert.equal(selectNode({ nodes, self: 'c', selector: 'local' }), 'b', 'a draining receiver places like least-loaded');
  assert.equal(selectNode({ nodes, self: 'a', selector: 'random', random: () => 0 }), 'a');
  assert.equal(selectNode({ nodes, self: 'a', selector: 'random', random: () => 0.99 }), 'b', 'draining c is never drawn');
});

test('link frames: round trip, and typed errors for short, unknown or malformed frames', () => {
  const f = decodeFrame(encodeFrame(FrameType.MSG, 0xfffffffe, '{"type":"ping","ts":1} ünïcødé'));
  assert.ok(!(f instanceof LinkDecodeError));
  assert.equal(f.type, FrameType.MSG);
  assert.equal(f.session, 0xfffffffe);
  assert.equal(payloadText(f), '{"type":"ping","ts":1} ünïcødé');
  const short = decodeFrame(new Uint8Array([2, 0, 0]));
  assert.ok(short instanceof LinkDecodeError && short.reason === 'short');
  const unknown = decodeFrame(new Uint8Array([99, 0, 0, 0, 1]));
  assert.ok(unknown instanceof LinkDecodeError && unknown.reason === 'unknown-type');
  const notJson = decodeFrame(encodeFrame(FrameType.OPEN, 1, '{nope'));
  assert.ok(!(notJson instanceof LinkDecodeError));
  const e1 = payloadJson(notJson, OpenPayload);
  assert.ok(e1 instanceof LinkDecodeError && e1.reason === 'bad-json');
  const badOpen = decodeFrame(encodeFrame(FrameType.OPEN, 1, JSON.stringify({ claims: { sub: 'a' }, join: {}, adopt: false })));
  assert.ok(!(badOpen instanceof LinkDecodeError));
  const e2 = payloadJson(badOpen, OpenPayload);
  assert.ok(e2 instanceof LinkDecodeError && e2.reason === 'bad-payload' && /claims/.test(e2.message), String(e2));
  // A frame inside a larger buffer (as ws hands them over) decodes at its offset.
  const inner = encodeFrame(FrameType.CLOSE, 7);
  const big = new Uint8Array(32);
  big.set(inner, 11);
  const sub = decodeFrame(big.subarray(11, 11 + inner.length));
  assert.ok(!(sub instanceof LinkDecodeError) && sub.session === 7 && sub.type === FrameType.CLOSE);
});

test('link batches: the frames of one turn in one message, split back without copies; a truncated batch is a typed error', () => {
  const frames = [encodeFrame(FrameType.MSG, 1, 'a'), encodeFrame(FrameType.CLOSE, 2), encodeFrame(FrameType.SEND, 3, 'x'.repeat(3000))];
  const batch = encodeBatch(frames);
  const back = splitBatch(batch);
  assert.ok(!(back instanceof LinkDecodeError));
  assert.deepEqual(back.map((f) => Buffer.from(f).toString('hex')), frames.map((f) => Buffer.from(f).toString('hex')));
  assert.deepEqual(splitBatch(new Uint8Array(0)), []);
  const cut = splitBatch(batch.subarray(0, batch.length - 1));
  assert.ok(cut instanceof LinkDecodeError && cut.reason === 'short');
  const stub = splitBatch(new Uint8Array([0, 0]));
  assert.ok(stub instanceof LinkDecodeError && stub.reason === 'short');
});

test('link auth: HMAC over node id and time, any configured secret, ±60 s', () => {
  const secrets = ['first-secret-of-at-least-32-chars-xx', 'second-secret-of-at-least-32-chars-x'];
  const now = 1_700_000_000_000;
  assert.deepEqual(verifyLinkAuth(linkAuth('ND_a', secrets[1]!, now), secrets, now + 1000), { id: 'ND_a' });
  assert.match((verifyLinkAuth(linkAuth('ND_a', 'some-other-secret-of-32-characters', now), secrets, now) as { error: string }).error, /bad signature/);
  assert.match((verifyLinkAuth(linkAuth('ND_a', secrets[0]!, now), secrets, now + 61_000) as { error: string }).error, /time/);
  assert.match((verifyLinkAuth(undefined, secrets, now) as { error: string }).error, /missing/);
  assert.match((verifyLinkAuth('a.b', secrets, now) as { error: string }).error, /must be/);
  const forged = linkAuth('ND_a', secrets[0]!, now).replace('ND_a', 'ND_b');
  assert.match((verifyLinkAuth(forged, secrets, now) as { error: string }).error, /bad signature/);
});

let redis: RedisProcess;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

async function store(prefix: string): Promise<ClusterStore> {
  const s = new ClusterStore({ url: redis.url, prefix });
  assert.ok(await s.connect(3000), 'redis ready');
  return s;
}

function snapshot(room: string, nodeId: string, sids: string[]): RoomSnapshot {
  return {
    room,
    node: nodeId,
    policy: 'auto',
    mode: 'p2p',
    at: Date.now(),
    participants: sids.map((sid, i) => ({ sid, identity: `u${i}`, name: `u${i}`, metadata: '', joinedAt: 1, grants: { canPublish: true, canSubscribe: true, canPublishData: true }, tracks: [] })),
  };
}

test('store: registration with TTL, placement that one node wins, adoption after death, release on drain', async () => {
  const a = await store('t1:');
  const b = await store('t1:');
  try {
    await a.heartbeat(node('A', 0, 0), 300);
    await b.heartbeat(node('B', 0, 0), 5000);
    assert.deepEqual((await a.nodes()).live.map((n) => n.id).sort(), ['A', 'B']);
    // Concurrent placements of one room from two nodes: one winner, both see it.
    const [pa, pb] = await Promise.all([a.placeRoom('r1', 'A'), b.placeRoom('r1', 'B')]);
    assert.equal(pa.node, pb.node);
    assert.equal([pa.assigned, pb.assigned].filter(Boolean).length, 1);
    const owner = pa.node;
    const other = owner === 'A' ? b : a;
    // Only the owner writes the snapshot.
    assert.equal(await (owner === 'A' ? a : b).writeSnapshot(snapshot('r1', owner, ['PA_1'])), true);
    assert.equal(await other.writeSnapshot(snapshot('r1', owner === 'A' ? 'B' : 'A', ['PA_x'])), false);
    assert.deepEqual((await a.rooms(new Set(['A', 'B']))).map((r) => [r.room, r.node, r.participants]), [['r1', owner, 1]]);
    // A's registration expires (no heartbeat): a room of A is placed anew, with its snapshot to adopt.
    await a.placeRoom('r2', 'A');
    await a.writeSnapshot(snapshot('r2', 'A', ['PA_2', 'PA_3']));
    await new Promise((r) => setTimeout(r, 400));
    const seen = await b.nodes();
    assert.deepEqual(seen.live.map((n) => n.id), ['B']);
    assert.deepEqual(seen.claimedDead, ['A'], 'the first node to see the death claims it');
    assert.deepEqual((await b.nodes()).claimedDead, [], 'only once');
    assert.equal(await b.orphanRooms('A', 60_000), owner === 'A' ? 2 : 1);
    assert.deepEqual((await b.rooms(new Set(['B']))).map((r) => r.room), owner === 'B' ? ['r1'] : [], 'rooms of dead nodes are not listed');
    const moved = await b.placeRoom('r2', 'B');
    assert.deepEqual([moved.node, moved.assigned, moved.adopt], ['B', true, true]);
    assert.deepEqual((await b.snapshot('r2'))?.participants.map((p) => p.sid), ['PA_2', 'PA_3']);
    assert.equal(await b.redis.pttl('t1:room:r2'), -1, 'adoption keeps the record');
    // Drain: release keeping the snapshot; the next placement adopts.
    assert.equal(await b.releaseRoom('r2', 'B', true), true);
    await a.heartbeat(node('A', 0, 0), 5000);
    const back = await a.placeRoom('r2', 'A');
    assert.deepEqual([back.node, back.adopt], ['A', true]);
    // A room that closes goes, but a REST policy stays with the name.
    await a.setPolicy('r2', 'sfu');
    assert.equal(await a.releaseRoom('r2', 'A', false), true);
    const again = await b.placeRoom('r2', 'B');
    assert.deepEqual([again.node, again.adopt, again.policy], ['B', false, 'sfu']);
  } finally {
    await a.close();
    await b.close();
  }
});

test('store: commands fail at once with StoreUnavailableError while redis is down, and work again after it returns', async () => {
  const s = await store('t2:');
  try {
    await s.placeRoom('r', 'A');
    await redis.kill();
    const t0 = Date.now();
    await assert.rejects(s.placeRoom('r', 'A'), StoreUnavailableError);
    assert.ok(Date.now() - t0 < 1500, 'no hang');
    await redis.restart();
    const ready = await new Promise<boolean>((resolve) => {
      if (s.ready) return resolve(true);
      const timer = setTimeout(() => resolve(s.ready), 5000);
      s.redis.once('ready', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    assert.ok(ready, 'reconnected by itself');
    const placed = await s.placeRoom('r', 'A');
    assert.deepEqual([placed.node, placed.assigned], ['A', true], 'an empty redis (restart) takes placements again');
    // The holder of a room whose record was lost claims it back with its next snapshot.
    assert.equal(await s.writeSnapshot(snapshot('lost', 'B', ['PA_9'])), true);
    assert.deepEqual((await s.rooms(new Set(['B']))).map((r) => [r.room, r.node, r.participants]), [['lost', 'B', 1]]);
  } finally {
    await s.close();
  }
});
