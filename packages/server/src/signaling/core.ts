/**
 * The signaling room server as a sans-I/O state machine.
 *
 * It owns rooms, participants and per-connection policy (rate limit, abuse counting, join
 * deadline, reconnect grace). It never touches a socket or a timer: the adapter feeds it
 * connection events with the current time in ms and carries out the {@link Action}s it returns.
 * Token verification is asynchronous (WebCrypto), so a `join` is handed back to the adapter as a
 * {@link JoinIntent}, verified there, and completed with {@link SignalingCore.completeJoin}.
 *
 * Semantics are those of docs/protocol.md.
 */
import {
  ErrorCode,
  PROTOCOL_VERSION,
  SignalingError,
  parseClientMessage,
  type ClientMessageOf,
  type Grants,
  type IceServer,
  type LeaveReason,
  type ParticipantInfo,
  type ServerMessage,
  type TokenClaims,
  type TrackInfo,
} from '@dari/protocol';
import { MAX_M_LINES, sdpProblem } from '@dari/sfu/core';
import { sdpRelayText } from './relay-text.js';

/** Opaque connection handle chosen by the adapter. */
export type ConnId = number;

/** What the adapter must do. */
export type Action =
  /** `text`, when given, is `message` already serialized (the adapter sends it as it is). */
  | { kind: 'send'; conn: ConnId; message: ServerMessage; text?: string }
  | { kind: 'close'; conn: ConnId; code: number; reason: string }
  | { kind: 'event'; event: CoreEvent }
  /** An SFU-leg message of a participant that is a member of the room's SFU. */
  | { kind: 'sfu'; room: string; identity: string; sid: string; message: ClientMessageOf<'sfu-sdp'> | ClientMessageOf<'sfu-candidate'> | ClientMessageOf<'sfu-restart-ice'> }
  /** Make the participant a member of the room's SFU (create its publisher and subscriber legs). */
  | { kind: 'sfu-join'; room: string; identity: string; sid: string }
  /** The participant is no longer a member of the room's SFU (left the room, or the room went back to P2P). */
  | { kind: 'sfu-leave'; room: string; identity: string }
  /** Adaptive stream: the size, in device pixels, at which `identity` renders `publisher`'s video of `streamId`. */
  | { kind: 'sfu-track-settings'; room: string; identity: string; publisher: string; streamId: string; width: number; height: number };

/** Media topology of a room at a given moment. */
export type RoomMode = 'p2p' | 'sfu';
/**
 * How a room chooses its topology: always `p2p` (full mesh), always `sfu`, or `auto`: P2P while
 * the room has at most two participants, the SFU from three on (and back to P2P at two).
 */
export type RoomPolicy = 'auto' | RoomMode | 'mcu';

/** Lifecycle facts for logs and metrics. */
export type CoreEvent =
  | { type: 'participant-joined'; room: string; identity: string; sid: string; resumed: boolean }
  | { type: 'participant-left'; room: string; identity: string; sid: string; reason: LeaveReason }
  | { type: 'participant-reconnecting'; room: string; identity: string; sid: string }
  | { type: 'room-created'; room: string }
  | { type: 'room-closed'; room: string }
  /** A participant's tracks or metadata changed (scale-out: the room's snapshot is stale). */
  | { type: 'room-changed'; room: string }
  | { type: 'protocol-error'; conn: ConnId; code: ErrorCode; message: string }
  | { type: 'message'; conn: ConnId; messageType: string };

/** A join that needs its token verified by the adapter. */
export interface JoinIntent {
  conn: ConnId;
  request: ClientMessageOf<'join'>;
}

/** WebSocket close codes used by the server (RFC 6455 §7.4). */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  POLICY_VIOLATION: 1008,
  /** Application range: replaced by a newer connection with the same identity. */
  REPLACED: 4000,
  /** Application range: authentication failed. */
  AUTH_FAILED: 4001,
  /** Application range: no join before the join deadline. */
  JOIN_TIMEOUT: 4002,
  /** RFC 6455 registry: the node restarts or drains; reconnect (the session resumes elsewhere). */
  SERVICE_RESTART: 1012,
  /** RFC 6455 registry: try again later (scale-out: the cluster cannot take the join now). */
  TRY_AGAIN_LATER: 1013,
} as const;

