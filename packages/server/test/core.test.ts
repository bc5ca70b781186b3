import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, SignalingError, type ServerMessage, type TokenClaims } from '@dari/protocol';
import { SignalingCore, CloseCode, type Action, type ConnId } from '../src/signaling/core.js';

/** Drives the core like the adapter does, with a manual clock. */
class Harness {
  now = 1_000_000;
  private n = 0;
  readonly core: SignalingCore;
  readonly inbox = new Map<ConnId, ServerMessage[]>();
  readonly closed = new Map<ConnId, { code: number; reason: string }>();
  /** SFU membership actions, in order, as `join:<identity>` / `leave:<identity>`. */
  readonly sfu: string[] = [];

  constructor(opts: Partial<ConstructorParameters<typeof SignalingCore>[0]> = {}) {
    // Mesh by default so presence tests see no topology messages; `auto` has its own tests.
    this.core = new SignalingCore({ iceServers: () => [{ urls: 'stun:127.0.0.1:3478' }], newSid: () => `PA_${++this.n}`, roomPolicy: () => 'p2p', ...opts });
  }

  apply(actions: Action[]): void {
    for (const a of actions) {
      if (a.kind === 'send') {
        const list = this.inbox.get(a.conn) ?? [];
        // A pre-serialized frame (the relayed sdp) must say exactly what the message object says.
        if (a.text !== undefined) assert.deepEqual(JSON.parse(a.text), a.message);
        list.push(a.message);
        this.inbox.set(a.conn, list);
      } else if (a.kind === 'close') this.closed.set(a.conn, { code: a.code, reason: a.reason });
      else if (a.kind === 'sfu-join') this.sfu.push(`join:${a.identity}`);
      else if (a.kind === 'sfu-leave') this.sfu.push(`leave:${a.identity}`);
    }
  }

  open(conn: ConnId): void {
    this.apply(this.core.open(conn, this.now));
  }

  send(conn: ConnId, msg: unknown): void {
    const { actions, join } = this.core.receive(conn, typeof msg === 'string' ? msg : JSON.stringify(msg), this.now);
    this.apply(actions);
    assert.equal(join, undefined, 'use join() for join messages');
  }

  /** Opens a connection and joins with already-verified claims. */
  join(conn: ConnId, identity: string, room = 'r', extra: Partial<TokenClaims> = {}, resume?: string): void {
    this.open(conn);
    this.joinOn(conn, identity, room, extra, resume);
  }

  joinOn(conn: ConnId, identity: string, room = 'r', extra: Partial<TokenClaims> = {}, resume?: string, claimsRoom = room): void {
    const { actions, join } = this.core.receive(conn, JSON.stringify({ type: 'join', v: 1, token: 't', room, ...(resume ? { resume: { sid: resume } } : {}) }), this.now);
    this.apply(actions);
    assert.ok(join, 'join intent');
    const claims: TokenClaims = { iss: 'k', sub: identity, exp: 9e9, room: claimsRoom, ...extra };
    this.apply(this.core.completeJoin(join, claims, this.now));
  }

  drop(conn: ConnId): void {
    this.apply(this.core.disconnect(conn, this.now));
  }

  tick(ms: number): void {
    this.now += ms;
    this.apply(this.core.tick(this.now));
  }

  take(conn: ConnId): ServerMessage[] {
    const list = this.inbox.get(conn) ?? [];
    this.inbox.set(conn, []);
    return list;
  }

  types(conn: ConnId): string[] {
    return this.take(conn).map((m) => (m.type === 'error' ? `error:${m.code}` : m.type));
  }
}

