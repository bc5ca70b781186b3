/**
 * Runs steps against the sans-I/O {@link SignalingCore} with a fake clock, playing the WebSocket
 * adapter's part (joins verified with the real token verifier and a test key pair, completed
 * when a later step says so), and checks after each step:
 * - nothing throws, and the token verifier throws only typed SignalingErrors;
 * - every message sent is a valid server message (the SDK's parser accepts it, within its 1 MiB);
 *   nothing is sent to a connection that is gone, or after its close; close codes and reasons
 *   are valid WebSocket ones (RFC 6455 §7.4, reason ≤ 123 bytes);
 * - bad frames get the typed error their fault calls for (MESSAGE_TOO_LARGE, BAD_JSON,
 *   UNKNOWN_TYPE, INVALID_MESSAGE), echoing the client's id;
 * - the core's counts and rosters equal what its events said; SFU membership actions pair up;
 *   a resumed participant gets at most the queue limit of missed messages;
 * - when everyone is gone and time has passed, nothing is left (no unbounded growth).
 */
import { parseServerMessage, SignalingError, ErrorCode, type ServerMessage, type TokenClaims } from '@dari/protocol';
import { SignalingCore, verifyToken, type Action, type JoinIntent } from '@dari/server';
import { check } from './target.js';

/** JSON-able limits and policies of a case's core. Durations in ms. */
export interface SignalingConfig {
  maxParticipantsPerRoom: number;
  maxQueuedMessages: number;
  reconnectGraceMs: number;
  joinTimeoutMs: number;
  rateLimitPerS: number;
  rateLimitBurst: number;
  maxViolations: number;
  maxMessageBytes: number;
  /** Room → policy; others are `auto`. */
  policies: [string, 'auto' | 'p2p' | 'sfu'][];
  /** The fake clock's start, ms since the epoch. */
  start: number;
}

export type SignalingStep =
  | { op: 'open'; c: number }
  | { op: 'recv'; c: number; text: string; noLength?: true }
  | { op: 'complete'; c: number }
  | { op: 'disconnect'; c: number }
  | { op: 'tick'; dt: number; quiet?: true }
  | { op: 'policy'; room: string; policy: 'auto' | 'p2p' | 'sfu' }
  | { op: 'expect-idle' };

/** The API key and secret of the fuzz campaign's tokens. */
export const FUZZ_API_KEY = 'fuzzkey';
export const FUZZ_API_SECRET = 'fuzz-secret-0123456789abcdef0123456789';
const KEYS = new Map([[FUZZ_API_KEY, FUZZ_API_SECRET]]);

interface Member {
  sid: string;
}

/** The key of an SFU membership. */
const sfuKey = (room: string, identity: string): string => JSON.stringify([room, identity]);

export class SignalingHarness {
  readonly core: SignalingCore;
  now: number;
  messages = 0;
  readonly tags = new Set<string>();
  /** Open transport connections (opened, not yet disconnected). */
  readonly open = new Set<number>();
  /** Connections the core closed (their disconnect comes later, as with a real socket). */
  readonly closing = new Set<number>();
  readonly pending = new Map<number, JoinIntent>();
  /** Room → identity → member, mirrored from the core's events. */
  readonly rooms = new Map<string, Map<string, Member>>();
  readonly sfu = new Set<string>();
  /** What each connection joined as. */
  readonly joinedAs = new Map<number, { room: string; identity: string; sid: string }>();
  /** [publisher, track sid] seen in presence messages. */
  readonly tracks: [string, string][] = [];
  private n = 0;
  private readonly valid = new WeakSet<object>();

  constructor(readonly config: SignalingConfig) {
    const policies = new Map(config.policies);
    this.core = new SignalingCore({
      iceServers: () => [{ urls: 'stun:192.0.2.1:3478' }],
      newSid: () => `PA_${++this.n}`,
      roomPolicy: (room) => policies.get(room) ?? 'auto',
      maxParticipantsPerRoom: config.maxParticipantsPerRoom,
      maxQueuedMessages: config.maxQueuedMessages,
      reconnectGraceMs: config.reconnectGraceMs,
      joinTimeoutMs: config.joinTimeoutMs,
      rateLimitPerS: config.rateLimitPerS,
      rateLimitBurst: config.rateLimitBurst,
      maxViolations: config.maxViolations,
      maxMessageBytes: config.maxMessageBytes,
    });
    this.now = config.start;
  }