/** Options of {@link SignalingCore}; every duration in ms. */
export interface CoreOptions {
  /** Largest frame in bytes; default 65536. */
  maxMessageBytes: number;
  /** Sustained messages per second per connection (token bucket rate); default 50. */
  rateLimitPerS: number;
  /** Token bucket size, in messages; default 200. */
  rateLimitBurst: number;
  /** Protocol violations tolerated within {@link violationWindowMs} before closing with 1008; default 10. */
  maxViolations: number;
  /** Window for counting violations, ms; default 10000. */
  violationWindowMs: number;
  /** How long a dropped participant stays in its room, ms; default 10000. */
  reconnectGraceMs: number;
  /** Time allowed between connect and join, ms; default 10000. */
  joinTimeoutMs: number;
  /** Participants per room; default 100. */
  maxParticipantsPerRoom: number;
  /** Messages kept for a participant while reconnecting; older ones are dropped; default 512. */
  maxQueuedMessages: number;
  /** ICE servers handed to a participant at join (may mint fresh TURN credentials). */
  iceServers: (identity: string) => IceServer[];
  /** Participant sid generator; default crypto.randomUUID based. */
  newSid: () => string;
  /** Topology policy of a new room (see {@link SignalingCore.setRoomPolicy} for per-room settings); default always 'auto'. */
  roomPolicy: (room: string) => RoomPolicy;
  /** Scale-out: this node's id, sent in `joined.node`; default none (one node). */
  node?: string | undefined;
}

export const DEFAULT_CORE_OPTIONS: Omit<CoreOptions, 'iceServers' | 'newSid' | 'roomPolicy' | 'node'> = {
  maxMessageBytes: 64 * 1024,
  rateLimitPerS: 50,
  rateLimitBurst: 200,
  maxViolations: 10,
  violationWindowMs: 10_000,
  reconnectGraceMs: 10_000,
  joinTimeoutMs: 10_000,
  maxParticipantsPerRoom: 100,
  maxQueuedMessages: 512,
};

interface Conn {
  id: ConnId;
  state: 'new' | 'joining' | 'joined' | 'closed';
  openedAt: number;
  tokens: number;
  refilledAt: number;
  violations: number[];
  participant: Participant | null;
}

interface Participant {
  sid: string;
  identity: string;
  name: string;
  metadata: string;
  joinedAt: number;
  grants: Grants;
  tracks: TrackInfo[];
  room: Room;
  conn: ConnId | null;
  disconnectedAt: number | null;
  queue: ServerMessage[];
  /** Member of the room's SFU (has publisher and subscriber legs there). */
  inSfu: boolean;
  /** A participant without a signaling connection (WHIP publisher, camera): its adapter owns its SFU membership. */
  ingress?: NonNullable<ParticipantInfo['ingress']>;
}

interface Room {
  name: string;
  policy: RoomPolicy;
  mode: RoomMode;
  participants: Map<string, Participant>;
}

const DEFAULT_GRANTS: Grants = { canPublish: true, canSubscribe: true, canPublishData: true };

export class SignalingCore {
  readonly options: CoreOptions;
  private readonly conns = new Map<ConnId, Conn>();
  private readonly rooms = new Map<string, Room>();
  /** Per-room policies set through {@link setRoomPolicy}; they outlive the room. */
  private readonly policies = new Map<string, RoomPolicy>();
  /** Rooms being recorded (an egress starting or active), set through {@link setRecording}. */
  private readonly recording = new Set<string>();

  constructor(options: Partial<CoreOptions> & Pick<CoreOptions, 'iceServers'>) {
    this.options = {
      ...DEFAULT_CORE_OPTIONS,
      newSid: () => `PA_${globalThis.crypto.randomUUID().replace(/-/g, '').slice(0, 12)}`,
      roomPolicy: () => 'auto',
      ...options,
    };
  }

  /** Counts for metrics. */
  stats(): { connections: number; rooms: number; participants: number; roomsByMode: Record<RoomMode, number> } {
    let participants = 0;
    const roomsByMode: Record<RoomMode, number> = { p2p: 0, sfu: 0 };
    for (const room of this.rooms.values()) {
      participants += room.participants.size;
      roomsByMode[room.mode]++;
    }
    return { connections: this.conns.size, rooms: this.rooms.size, participants, roomsByMode };
  }

  /** Participants of a room as presence info, or undefined when the room does not exist. */
  roomInfo(name: string): ParticipantInfo[] | undefined {
    const room = this.rooms.get(name);
    return room ? [...room.participants.values()].map(info) : undefined;
  }

  /** List of room names with their participant counts. */
  listRooms(): { room: string; participants: number }[] {
    return [...this.rooms.values()].map((r) => ({ room: r.name, participants: r.participants.size }));
  }

  /**
   * A message from the SFU to a participant (queued while it reconnects).
   * @returns the actions, empty when the participant is not (any more) in the room
   */
  toParticipant(room: string, identity: string, sid: string, message: ServerMessage): Action[] {
    const p = this.rooms.get(room)?.participants.get(identity);
    if (!p || p.sid !== sid) return [];
    const out: Action[] = [];
    this.deliver(p, message, out);
    return out;
  }

  /** The mode of a live room, if it exists. */
  roomMode(room: string): RoomMode | undefined {
    return this.rooms.get(room)?.mode;
  }