test('join returns the room roster and ICE servers; others see participant-joined', () => {
  const h = new Harness();
  h.join(1, 'alice');
  const [joinedA] = h.take(1);
  assert.equal(joinedA?.type, 'joined');
  assert.ok(joinedA?.type === 'joined');
  assert.equal(joinedA.participant.identity, 'alice');
  assert.deepEqual(joinedA.participants, []);
  assert.deepEqual(joinedA.iceServers, [{ urls: 'stun:127.0.0.1:3478' }]);
  h.join(2, 'bob', 'r', { name: 'Bob' });
  const [joinedB] = h.take(2);
  assert.ok(joinedB?.type === 'joined');
  assert.deepEqual(joinedB.participants.map((p) => p.identity), ['alice']);
  const [evt] = h.take(1);
  assert.ok(evt?.type === 'participant-joined');
  assert.equal(evt.participant.name, 'Bob');
  assert.deepEqual(h.core.stats(), { connections: 2, rooms: 1, participants: 2, roomsByMode: { p2p: 1, sfu: 0 } });
});

test('sdp and candidates are relayed to their target only, with the sender', () => {
  const h = new Harness();
  h.join(1, 'alice');
  h.join(2, 'bob');
  h.join(3, 'carol');
  h.take(1); h.take(2); h.take(3);
  h.send(1, { type: 'sdp', to: 'bob', description: { type: 'offer', sdp: 'v=0' } });
  h.send(1, { type: 'candidate', to: 'bob', candidate: { candidate: 'candidate:x', sdpMid: '0' } });
  const got = h.take(2);
  assert.deepEqual(got.map((m) => m.type), ['sdp', 'candidate']);
  assert.ok(got[0]?.type === 'sdp' && got[0].from === 'alice' && got[0].fromSid === 'PA_1');
  assert.deepEqual(h.take(3), []);
  assert.deepEqual(h.take(1), []);
});

test('an SDP or candidate for a peer not in the room is TARGET_NOT_FOUND, others unaffected', () => {
  const h = new Harness();
  h.join(1, 'alice');
  h.join(2, 'bob');
  h.take(1); h.take(2);
  h.send(1, { type: 'sdp', to: 'nobody', description: { type: 'offer', sdp: 'v=0' }, id: 9 });
  h.send(1, { type: 'candidate', to: 'alice', candidate: null });
  const errs = h.take(1);
  assert.deepEqual(errs.map((m) => m.type === 'error' && m.code), [ErrorCode.TARGET_NOT_FOUND, ErrorCode.TARGET_NOT_FOUND]);
  assert.ok(errs[0]?.type === 'error' && errs[0].ref === 9);
  assert.deepEqual(h.take(2), []);
  h.send(1, { type: 'sdp', to: 'bob', description: { type: 'offer', sdp: 'v=0' } });
  assert.deepEqual(h.types(2), ['sdp']);
});

test('broadcast signals reach everyone including the sender; targeted ones only their targets', () => {
  const h = new Harness();
  h.join(1, 'alice');
  h.join(2, 'bob');
  h.join(3, 'carol');
  h.take(1); h.take(2); h.take(3);
  h.send(1, { type: 'signal', signal: { type: 'chat', data: 'hi all', to: [] } });
  for (const c of [1, 2, 3]) {
    const [m] = h.take(c);
    assert.ok(m?.type === 'signal', `conn ${c}`);
    assert.deepEqual(m.signal, { type: 'chat', data: 'hi all', to: [], from: 'alice', fromSid: 'PA_1' });
  }
  h.send(1, { type: 'signal', signal: { type: 'chat', data: 'psst', to: ['carol'] } });
  assert.deepEqual(h.take(1), []);
  assert.deepEqual(h.take(2), []);
  assert.deepEqual(h.types(3), ['signal']);
});

test('a signal naming an identity not in the room is refused whole with the missing names', () => {
  const h = new Harness();
  h.join(1, 'alice');
  h.join(2, 'bob');
  h.take(1); h.take(2);
  h.send(1, { type: 'signal', signal: { type: 'chat', data: 'x', to: ['bob', 'ghost'] } });
  const [err] = h.take(1);
  assert.ok(err?.type === 'error');
  assert.equal(err.code, ErrorCode.TARGET_NOT_FOUND);
  assert.deepEqual(err.details, { missing: ['ghost'] });
  assert.deepEqual(h.take(2), []);
});

