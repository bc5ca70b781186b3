/**
 * The signaling core's scale-out operations, sans-I/O with a manual clock: adopting a room from
 * a snapshot (resume with the old sids), evicting a room (clients told to reconnect), refusing a
 * join for a retryable reason, releasing a handed-off connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, SignalingError, type ServerMessage, type TokenClaims } from '@dari/protocol';
import { SignalingCore, CloseCode, type Action } from '../src/signaling/core.js';

class Harness {
  now = 5_000_000;
  readonly core: SignalingCore;
  readonly inbox = new Map<number, ServerMessage[]>();
  readonly closed = new Map<number, number>();
  readonly sfu: string[] = [];
  readonly events: string[] = [];
  constructor(policy: 'auto' | 'p2p' | 'sfu' = 'auto') {
    let n = 0;
    this.core = new SignalingCore({ iceServers: () => [], newSid: () => `PA_new${++n}`, roomPolicy: () => policy, node: 'N2', reconnectGraceMs: 10_000 });
  }
  apply(actions: Action[]): void {
    for (const a of actions) {
      if (a.kind === 'send') this.inbox.set(a.conn, [...(this.inbox.get(a.conn) ?? []), a.message]);
      else if (a.kind === 'close') this.closed.set(a.conn, a.code);
      else if (a.kind === 'sfu-join' || a.kind === 'sfu-leave') this.sfu.push(`${a.kind}:${a.identity}`);
      else if (a.kind === 'event') this.events.push(a.event.type);
    }
  }
  join(conn: number, identity: string, resume?: string): void {
    this.apply(this.core.open(conn, this.now));
    const { actions, join } = this.core.receive(conn, JSON.stringify({ type: 'join', v: 1, token: 't', ...(resume ? { resume: { sid: resume } } : {}) }), this.now);
    this.apply(actions);
    const claims: TokenClaims = { iss: 'k', sub: identity, exp: 9e9, room: 'r' };
    this.apply(this.core.completeJoin(join!, claims, this.now));
  }
  of(conn: number, type: string): ServerMessage[] {
    return (this.inbox.get(conn) ?? []).filter((m) => m.type === type);
  }
}

const grants = { canPublish: true, canSubscribe: true, canPublishData: true };
const track = { sid: 'TR_1', source: 'camera' as const, kind: 'video' as const, streamId: 'S1', muted: false };
const snapshot = (policy: 'auto' | 'p2p' | 'sfu', ids: string[]) => ({
  room: 'r',
  policy,
  participants: ids.map((id) => ({ sid: `PA_${id}`, identity: id, name: id, metadata: '', joinedAt: 1, grants, tracks: id === 'ana' ? [track] : [] })),
});

test('adoptRoom: participants resume with their old sids, the others wait as reconnecting, and leave after the grace period', () => {
  const h = new Harness();
  h.apply(h.core.adoptRoom(snapshot('auto', ['ana', 'ben']), h.now));
  assert.deepEqual(h.core.roomNames(), ['r']);
  assert.deepEqual(h.core.adoptRoom(snapshot('auto', ['x']), h.now), [], 'no-op for a room that exists');
  h.join(1, 'ana', 'PA_ana');
  const [joined] = h.of(1, 'joined');
  assert.ok(joined?.type === 'joined');
  assert.equal(joined.resumed, true, 'same session');
  assert.equal(joined.participant.sid, 'PA_ana');
  assert.equal(joined.node, 'N2');
  assert.deepEqual(joined.participant.tracks, [track]);
  assert.deepEqual(joined.participants.map((p) => [p.identity, p.state]), [['ben', 'reconnecting']]);
  // ben never comes back: gone when his grace period (from the adoption) ends.
  h.now += 10_000;
  h.apply(h.core.tick(h.now));
  const left = h.of(1, 'participant-left');
  assert.ok(left[0]?.type === 'participant-left' && left[0].identity === 'ben' && left[0].reason === 'disconnected');
  // A wrong sid is no resume: a fresh session replaces the adopted one.
  h.apply(h.core.adoptRoom({ ...snapshot('auto', ['cy']), room: 'r2' }, h.now));
  h.apply(h.core.open(2, h.now));
  const { join } = h.core.receive(2, JSON.stringify({ type: 'join', v: 1, token: 't', resume: { sid: 'PA_other' } }), h.now);
  h.apply(h.core.completeJoin(join!, { iss: 'k', sub: 'cy', exp: 9e9, room: 'r2' }, h.now));
  const fresh = h.of(2, 'joined')[0];
  assert.ok(fresh?.type === 'joined' && fresh.resumed === false && fresh.participant.sid === 'PA_new1');
  assert.deepEqual(h.core.adoptRoom({ ...snapshot('auto', []), room: 'empty' }, h.now), [], 'an empty snapshot adopts nothing');
  assert.ok(!h.core.roomNames().includes('empty'));
});

test('adoptRoom of an sfu room gives everyone fresh SFU membership at once', () => {
  const h = new Harness();
  h.apply(h.core.adoptRoom(snapshot('auto', ['ana', 'ben', 'cy']), h.now));
  assert.equal(h.core.roomMode('r'), 'sfu', 'three in an auto room');
  assert.deepEqual(h.sfu, ['sfu-join:ana', 'sfu-join:ben', 'sfu-join:cy']);
  h.join(1, 'ana', 'PA_ana');
  const j = h.of(1, 'joined')[0];
  assert.ok(j?.type === 'joined' && j.mode === 'sfu' && j.resumed);
});

test('evictRoom: everyone is told to reconnect (1012), nobody is reported as left, SFU membership ends', () => {
  const h = new Harness('sfu');
  h.join(1, 'ana');
  h.join(2, 'ben');
  h.sfu.length = 0;
  h.events.length = 0;
  h.apply(h.core.evictRoom('r'));
  for (const conn of [1, 2]) {
    assert.deepEqual(h.of(conn, 'closing').map((m) => m.type === 'closing' && m.reason), ['reconnect']);
    assert.equal(h.closed.get(conn), CloseCode.SERVICE_RESTART);
    assert.equal(h.of(conn, 'participant-left').length, 0);
  }
  assert.deepEqual(h.sfu.sort(), ['sfu-leave:ana', 'sfu-leave:ben']);
  assert.deepEqual(h.events, ['room-closed']);
  assert.deepEqual(h.core.roomNames(), []);
  assert.deepEqual(h.core.evictRoom('r'), []);
  // Their connections are closed for the core: later frames are ignored.
  assert.deepEqual(h.core.receive(1, '{"type":"ping","ts":1}', h.now).actions, []);
});

test('refuseJoin: a typed, retryable error and close 1013 without a closing frame; release forgets a handed-off connection', () => {
  const h = new Harness();
  h.apply(h.core.open(1, h.now));
  const { join } = h.core.receive(1, JSON.stringify({ type: 'join', v: 1, token: 't', id: 7 }), h.now);
  h.apply(h.core.refuseJoin(join!, new SignalingError(ErrorCode.CLUSTER_UNAVAILABLE, 'redis down')));
  const err = h.of(1, 'error')[0];
  assert.ok(err?.type === 'error' && err.code === 'CLUSTER_UNAVAILABLE' && err.ref === 7);
  assert.equal(h.closed.get(1), CloseCode.TRY_AGAIN_LATER);
  assert.equal(h.of(1, 'closing').length, 0, 'no closing: the SDK retries');
  assert.deepEqual(h.core.refuseJoin(join!, new SignalingError(ErrorCode.CLUSTER_UNAVAILABLE, 'again')), [], 'only a pending join');
  h.apply(h.core.open(2, h.now));
  const open = h.core.stats().connections;
  h.core.release(2);
  assert.equal(h.core.stats().connections, open - 1);
  assert.deepEqual(h.core.receive(2, '{"type":"ping","ts":1}', h.now).actions, []);
});