  /**
   * Sets a room's topology policy (LiveKit's CreateRoom, with Dari's `mode`); it applies to the
   * live room at once (participants get `room-mode` and move) and to the room when next created.
   * @returns the actions for the live room, if any
   */
  setRoomPolicy(name: string, policy: RoomPolicy): Action[] {
    this.policies.set(name, policy);
    const room = this.rooms.get(name);
    const out: Action[] = [];
    if (room) {
      room.policy = policy;
      this.retopologize(room, out);
    }
    return out;
  }

  /**
   * Sets whether a room is being recorded: on a change everyone in it gets `recording`; while it
   * records, a newcomer gets it after `joined`.
   * @returns the actions for the live room, if any
   */
  setRecording(name: string, active: boolean): Action[] {
    if (this.recording.has(name) === active) return [];
    if (active) this.recording.add(name);
    else this.recording.delete(name);
    const room = this.rooms.get(name);
    const out: Action[] = [];
    if (room) this.broadcast(room, { type: 'recording', active }, out);
    return out;
  }

  /** The policy a room has or would get. */
  roomPolicy(name: string): RoomPolicy {
    return this.rooms.get(name)?.policy ?? this.policies.get(name) ?? this.options.roomPolicy(name);
  }

  /** A transport connection opened. */
  open(conn: ConnId, now: number): Action[] {
    this.conns.set(conn, {
      id: conn,
      state: 'new',
      openedAt: now,
      tokens: this.options.rateLimitBurst,
      refilledAt: now,
      violations: [],
      participant: null,
    });
    return [];
  }