  /** Runs one step; returns the time the core took, ms (token verification excluded). */
  async exec(step: SignalingStep): Promise<number> {
    let actions: Action[] = [];
    let t0 = performance.now();
    switch (step.op) {
      case 'open':
        if (this.open.has(step.c)) return 0;
        actions = this.core.open(step.c, this.now);
        this.open.add(step.c);
        break;
      case 'recv': {
        check(this.open.has(step.c), 'recv on a connection that is not open');
        this.messages++;
        const bytes = Buffer.byteLength(step.text);
        const r = this.core.receive(step.c, step.text, this.now, step.noLength ? undefined : bytes);
        actions = r.actions;
        if (r.join) {
          check(!this.pending.has(step.c) && !this.joinedAs.has(step.c) && !this.closing.has(step.c), 'a join intent for a connection that joined or is joining');
          this.pending.set(step.c, r.join);
        }
        this.checkReply(step, bytes, actions);
        break;
      }
      case 'complete': {
        const intent = this.pending.get(step.c);
        if (!intent) return 0;
        this.pending.delete(step.c);
        let result: TokenClaims | SignalingError;
        try {
          result = await verifyToken(intent.request.token, KEYS, this.now);
        } catch (err) {
          check(err instanceof SignalingError, () => `verifyToken threw ${String(err)}, not a SignalingError`);
          result = err;
        }
        t0 = performance.now();
        actions = this.core.completeJoin(intent, result, this.now);
        this.afterJoin(step.c, result, actions);
        break;
      }
      case 'disconnect':
        if (!this.open.has(step.c)) return 0;
        actions = this.core.disconnect(step.c, this.now);
        this.open.delete(step.c);
        this.closing.delete(step.c);
        this.joinedAs.delete(step.c);
        break;
      case 'tick':
        this.now += step.dt;
        if (!step.quiet) actions = this.core.tick(this.now);
        break;
      case 'policy':
        actions = this.core.setRoomPolicy(step.room, step.policy);
        break;
      case 'expect-idle': {
        const s = this.core.stats();
        check(s.connections === 0 && s.rooms === 0 && s.participants === 0 && this.core.listRooms().length === 0, () => `everyone left long ago, yet the core holds ${JSON.stringify(s)}`);
        return 0;
      }
    }
    const ms = performance.now() - t0;
    this.apply(actions);
    this.checkState();
    return ms;
  }