test('signals need canPublishData; track updates need canPublish', () => {
  const h = new Harness();
  h.join(1, 'viewer', 'r', { grants: { canPublishData: false, canPublish: false } });
  h.take(1);
  h.send(1, { type: 'signal', signal: { type: 'chat', data: 'x' } });
  h.send(1, { type: 'update', tracks: [{ sid: 'T', source: 'camera', kind: 'video', streamId: 's', muted: false }] });
  assert.deepEqual(h.types(1), ['error:PERMISSION_DENIED', 'error:PERMISSION_DENIED']);
  h.send(1, { type: 'update', metadata: 'ok' });
  assert.deepEqual(h.types(1), ['participant-updated']);
});

test('bad input gets typed errors; the connection and room stay intact', () => {
  const h = new Harness();
  h.join(1, 'alice');
  h.join(2, 'bob');
  h.take(1); h.take(2);
  h.send(1, '{not json');
  h.send(1, { type: 'teleport' });
  h.send(1, { type: 'sdp', to: 'bob' });
  h.send(1, JSON.stringify({ type: 'signal', signal: { type: 'x', data: 'y'.repeat(70_000) } }));
  assert.deepEqual(h.types(1), ['error:BAD_JSON', 'error:UNKNOWN_TYPE', 'error:INVALID_MESSAGE', 'error:MESSAGE_TOO_LARGE']);
  assert.equal(h.closed.size, 0);
  h.send(1, { type: 'signal', signal: { type: 'chat', data: 'still here', to: ['bob'] } });
  assert.deepEqual(h.types(2), ['signal']);
});

test('repeated abuse closes with 1008 after maxViolations within the window', () => {
  const h = new Harness({ maxViolations: 3 });
  h.join(1, 'alice');
  h.join(2, 'bob');
  h.take(1); h.take(2);
  for (let i = 0; i < 3; i++) h.send(1, 'garbage');
  assert.equal(h.closed.has(1), false);
  h.send(1, 'garbage');
  assert.equal(h.closed.get(1)?.code, CloseCode.POLICY_VIOLATION);
  const msgs = h.types(1);
  assert.deepEqual(msgs.slice(-2), ['error:BAD_JSON', 'closing']);
  // Violations spread out over time are forgiven.
  h.join(3, 'carol');
  for (let i = 0; i < 8; i++) {
    h.send(3, 'garbage');
    h.tick(5_000);
  }
  assert.equal(h.closed.has(3), false);
  assert.equal(h.closed.has(2), false);
});

test('a flood over the rate limit is RATE_LIMITED and refills with time', () => {
  const h = new Harness({ rateLimitPerS: 10, rateLimitBurst: 5, maxViolations: 100 });
  h.join(1, 'alice');
  h.take(1);
  for (let i = 0; i < 8; i++) h.send(1, { type: 'ping', ts: i });
  const types = h.types(1);
  assert.deepEqual(types.filter((t) => t === 'pong').length, 4); // the join took one token
  assert.deepEqual(types.filter((t) => t === 'error:RATE_LIMITED').length, 4);
  h.now += 1000;
  h.send(1, { type: 'ping', ts: 99 });
  assert.deepEqual(h.types(1), ['pong']);
});

test('messages before join are NOT_JOINED; a second join is ALREADY_JOINED', () => {
  const h = new Harness();
  h.open(1);
  h.send(1, { type: 'signal', signal: { type: 'x' } });
  assert.deepEqual(h.types(1), ['error:NOT_JOINED']);
  h.joinOn(1, 'alice');
  h.take(1);
  const { actions, join } = h.core.receive(1, JSON.stringify({ type: 'join', v: 1, token: 't' }), h.now);
  h.apply(actions);
  assert.equal(join, undefined);
  assert.deepEqual(h.types(1), ['error:ALREADY_JOINED']);
});

test('an unsupported protocol version is refused', () => {
  const h = new Harness();
  h.open(1);
  const { actions, join } = h.core.receive(1, JSON.stringify({ type: 'join', v: 99, token: 't' }), h.now);
  h.apply(actions);
  assert.equal(join, undefined);
  assert.deepEqual(h.types(1), ['error:UNSUPPORTED_VERSION', 'closing']);
  assert.equal(h.closed.get(1)?.code, CloseCode.POLICY_VIOLATION);
});