  /**
   * A text frame arrived (`byteLength`: its size in bytes, if known). Returns actions, plus a join intent when the frame was a valid `join`.
   * Never throws; bad input yields an `error` frame (and, on repeated abuse, a 1008 close).
   */
  receive(connId: ConnId, text: string, now: number, byteLength?: number): { actions: Action[]; join?: JoinIntent } {
    const conn = this.conns.get(connId);
    if (!conn || conn.state === 'closed') return { actions: [] };
    const out: Action[] = [];
    if (!this.takeToken(conn, now)) {
      this.violation(conn, now, out, ErrorCode.RATE_LIMITED, 'rate limit exceeded; message dropped');
      return { actions: out };
    }
    const parsed = parseClientMessage(text, this.options.maxMessageBytes, byteLength);
    if (!parsed.ok) {
      this.violation(conn, now, out, parsed.code, parsed.message, parsed.ref);
      return { actions: out };
    }
    const msg = parsed.message;
    out.push({ kind: 'event', event: { type: 'message', conn: connId, messageType: msg.type } });
    if (msg.type === 'ping') {
      out.push(send(connId, { type: 'pong', ts: msg.ts }));
      return { actions: out };
    }
    if (msg.type === 'join') {
      if (conn.state !== 'new') {
        this.violation(conn, now, out, ErrorCode.ALREADY_JOINED, 'this connection has already joined', msg.id);
        return { actions: out };
      }
      if (msg.v !== PROTOCOL_VERSION) {
        this.fail(conn, out, ErrorCode.UNSUPPORTED_VERSION, `protocol version ${msg.v} is not supported; this server speaks ${PROTOCOL_VERSION}`, CloseCode.POLICY_VIOLATION, msg.id);
        return { actions: out };
      }
      conn.state = 'joining';
      return { actions: out, join: { conn: connId, request: msg } };
    }
    const p = conn.participant;
    if (conn.state !== 'joined' || !p) {
      this.violation(conn, now, out, ErrorCode.NOT_JOINED, `${msg.type} before join`, msg.id);
      return { actions: out };
    }
    switch (msg.type) {
      case 'leave':
        this.removeParticipant(p, 'left', out);
        out.push(send(connId, { type: 'closing', reason: 'left' }), close(connId, CloseCode.NORMAL, 'left'));
        conn.state = 'closed';
        conn.participant = null;
        break;
      case 'sdp':
      case 'candidate': {
        const target = p.room.participants.get(msg.to);
        if (!target || target === p) {
          this.violation(conn, now, out, ErrorCode.TARGET_NOT_FOUND, `no participant ${JSON.stringify(msg.to)} in room`, msg.id, { missing: [msg.to] });
          break;
        }
        if (msg.type === 'sdp') {
          // The SDP is most of the frame: relayed as the sender's JSON text, not serialized again.
          const forwarded: ServerMessage = { type: 'sdp', from: p.identity, fromSid: p.sid, description: msg.description };
          this.deliver(target, forwarded, out, sdpRelayText(text, p.identity, p.sid, msg.description) ?? undefined);
        } else {
          this.deliver(target, { type: 'candidate', from: p.identity, fromSid: p.sid, candidate: msg.candidate }, out);
        }
        break;
      }
      case 'signal': {
        if (!p.grants.canPublishData) {
          this.violation(conn, now, out, ErrorCode.PERMISSION_DENIED, 'token lacks canPublishData', msg.id);
          break;
        }
        const to = msg.signal.to;
        const targets: Participant[] = [];
        if (to.length === 0) {
          targets.push(...p.room.participants.values());
        } else {
          const missing: string[] = [];
          for (const identity of new Set(to)) {
            const t = p.room.participants.get(identity);
            if (t) targets.push(t);
            else missing.push(identity);
          }
          if (missing.length > 0) {
            this.violation(conn, now, out, ErrorCode.TARGET_NOT_FOUND, `not in room: ${missing.join(', ')}; signal not sent`, msg.id, { missing });
            break;
          }
        }
        const event: ServerMessage = {
          type: 'signal',
          signal: { type: msg.signal.type, data: msg.signal.data, to, from: p.identity, fromSid: p.sid },
        };
        for (const t of targets) this.deliver(t, event, out);
        break;
      }
      case 'sfu-sdp':
      case 'sfu-candidate': {
        if (!p.inSfu) {
          this.violation(conn, now, out, ErrorCode.INVALID_MESSAGE, `room ${JSON.stringify(p.room.name)} is not in sfu mode`, msg.id);
          break;
        }
        if (msg.type === 'sfu-sdp' && msg.pc === 'publisher' && !p.grants.canPublish) {
          this.violation(conn, now, out, ErrorCode.PERMISSION_DENIED, 'token lacks canPublish', msg.id);
          break;
        }
        // A subscriber answer mirrors the SFU's own offer, whose m-lines grow with the room:
        // the m-line cap is for what clients offer.
        const problem = msg.type === 'sfu-sdp' ? sdpProblem(msg.description.sdp, msg.pc === 'publisher' ? MAX_M_LINES : Infinity, msg.pc) : null;
        if (problem) {
          this.violation(conn, now, out, ErrorCode.INVALID_SDP, problem, msg.id);
          break;
        }
        out.push({ kind: 'sfu', room: p.room.name, identity: p.identity, sid: p.sid, message: msg });
        break;
      }
      case 'sfu-restart-ice':
        // Not in the SFU (any more): a race with a switch to P2P, not abuse; nothing to restart.
        if (p.inSfu) out.push({ kind: 'sfu', room: p.room.name, identity: p.identity, sid: p.sid, message: msg });
        break;
      case 'sfu-leave':
        if (!p.inSfu) break;
        out.push({ kind: 'sfu-leave', room: p.room.name, identity: p.identity });
        if (p.room.mode === 'sfu') {
          // Sent before the client learned the room went back to sfu: it builds new legs, so
          // the SFU starts over with fresh ones too.
          out.push({ kind: 'sfu-join', room: p.room.name, identity: p.identity, sid: p.sid });
        } else p.inSfu = false;
        break;
      case 'track-settings': {
        const publisher = p.room.participants.get(msg.participant);
        const track = publisher?.tracks.find((t) => t.sid === msg.trackSid);
        // A track unpublished (or a participant gone) a moment ago is a race, not abuse: ignored.
        if (!publisher || !track) break;
        if (p.inSfu) out.push({ kind: 'sfu-track-settings', room: p.room.name, identity: p.identity, publisher: publisher.identity, streamId: track.streamId, width: msg.width, height: msg.height });
        break;
      }
      case 'update': {
        if (msg.tracks && msg.tracks.length > 0 && !p.grants.canPublish) {
          this.violation(conn, now, out, ErrorCode.PERMISSION_DENIED, 'token lacks canPublish', msg.id);
          break;
        }
        if (msg.metadata !== undefined) p.metadata = msg.metadata;
        if (msg.tracks !== undefined) p.tracks = msg.tracks;
        this.broadcast(p.room, { type: 'participant-updated', participant: info(p) }, out);
        out.push({ kind: 'event', event: { type: 'room-changed', room: p.room.name } });
        break;
      }
    }
    return { actions: out };
  }