  /** The reply a bad frame must get, judged without the protocol package. */
  private checkReply(step: Extract<SignalingStep, { op: 'recv' }>, bytes: number, actions: Action[]): void {
    const mine = actions.filter((a) => a.kind === 'send' && a.conn === step.c).map((a) => (a as { message: ServerMessage }).message);
    if (this.closing.has(step.c)) {
      check(actions.length === 0, 'a connection the server closed still gets answers');
      return;
    }
    const err = mine.find((m) => m.type === 'error');
    const code = err?.type === 'error' ? err.code : undefined;
    if (code) this.tags.add(`error:${code}`);
    if (code === ErrorCode.RATE_LIMITED) return;
    let json: unknown;
    let expected: string | undefined;
    if (bytes > this.config.maxMessageBytes) expected = ErrorCode.MESSAGE_TOO_LARGE;
    else {
      try {
        json = JSON.parse(step.text);
        if (typeof json !== 'object' || json === null || Array.isArray(json)) expected = ErrorCode.INVALID_MESSAGE;
        else {
          const type = (json as Record<string, unknown>)['type'];
          if (typeof type !== 'string' || !CLIENT_TYPES.has(type)) expected = ErrorCode.UNKNOWN_TYPE;
        }
      } catch {
        expected = ErrorCode.BAD_JSON;
      }
    }
    const type = json && typeof json === 'object' ? (json as Record<string, unknown>)['type'] : undefined;
    this.tags.add(`recv:${typeof type === 'string' && CLIENT_TYPES.has(type) ? type : '?'}:${code ?? 'ok'}`);
    if (expected) check(code === expected, () => `a frame that calls for ${expected} got ${code ?? mine.map((m) => m.type).join(',') ?? 'nothing'}`);
    else check(code !== ErrorCode.BAD_JSON && code !== ErrorCode.MESSAGE_TOO_LARGE && code !== ErrorCode.UNKNOWN_TYPE, `a well-formed frame got ${code}`);
    if (err?.type === 'error' && json && typeof json === 'object') {
      const id = (json as Record<string, unknown>)['id'];
      if (typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id))) check(err.ref === id, 'an error does not echo the message id');
    }
  }

  private afterJoin(c: number, result: TokenClaims | SignalingError, actions: Action[]): void {
    const sends = actions.filter((a) => a.kind === 'send' && a.conn === c).map((a) => (a as { message: ServerMessage }).message);
    if (!this.open.has(c) || this.closing.has(c)) {
      check(actions.length === 0, 'a join completed for a connection that is gone or closed');
      return;
    }
    const joined = sends.find((m) => m.type === 'joined');
    if (result instanceof SignalingError) {
      check(!joined && sends.some((m) => m.type === 'error' && m.code === result.code), 'a rejected token did not get its error');
      this.tags.add(`join:${result.code}`);
      return;
    }
    if (!joined || joined.type !== 'joined') {
      check(sends.some((m) => m.type === 'error' && (m.code === ErrorCode.ROOM_FULL || m.code === ErrorCode.ROOM_MISMATCH)), 'a valid token neither joined nor got ROOM_FULL/ROOM_MISMATCH');
      return;
    }
    check(joined.room === result.room && joined.participant.identity === result.sub, 'joined the wrong room or as someone else');
    check(joined.participants.every((p) => p.identity !== result.sub), 'joined lists the participant among the others');
    check(joined.participants.length < this.config.maxParticipantsPerRoom, 'joined lists more participants than a room holds');
    const after = sends.slice(sends.indexOf(joined) + 1);
    check(after.length <= this.config.maxQueuedMessages, `a resumed participant got ${after.length} queued messages, over the limit`);
    this.joinedAs.set(c, { room: result.room, identity: result.sub, sid: joined.participant.sid });
    this.tags.add(joined.resumed ? 'join:resumed' : 'join:new');
  }

  /** Applies actions to the model (as the adapter would to sockets), checking each. */
  private apply(actions: Action[]): void {
    const closedNow = new Set<number>();
    for (const a of actions) {
      switch (a.kind) {
        case 'send': {
          check(this.open.has(a.conn), `a message to connection ${a.conn}, which is gone`);
          check(!closedNow.has(a.conn), 'a message after the close of its connection');
          if (!this.valid.has(a.message)) {
            // A broadcast is one object sent to many: validated once.
            const text = JSON.stringify(a.message);
            const parsed = parseServerMessage(text);
            check(parsed.ok, () => `an invalid server message (${a.message.type}, ${text.length} chars): ${parsed.ok ? '' : parsed.message}`);
            this.valid.add(a.message);
          }
          this.tags.add(`send:${a.message.type}`);
          if (a.message.type === 'participant-joined' || a.message.type === 'participant-updated') {
            for (const t of a.message.participant.tracks) if (this.tracks.length < 64) this.tracks.push([a.message.participant.identity, t.sid]);
          }
          break;
        }
        case 'close':
          check(this.open.has(a.conn), 'a close of a connection that is gone');
          check([1000, 1001, 1008].includes(a.code) || (a.code >= 4000 && a.code <= 4999), `close code ${a.code}`);
          check(Buffer.byteLength(a.reason) <= 123, 'a close reason over 123 bytes');
          closedNow.add(a.conn);
          this.closing.add(a.conn);
          this.joinedAs.delete(a.conn);
          this.tags.add(`close:${a.code}`);
          break;
        case 'sfu-join': {
          const k = sfuKey(a.room, a.identity);
          check(!this.sfu.has(k), `sfu-join for ${k}, already a member`);
          this.sfu.add(k);
          this.tags.add('sfu-join');
          break;
        }
        case 'sfu-leave': {
          const k = sfuKey(a.room, a.identity);
          check(this.sfu.has(k), `sfu-leave for ${k}, not a member`);
          this.sfu.delete(k);
          this.tags.add('sfu-leave');
          break;
        }
        case 'sfu':
        case 'sfu-track-settings':
          check(this.sfu.has(sfuKey(a.room, a.identity)), `${a.kind} from a participant that is not an SFU member`);
          this.tags.add(a.kind);
          break;
        case 'event': {
          const e = a.event;
          this.tags.add(`event:${e.type}`);
          if (e.type === 'participant-joined') {
            const room = this.rooms.get(e.room) ?? new Map<string, Member>();
            this.rooms.set(e.room, room);
            const m = room.get(e.identity);
            check(e.resumed ? m?.sid === e.sid : !m, `participant-joined (resumed ${e.resumed}) for ${e.identity} disagrees with the roster`);
            room.set(e.identity, { sid: e.sid });
          } else if (e.type === 'participant-left') {
            const room = this.rooms.get(e.room);
            check(room?.get(e.identity)?.sid === e.sid, `participant-left for ${e.identity}, who was not in ${e.room}`);
            room.delete(e.identity);
            if (room.size === 0) this.rooms.delete(e.room);
          }
        }
      }
    }
  }

  private checkState(): void {
    const s = this.core.stats();
    let participants = 0;
    for (const room of this.rooms.values()) participants += room.size;
    check(s.connections === this.open.size, () => `the core holds ${s.connections} connections, ${this.open.size} are open`);
    check(s.rooms === this.rooms.size && s.participants === participants, () => `the core holds ${s.rooms} rooms and ${s.participants} participants, its events say ${this.rooms.size} and ${participants}`);
    for (const [name, members] of this.rooms) {
      const info = this.core.roomInfo(name);
      check(info !== undefined && info.length === members.size && info.every((p) => members.get(p.identity)?.sid === p.sid), `room ${name}'s roster differs from its events`);
      check(members.size <= this.config.maxParticipantsPerRoom, `room ${name} over its size`);
    }
    for (const k of this.sfu) {
      const [room, identity] = JSON.parse(k) as [string, string];
      check(this.rooms.get(room)?.has(identity), `SFU member ${k} is not in the room`);
    }
  }
}

const CLIENT_TYPES = new Set(['join', 'leave', 'sdp', 'candidate', 'signal', 'update', 'ping', 'sfu-sdp', 'sfu-candidate', 'sfu-leave', 'track-settings']);