test('token errors and a token for another room close the connection with a typed error', () => {
  const h = new Harness();
  h.join(9, 'bystander', 'r');
  h.take(9);
  h.open(1);
  const { join } = h.core.receive(1, JSON.stringify({ type: 'join', v: 1, token: 't' }), h.now);
  assert.ok(join);
  h.apply(h.core.completeJoin(join, new SignalingError(ErrorCode.TOKEN_EXPIRED, 'expired'), h.now));
  assert.deepEqual(h.types(1), ['error:TOKEN_EXPIRED', 'closing']);
  assert.equal(h.closed.get(1)?.code, CloseCode.AUTH_FAILED);
  h.open(2);
  h.joinOn(2, 'mallory', 'r', {}, undefined, 'other-room');
  assert.deepEqual(h.types(2), ['error:ROOM_MISMATCH', 'closing']);
  assert.deepEqual(h.take(9), [], 'the room saw nothing');
  assert.equal(h.core.roomInfo('r')?.length, 1);
});

test('the join deadline closes idle connections', () => {
  const h = new Harness({ joinTimeoutMs: 5000 });
  h.open(1);
  h.tick(4000);
  assert.equal(h.closed.has(1), false);
  h.tick(1000);
  assert.deepEqual(h.types(1), ['error:JOIN_TIMEOUT', 'closing']);
  assert.equal(h.closed.get(1)?.code, CloseCode.JOIN_TIMEOUT);
});

test('a dropped participant resumes within the grace period and gets what was sent meanwhile', () => {
  const h = new Harness({ reconnectGraceMs: 10_000 });
  h.join(1, 'alice');
  h.join(2, 'bob');
  h.take(1); h.take(2);
  h.drop(1);
  const [upd] = h.take(2);
  assert.ok(upd?.type === 'participant-updated' && upd.participant.state === 'reconnecting');
  h.send(2, { type: 'signal', signal: { type: 'chat', data: 'while away', to: ['alice'] } });
  h.send(2, { type: 'sdp', to: 'alice', description: { type: 'offer', sdp: 'v=0' } });
  assert.deepEqual(h.take(2), [], 'no error for a reconnecting target');
  h.tick(9000);
  h.join(3, 'alice', 'r', {}, 'PA_1');
  const got = h.take(3);
  assert.ok(got[0]?.type === 'joined' && got[0].resumed === true && got[0].participant.sid === 'PA_1');
  assert.deepEqual(got.slice(1).map((m) => m.type), ['signal', 'sdp']);
  const [back] = h.take(2);
  assert.ok(back?.type === 'participant-updated' && back.participant.state === 'active');
  h.tick(5000);
  assert.equal(h.core.roomInfo('r')?.length, 2);
});

test('after the grace period a dropped participant leaves', () => {
  const h = new Harness({ reconnectGraceMs: 10_000 });
  h.join(1, 'alice');
  h.join(2, 'bob');
  h.take(1); h.take(2);
  h.drop(1);
  h.take(2);
  h.tick(10_000);
  const [left] = h.take(2);
  assert.ok(left?.type === 'participant-left');
  assert.equal(left.reason, 'disconnected');
  // A resume after that is a fresh join.
  h.join(3, 'alice', 'r', {}, 'PA_1');
  const [joined] = h.take(3);
  assert.ok(joined?.type === 'joined' && joined.resumed === false && joined.participant.sid !== 'PA_1');
});

test('a second connection with the same identity replaces the first', () => {
  const h = new Harness();
  h.join(1, 'alice');
  h.join(2, 'bob');
  h.take(1); h.take(2);
  h.join(3, 'alice');
  assert.deepEqual(h.types(1), ['closing']);
  assert.equal(h.closed.get(1)?.code, CloseCode.REPLACED);
  const seen = h.take(2);
  assert.deepEqual(seen.map((m) => m.type), ['participant-left', 'participant-joined']);
  assert.ok(seen[0]?.type === 'participant-left' && seen[0].reason === 'replaced');
  h.drop(1); // the old socket's close arrives later and must not disturb the new session
  assert.deepEqual(h.take(2), []);
  assert.equal(h.core.roomInfo('r')?.find((p) => p.identity === 'alice')?.state, 'active');
});