  /**
   * Finishes a join after the adapter verified the token.
   * @param result verified claims, or the SignalingError the verification produced
   */
  completeJoin(intent: JoinIntent, result: TokenClaims | SignalingError, now: number): Action[] {
    const conn = this.conns.get(intent.conn);
    if (!conn || conn.state !== 'joining') return [];
    const out: Action[] = [];
    const req = intent.request;
    if (result instanceof SignalingError) {
      this.fail(conn, out, result.code, result.message, CloseCode.AUTH_FAILED, req.id);
      return out;
    }
    if (req.room !== undefined && req.room !== result.room) {
      this.fail(conn, out, ErrorCode.ROOM_MISMATCH, `token is for room ${JSON.stringify(result.room)}, not ${JSON.stringify(req.room)}`, CloseCode.AUTH_FAILED, req.id);
      return out;
    }
    let room = this.rooms.get(result.room);
    const existing = room?.participants.get(result.sub);
    if (existing?.ingress) {
      // A camera or WHIP publisher holds the identity; a browser does not replace it.
      this.fail(conn, out, ErrorCode.PERMISSION_DENIED, `${JSON.stringify(result.sub)} is an ingress (${existing.ingress.type}) in room ${JSON.stringify(result.room)}`, CloseCode.AUTH_FAILED, req.id);
      return out;
    }
    if (room && existing && req.resume && req.resume.sid === existing.sid) {
      // Resume: same session, peers keep their peer connections.
      if (existing.conn !== null && existing.conn !== conn.id) this.detach(existing.conn, 'replaced', out);
      const wasReconnecting = existing.disconnectedAt !== null;
      existing.conn = conn.id;
      existing.disconnectedAt = null;
      conn.state = 'joined';
      conn.participant = existing;
      out.push(send(conn.id, this.joinedMessage(existing, true)));
      for (const queued of existing.queue.splice(0)) out.push(send(conn.id, queued));
      if (wasReconnecting) this.broadcast(room, { type: 'participant-updated', participant: info(existing) }, out, existing);
      out.push({ kind: 'event', event: { type: 'participant-joined', room: room.name, identity: existing.identity, sid: existing.sid, resumed: true } });
      return out;
    }
    if (room && existing) {
      // A second tab (or a client that lost its session) replaces the first. The room keeps its
      // size, so its topology is decided after the newcomer is in (no p2p/sfu flap).
      if (existing.conn !== null) this.detach(existing.conn, 'replaced', out);
      this.removeParticipant(existing, 'replaced', out, false);
      room = this.rooms.get(result.room);
    }
    if (room && room.participants.size >= this.options.maxParticipantsPerRoom) {
      this.fail(conn, out, ErrorCode.ROOM_FULL, `room ${JSON.stringify(result.room)} is full (${this.options.maxParticipantsPerRoom})`, CloseCode.POLICY_VIOLATION, req.id);
      return out;
    }
    if (!room) {
      const policy = this.roomPolicy(result.room);
      room = { name: result.room, policy, mode: policy === 'sfu' ? 'sfu' : 'p2p', participants: new Map() };
      this.rooms.set(room.name, room);
      out.push({ kind: 'event', event: { type: 'room-created', room: room.name } });
    }
    const p: Participant = {
      sid: this.options.newSid(),
      identity: result.sub,
      name: result.name ?? result.sub,
      metadata: req.metadata ?? result.metadata ?? '',
      joinedAt: now,
      grants: {
        canPublish: result.grants?.canPublish ?? DEFAULT_GRANTS.canPublish,
        canSubscribe: result.grants?.canSubscribe ?? DEFAULT_GRANTS.canSubscribe,
        canPublishData: result.grants?.canPublishData ?? DEFAULT_GRANTS.canPublishData,
      },
      tracks: [],
      room,
      conn: conn.id,
      disconnectedAt: null,
      queue: [],
      inSfu: false,
    };
    this.broadcast(room, { type: 'participant-joined', participant: info(p) }, out);
    room.participants.set(p.identity, p);
    conn.state = 'joined';
    conn.participant = p;
    // The newcomer learns the (possibly new) mode from `joined`; the others from `room-mode`.
    const mode = this.wantedMode(room);
    if (mode !== room.mode) {
      room.mode = mode;
      this.broadcast(room, { type: 'room-mode', mode }, out, p);
    }
    out.push(send(conn.id, this.joinedMessage(p, false)));
    if (this.recording.has(room.name)) out.push(send(conn.id, { type: 'recording', active: true }));
    out.push({ kind: 'event', event: { type: 'participant-joined', room: room.name, identity: p.identity, sid: p.sid, resumed: false } });
    this.retopologize(room, out);
    return out;
  }

  /** The transport connection closed (by either side). */
  disconnect(connId: ConnId, now: number): Action[] {
    const conn = this.conns.get(connId);
    if (!conn) return [];
    this.conns.delete(connId);
    const p = conn.participant;
    const out: Action[] = [];
    if (p && p.conn === connId) {
      p.conn = null;
      p.disconnectedAt = now;
      this.broadcast(p.room, { type: 'participant-updated', participant: info(p) }, out, p);
      out.push({ kind: 'event', event: { type: 'participant-reconnecting', room: p.room.name, identity: p.identity, sid: p.sid } });
    }
    return out;
  }

  /** Advances time: join deadlines and reconnect grace periods. Call about once a second. */
  tick(now: number): Action[] {
    const out: Action[] = [];
    for (const conn of this.conns.values()) {
      if (conn.state === 'new' && now - conn.openedAt >= this.options.joinTimeoutMs) {
        this.fail(conn, out, ErrorCode.JOIN_TIMEOUT, `no join within ${this.options.joinTimeoutMs} ms`, CloseCode.JOIN_TIMEOUT);
      }
    }
    for (const room of [...this.rooms.values()]) {
      for (const p of [...room.participants.values()]) {
        if (p.disconnectedAt !== null && now - p.disconnectedAt >= this.options.reconnectGraceMs) {
          this.removeParticipant(p, 'disconnected', out);
        }
      }
    }
    return out;
  }

  /**
   * Server shutdown: tells every client and closes every connection: `server-shutdown` with 1001,
   * or, when the server expects its clients back (it saved its rooms for a restart),
   * `reconnect` with 1012, and the SDK resumes once the server is up again.
   */
  shutdown(reason: 'server-shutdown' | 'reconnect' = 'server-shutdown'): Action[] {
    const out: Action[] = [];
    const code = reason === 'reconnect' ? CloseCode.SERVICE_RESTART : CloseCode.GOING_AWAY;
    for (const conn of this.conns.values()) {
      if (conn.state === 'closed') continue;
      out.push(send(conn.id, { type: 'closing', reason }), close(conn.id, code, reason === 'reconnect' ? 'server restarts' : 'server shutdown'));
      conn.state = 'closed';
    }
    return out;
  }

  // ---------------------------------------------------------------- ingress participants (docs/ingest.md)

  /**
   * Adds a participant that has no signaling connection (a WHIP publisher, an RTSP camera): the
   * others see it join like anyone else; an `auto` room goes to `sfu` mode while it is in (it is
   * reached through the SFU only). Its adapter joins it to the SFU itself.
   * @returns its sid and the actions, or why not: `identity-taken` (someone of that identity is in
   *   the room), `room-full`
   */
  addIngressParticipant(
    roomName: string,
    p: { identity: string; name?: string | undefined; metadata?: string | undefined; ingress: NonNullable<ParticipantInfo['ingress']> },
    now: number,
  ): { sid: string; actions: Action[] } | { error: 'identity-taken' | 'room-full'; message: string } {
    let room = this.rooms.get(roomName);
    if (room?.participants.has(p.identity)) return { error: 'identity-taken', message: `${JSON.stringify(p.identity)} is already in room ${JSON.stringify(roomName)}` };
    if (room && room.participants.size >= this.options.maxParticipantsPerRoom) return { error: 'room-full', message: `room ${JSON.stringify(roomName)} is full (${this.options.maxParticipantsPerRoom})` };
    const out: Action[] = [];
    if (!room) {
      const policy = this.roomPolicy(roomName);
      room = { name: roomName, policy, mode: policy === 'sfu' ? 'sfu' : 'p2p', participants: new Map() };
      this.rooms.set(room.name, room);
      out.push({ kind: 'event', event: { type: 'room-created', room: room.name } });
    }
    const participant: Participant = {
      sid: this.options.newSid(),
      identity: p.identity,
      name: p.name ?? p.identity,
      metadata: p.metadata ?? '',
      joinedAt: now,
      grants: { canPublish: true, canSubscribe: false, canPublishData: false },
      tracks: [],
      room,
      conn: null,
      disconnectedAt: null,
      queue: [],
      inSfu: false,
      ingress: p.ingress,
    };
    this.broadcast(room, { type: 'participant-joined', participant: info(participant) }, out);
    room.participants.set(p.identity, participant);
    out.push({ kind: 'event', event: { type: 'participant-joined', room: room.name, identity: p.identity, sid: participant.sid, resumed: false } });
    this.retopologize(room, out);
    return { sid: participant.sid, actions: out };
  }

  /** New tracks or state of an ingress participant (everyone gets `participant-updated`); [] when it is not in the room. */
  updateIngressParticipant(roomName: string, identity: string, update: { tracks?: TrackInfo[]; ingress?: NonNullable<ParticipantInfo['ingress']> }): Action[] {
    const p = this.rooms.get(roomName)?.participants.get(identity);
    if (!p?.ingress) return [];
    if (update.tracks) p.tracks = update.tracks;
    if (update.ingress) p.ingress = update.ingress;
    const out: Action[] = [];
    this.broadcast(p.room, { type: 'participant-updated', participant: info(p) }, out);
    return out;
  }

  /**
   * Removes an ingress participant (`participant-left`, reason `left`); [] when it is not in the
   * room (or, with `sid`, when that session is no longer the one of this identity).
   */
  removeIngressParticipant(roomName: string, identity: string, sid?: string): Action[] {
    const p = this.rooms.get(roomName)?.participants.get(identity);
    if (!p?.ingress || (sid !== undefined && p.sid !== sid)) return [];
    const out: Action[] = [];
    this.removeParticipant(p, 'left', out);
    return out;
  }

  // ---------------------------------------------------------------- scale-out (docs/scaling.md)

  /** The connection was handed to another node (its join is relayed there): forget it, silently. */
  release(connId: ConnId): void {
    this.conns.delete(connId);
  }

  /**
   * Refuses a join for a reason the client should retry (scale-out: CLUSTER_UNAVAILABLE): a typed
   * error, then a 1013 close with no `closing` frame, so the SDK tries again.
   */
  refuseJoin(intent: JoinIntent, error: SignalingError): Action[] {
    const conn = this.conns.get(intent.conn);
    if (!conn || conn.state !== 'joining') return [];
    conn.state = 'closed';
    return [
      send(conn.id, errorMessage(error.code, error.message, intent.request.id)),
      { kind: 'event', event: { type: 'protocol-error', conn: conn.id, code: error.code, message: error.message } },
      close(conn.id, CloseCode.TRY_AGAIN_LATER, error.code),
    ];
  }