test('leave removes the participant at once and closes the room when empty', () => {
  const h = new Harness();
  h.join(1, 'alice');
  h.join(2, 'bob');
  h.take(1); h.take(2);
  h.send(1, { type: 'leave' });
  assert.deepEqual(h.types(1), ['closing']);
  assert.equal(h.closed.get(1)?.code, CloseCode.NORMAL);
  const [left] = h.take(2);
  assert.ok(left?.type === 'participant-left' && left.reason === 'left');
  h.send(2, { type: 'leave' });
  assert.deepEqual(h.core.listRooms(), []);
});

test('rooms are isolated and have a participant limit', () => {
  const h = new Harness({ maxParticipantsPerRoom: 2 });
  h.join(1, 'a', 'r1');
  h.join(2, 'b', 'r1');
  h.join(3, 'c', 'r2');
  h.take(1); h.take(2); h.take(3);
  h.send(3, { type: 'signal', signal: { type: 'chat', data: 'r2 only' } });
  assert.deepEqual(h.types(3), ['signal']);
  assert.deepEqual(h.take(1), []);
  h.join(4, 'd', 'r1');
  assert.deepEqual(h.types(4), ['error:ROOM_FULL', 'closing']);
});

test('shutdown tells every client and closes with 1001', () => {
  const h = new Harness();
  h.join(1, 'alice');
  h.open(2);
  h.take(1);
  h.apply(h.core.shutdown());
  assert.deepEqual(h.types(1), ['closing']);
  assert.equal(h.closed.get(1)?.code, CloseCode.GOING_AWAY);
  assert.equal(h.closed.get(2)?.code, CloseCode.GOING_AWAY);
});

test('SFU legs: only in sfu rooms, publishing needs canPublish, and the SFU can reach a participant', () => {
  const h = new Harness({ roomPolicy: (room) => (room.startsWith('sfu-') ? 'sfu' : 'p2p') });
  h.join(1, 'alice', 'mesh');
  const [meshJoined] = h.take(1);
  assert.ok(meshJoined?.type === 'joined' && meshJoined.mode === 'p2p');
  h.send(1, { type: 'sfu-sdp', pc: 'publisher', description: { type: 'offer', sdp: 'v=0' } });
  assert.deepEqual(h.types(1), ['error:INVALID_MESSAGE']);
  h.join(2, 'bob', 'sfu-1');
  const [sfuJoined] = h.take(2);
  assert.ok(sfuJoined?.type === 'joined' && sfuJoined.mode === 'sfu');
  const sdp = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=fingerprint:sha-256 AB:CD\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n';
  const { actions } = h.core.receive(2, JSON.stringify({ type: 'sfu-sdp', pc: 'publisher', description: { type: 'offer', sdp } }), h.now);
  const sfu = actions.find((a) => a.kind === 'sfu');
  assert.ok(sfu && sfu.kind === 'sfu' && sfu.room === 'sfu-1' && sfu.identity === 'bob' && sfu.message.type === 'sfu-sdp' && sfu.message.pc === 'publisher');
  // An ICE restart of the subscriber leg goes to the SFU too.
  const restart = h.core.receive(2, JSON.stringify({ type: 'sfu-restart-ice' }), h.now).actions.find((a) => a.kind === 'sfu');
  assert.ok(restart && restart.kind === 'sfu' && restart.message.type === 'sfu-restart-ice' && restart.identity === 'bob');
  h.join(3, 'viewer', 'sfu-1', { grants: { canPublish: false } });
  h.take(3);
  h.send(3, { type: 'sfu-sdp', pc: 'publisher', description: { type: 'offer', sdp } });
  assert.deepEqual(h.types(3), ['error:PERMISSION_DENIED']);
  // A hostile SDP is refused before werift sees it.
  h.take(2);
  h.send(2, { type: 'sfu-sdp', pc: 'publisher', description: { type: 'offer', sdp: sdp.replace(/a=fingerprint[^\r]*\r\n/, '') } });
  assert.deepEqual(h.types(2), ['error:INVALID_SDP']);
  const viewerSid = h.core.roomInfo('sfu-1')!.find((p) => p.identity === 'viewer')!.sid;
  h.apply(h.core.toParticipant('sfu-1', 'viewer', viewerSid, { type: 'sfu-candidate', pc: 'subscriber', candidate: null }));
  assert.deepEqual(h.types(3), ['sfu-candidate']);
  assert.deepEqual(h.core.toParticipant('sfu-1', 'viewer', 'PA_stale', { type: 'pong', ts: 1 }), [], 'a stale sid reaches nobody');
});