  /** What another node needs to adopt the room: its policy, mode and participants (sids included). */
  snapshotRoom(name: string): { policy: RoomPolicy; mode: RoomMode; participants: ParticipantInfo[] } | undefined {
    const room = this.rooms.get(name);
    if (!room) return undefined;
    return { policy: room.policy, mode: room.mode, participants: [...room.participants.values()].map(info) };
  }

  /**
   * Takes over a room whose node died or drained (or that this server saved before a restart),
   * from its snapshot: every participant is in it as reconnecting (their grace period starts at
   * `now`, or at `disconnectedSince` when given), so each can resume with its sid and keep
   * its peer connections; those who do not come back leave when their grace period ends. An
   * `sfu` room gets fresh SFU membership for everyone (the old node's SFU legs are gone).
   * No-op when the room exists here already.
   */
  adoptRoom(snapshot: { room: string; policy: RoomPolicy; participants: readonly Omit<ParticipantInfo, 'state'>[] }, now: number, disconnectedSince: number = now): Action[] {
    if (this.rooms.has(snapshot.room)) return [];
    const out: Action[] = [];
    const room: Room = { name: snapshot.room, policy: snapshot.policy, mode: 'p2p', participants: new Map() };
    for (const { ingress, ...s } of snapshot.participants) {
      if (ingress) continue; // its WHIP session or camera pull ended with the old node
      room.participants.set(s.identity, { ...s, tracks: [...s.tracks], room, conn: null, disconnectedAt: disconnectedSince, queue: [], inSfu: false });
    }
    if (room.participants.size === 0) return [];
    this.rooms.set(room.name, room);
    out.push({ kind: 'event', event: { type: 'room-created', room: room.name } });
    room.mode = this.wantedMode(room);
    this.retopologize(room, out);
    return out;
  }

  /**
   * Gives a room up (its node drains, or another node owns it): every participant is told to
   * reconnect (`closing: reconnect`, close 1012) and resumes on the room's next node; nobody is
   * reported as having left. The SFU membership here ends.
   */
  evictRoom(name: string): Action[] {
    const room = this.rooms.get(name);
    if (!room) return [];
    const out: Action[] = [];
    for (const p of room.participants.values()) {
      if (p.inSfu) out.push({ kind: 'sfu-leave', room: name, identity: p.identity });
      if (p.conn === null) continue;
      const conn = this.conns.get(p.conn);
      if (conn) {
        conn.state = 'closed';
        conn.participant = null;
      }
      out.push(send(p.conn, { type: 'closing', reason: 'reconnect' }), close(p.conn, CloseCode.SERVICE_RESTART, 'room moves to another node'));
    }
    this.rooms.delete(name);
    out.push({ kind: 'event', event: { type: 'room-closed', room: name } });
    return out;
  }

  /** Names of the rooms this core holds. */
  roomNames(): string[] {
    return [...this.rooms.keys()];
  }

  private joinedMessage(p: Participant, resumed: boolean): ServerMessage {
    return {
      type: 'joined',
      v: PROTOCOL_VERSION,
      room: p.room.name,
      participant: info(p),
      participants: [...p.room.participants.values()].filter((o) => o !== p).map(info),
      iceServers: this.options.iceServers(p.identity),
      resumed,
      mode: p.room.mode,
      ...(this.options.node !== undefined ? { node: this.options.node } : {}),
      limits: { maxMessageBytes: this.options.maxMessageBytes, reconnectGraceMs: this.options.reconnectGraceMs },
    };
  }

  /** Closes a superseded connection without removing its participant. */
  private detach(connId: ConnId, reason: 'replaced', out: Action[]): void {
    const old = this.conns.get(connId);
    if (old) {
      old.state = 'closed';
      old.participant = null;
    }
    out.push(send(connId, { type: 'closing', reason }), close(connId, CloseCode.REPLACED, reason));
  }

  /** @param retopologize false while a replacement is about to take the participant's place */
  private removeParticipant(p: Participant, reason: LeaveReason, out: Action[], retopologize = true): void {
    const room = p.room;
    if (room.participants.get(p.identity) !== p) return;
    room.participants.delete(p.identity);
    if (p.inSfu) {
      p.inSfu = false;
      out.push({ kind: 'sfu-leave', room: room.name, identity: p.identity });
    }
    this.broadcast(room, { type: 'participant-left', sid: p.sid, identity: p.identity, reason }, out);
    out.push({ kind: 'event', event: { type: 'participant-left', room: room.name, identity: p.identity, sid: p.sid, reason } });
    if (room.participants.size === 0) {
      this.rooms.delete(room.name);
      out.push({ kind: 'event', event: { type: 'room-closed', room: room.name } });
    } else if (retopologize) {
      this.retopologize(room, out);
    }
  }

  /** The topology the room's policy asks for at its current size. */
  private wantedMode(room: Room): RoomMode {
    if (room.policy === 'mcu') return 'sfu'; // browsers have SFU legs; the room's SFU gives them the composite
    if (room.policy !== 'auto') return room.policy;
    // Ingress participants are reached through the SFU only.
    for (const p of room.participants.values()) if (p.ingress) return 'sfu';
    return room.participants.size > 2 ? 'sfu' : 'p2p';
  }

  /**
   * Brings the room to the mode its policy wants: tells everyone of a change (`room-mode`) and
   * makes every participant an SFU member in `sfu` mode. Going back to `p2p` leaves SFU
   * membership alone: each client sends `sfu-leave` once its media moved to the mesh
   * (make-before-break).
   */
  private retopologize(room: Room, out: Action[]): void {
    const mode = this.wantedMode(room);
    if (mode !== room.mode) {
      room.mode = mode;
      this.broadcast(room, { type: 'room-mode', mode }, out);
    }
    if (room.mode !== 'sfu') return;
    for (const p of room.participants.values()) {
      if (p.inSfu || p.ingress) continue;
      p.inSfu = true;
      out.push({ kind: 'sfu-join', room: room.name, identity: p.identity, sid: p.sid });
    }
  }

  /** `text`: `message` serialized already (sent as it is; a queued message is kept as the object). */
  private deliver(p: Participant, message: ServerMessage, out: Action[], text?: string): void {
    if (p.ingress) return; // no signaling connection, now or later
    if (p.conn !== null) {
      out.push(text === undefined ? send(p.conn, message) : { kind: 'send', conn: p.conn, message, text });
    } else {
      p.queue.push(message);
      if (p.queue.length > this.options.maxQueuedMessages) p.queue.shift();
    }
  }

  private broadcast(room: Room, message: ServerMessage, out: Action[], except?: Participant): void {
    for (const p of room.participants.values()) if (p !== except) this.deliver(p, message, out);
  }

  private takeToken(conn: Conn, now: number): boolean {
    const elapsedS = Math.max(0, now - conn.refilledAt) / 1000;
    conn.tokens = Math.min(this.options.rateLimitBurst, conn.tokens + elapsedS * this.options.rateLimitPerS);
    conn.refilledAt = now;
    if (conn.tokens < 1) return false;
    conn.tokens -= 1;
    return true;
  }

  /** Sends a typed error; closes with 1008 once violations exceed the limit within the window. */
  private violation(
    conn: Conn,
    now: number,
    out: Action[],
    code: ErrorCode,
    message: string,
    ref?: string | number,
    details?: Record<string, unknown>,
  ): void {
    out.push(send(conn.id, errorMessage(code, message, ref, details)));
    out.push({ kind: 'event', event: { type: 'protocol-error', conn: conn.id, code, message } });
    conn.violations.push(now);
    const since = now - this.options.violationWindowMs;
    while (conn.violations.length > 0 && (conn.violations[0] ?? 0) <= since) conn.violations.shift();
    if (conn.violations.length > this.options.maxViolations) {
      out.push(send(conn.id, { type: 'closing', reason: 'policy-violation' }));
      out.push(close(conn.id, CloseCode.POLICY_VIOLATION, `too many protocol errors (last: ${code})`));
      conn.state = 'closed';
    }
  }

  /** Sends a typed error and closes the connection (auth failures, version, room full, join timeout). */
  private fail(conn: Conn, out: Action[], code: ErrorCode, message: string, closeCode: number, ref?: string | number): void {
    out.push(send(conn.id, errorMessage(code, message, ref)));
    out.push({ kind: 'event', event: { type: 'protocol-error', conn: conn.id, code, message } });
    out.push(send(conn.id, { type: 'closing', reason: closeCode === CloseCode.AUTH_FAILED ? 'auth-failed' : 'policy-violation' }));
    out.push(close(conn.id, closeCode, code));
    conn.state = 'closed';
  }
}

function info(p: Participant): ParticipantInfo {
  return {
    sid: p.sid,
    identity: p.identity,
    name: p.name,
    metadata: p.metadata,
    joinedAt: p.joinedAt,
    grants: p.grants,
    tracks: p.tracks,
    state: p.disconnectedAt === null ? 'active' : 'reconnecting',
    ...(p.ingress ? { ingress: p.ingress } : {}),
  };
}

function send(conn: ConnId, message: ServerMessage): Action {
  return { kind: 'send', conn, message };
}

function close(conn: ConnId, code: number, reason: string): Action {
  return { kind: 'close', conn, code, reason };
}

function errorMessage(code: ErrorCode, message: string, ref?: string | number, details?: Record<string, unknown>): ServerMessage {
  return {
    type: 'error',
    code,
    message,
    ...(ref !== undefined ? { ref } : {}),
    ...(details !== undefined ? { details } : {}),
  };
}