test('auto rooms: P2P for two, SFU from three on, back to P2P at two after each client leaves the SFU', () => {
  const h = new Harness({ roomPolicy: () => 'auto' });
  h.join(1, 'alice');
  h.join(2, 'bob');
  const joinedB = h.take(2)[0];
  assert.ok(joinedB?.type === 'joined' && joinedB.mode === 'p2p');
  assert.deepEqual(h.types(1), ['joined', 'participant-joined']);
  assert.deepEqual(h.sfu, []);
  h.join(3, 'carol');
  const joinedC = h.take(3)[0];
  assert.ok(joinedC?.type === 'joined' && joinedC.mode === 'sfu', 'the third joins straight into the SFU');
  const a = h.take(1);
  assert.deepEqual(a.map((m) => m.type), ['participant-joined', 'room-mode']);
  assert.deepEqual(a[1], { type: 'room-mode', mode: 'sfu' });
  assert.deepEqual(h.types(2), ['participant-joined', 'room-mode']);
  assert.deepEqual(h.sfu.sort(), ['join:alice', 'join:bob', 'join:carol']);
  h.sfu.length = 0;
  h.send(3, { type: 'leave' });
  assert.deepEqual(h.sfu, ['leave:carol']);
  assert.deepEqual(h.types(1), ['participant-left', 'room-mode']);
  assert.equal(h.core.roomMode('r'), 'p2p');
  // Make-before-break: alice and bob keep their SFU legs until they say they moved.
  const sdp = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=fingerprint:sha-256 AB:CD\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n';
  const still = h.core.receive(1, JSON.stringify({ type: 'sfu-sdp', pc: 'publisher', description: { type: 'offer', sdp } }), h.now);
  assert.ok(still.actions.some((x) => x.kind === 'sfu'), 'SFU legs still usable during the switch back');
  h.send(1, { type: 'sfu-leave' });
  h.send(1, { type: 'sfu-leave' });
  assert.deepEqual(h.sfu, ['leave:carol', 'leave:alice'], 'sfu-leave is idempotent');
  h.send(1, { type: 'sfu-sdp', pc: 'publisher', description: { type: 'offer', sdp } });
  assert.deepEqual(h.types(1), ['error:INVALID_MESSAGE'], 'no SFU legs after sfu-leave');
  // bob never sent sfu-leave; a new third participant finds him still a member: no second join.
  h.sfu.length = 0;
  h.join(4, 'dave');
  assert.deepEqual(h.sfu.sort(), ['join:alice', 'join:dave']);
  // A late sfu-leave (sent before bob learned the room went back to sfu): bob's client builds
  // new legs for the new sfu mode, so the SFU starts him over instead of refusing.
  h.sfu.length = 0;
  h.take(2);
  h.send(2, { type: 'sfu-leave' });
  assert.deepEqual(h.sfu, ['leave:bob', 'join:bob']);
  assert.deepEqual(h.types(2), [], 'no error');
  // Leaving the room while a member ends the membership too.
  h.sfu.length = 0;
  h.drop(2);
  h.tick(10_000);
  assert.deepEqual(h.sfu, ['leave:bob']);
});

test('room policies: per room, applied to a live room at once, kept for the next one', () => {
  const h = new Harness({ roomPolicy: () => 'auto' });
  assert.deepEqual(h.core.setRoomPolicy('big', 'sfu'), [], 'no live room yet');
  h.join(1, 'alice', 'big');
  const joined = h.take(1)[0];
  assert.ok(joined?.type === 'joined' && joined.mode === 'sfu', 'a one-person sfu room is in the SFU');
  assert.deepEqual(h.sfu, ['join:alice']);
  h.apply(h.core.setRoomPolicy('big', 'p2p'));
  assert.deepEqual(h.take(1), [{ type: 'room-mode', mode: 'p2p' }]);
  assert.equal(h.core.roomPolicy('big'), 'p2p');
  h.join(2, 'x', 'other');
  h.join(3, 'y', 'other');
  h.join(4, 'z', 'other');
  assert.equal(h.core.roomMode('other'), 'sfu', 'the default policy (auto) elsewhere');
  h.apply(h.core.setRoomPolicy('other', 'p2p'));
  assert.equal(h.core.roomMode('other'), 'p2p');
  assert.deepEqual(h.types(2).slice(-1), ['room-mode']);
});

test('track-settings: resolved to the publisher\'s stream for SFU members, unknown tracks ignored', () => {
  const h = new Harness({ roomPolicy: () => 'sfu' });
  h.join(1, 'alice');
  h.join(2, 'bob');
  h.send(1, { type: 'update', tracks: [{ sid: 'TR_1', kind: 'video', source: 'camera', streamId: 'stream-a', muted: false }] });
  h.take(2);
  const { actions } = h.core.receive(2, JSON.stringify({ type: 'track-settings', participant: 'alice', trackSid: 'TR_1', width: 320, height: 180 }), h.now);
  const ts = actions.find((a) => a.kind === 'sfu-track-settings');
  assert.deepEqual(ts, { kind: 'sfu-track-settings', room: 'r', identity: 'bob', publisher: 'alice', streamId: 'stream-a', width: 320, height: 180 });
  const unknown = h.core.receive(2, JSON.stringify({ type: 'track-settings', participant: 'alice', trackSid: 'TR_9', width: 1, height: 1 }), h.now);
  assert.ok(!unknown.actions.some((a) => a.kind === 'sfu-track-settings' || (a.kind === 'send' && a.message.type === 'error')), 'a just-unpublished track is ignored, not an error');
  h.send(2, { type: 'track-settings', participant: 'alice', trackSid: 'TR_1', width: -1, height: 1 });
  assert.deepEqual(h.types(2), ['error:INVALID_MESSAGE']);
});

test('auto rooms: a reload (the same identity replacing itself) does not flap the room to p2p and back', () => {
  const h = new Harness({ roomPolicy: () => 'auto' });
  h.join(1, 'alice');
  h.join(2, 'bob');
  h.join(3, 'carol');
  h.take(1);
  h.sfu.length = 0;
  h.join(4, 'carol'); // carol's new tab
  assert.deepEqual(h.types(1), ['participant-left', 'participant-joined'], 'no room-mode messages');
  assert.equal(h.core.roomMode('r'), 'sfu');
  assert.deepEqual(h.sfu, ['leave:carol', 'join:carol'], 'the new session gets fresh SFU legs');
});

test('recording state: everyone hears when it starts and stops (once), a newcomer right after joined', () => {
  const h = new Harness();
  h.join(1, 'a');
  h.take(1);
  h.apply(h.core.setRecording('r', true));
  assert.deepEqual(h.take(1), [{ type: 'recording', active: true }]);
  h.apply(h.core.setRecording('r', true));
  assert.deepEqual(h.take(1), [], 'no repeat while it stays on');
  h.join(2, 'b');
  assert.deepEqual(h.types(2), ['joined', 'recording']);
  h.take(1);
  h.apply(h.core.setRecording('r', false));
  assert.deepEqual(h.take(1), [{ type: 'recording', active: false }]);
  assert.deepEqual(h.take(2), [{ type: 'recording', active: false }]);
  h.join(3, 'c');
  assert.deepEqual(h.types(3), ['joined']);
  assert.deepEqual(h.core.setRecording('empty-room', true), [], 'a room nobody is in: nothing to send');
});
