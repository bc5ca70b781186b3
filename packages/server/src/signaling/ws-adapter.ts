/**
 * Thin I/O adapter between `ws` WebSocket connections and the sans-I/O {@link SignalingCore}:
 * it numbers connections, feeds frames and closes to the core with the wall clock, runs the
 * core's tick once a second, verifies join tokens, and carries out the returned actions.
 *
 * Scale-out (docs/scaling.md): a {@link JoinRouter} decides where a verified join goes. A join
 * for a room on another node is *relayed*: this node forgets the connection in its core and
 * passes frames both ways. A participant relayed here by another node is a *virtual*
 * connection: the same core, with a {@link ConnTransport} that writes to the node link.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import { ErrorCode, SignalingError, type ServerMessage, type TokenClaims } from '@dari/protocol';
import { SignalingCore, type Action, type CoreOptions, type JoinIntent, type RoomPolicy } from './core.js';
import { verifyToken } from '../tokens.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { WriteBatcher } from './write-batch.js';

/** The SFU as the signaling adapter sees it (`SfuManager` of `@dari/sfu`). */
export interface SfuHook {
  join(room: string, identity: string, sid: string): void;
  leave(room: string, identity: string): void;
  message(room: string, identity: string, message: Extract<Action, { kind: 'sfu' }>['message']): void;
  /** Adaptive stream: `identity` renders `publisher`'s video `streamId` at width×height device pixels. */
  trackSettings(room: string, identity: string, publisher: string, streamId: string, width: number, height: number): void;
}

/** Where the core's output for one connection goes: a WebSocket, or a node link (relayed). */
export interface ConnTransport {
  /** A text frame: a string, or its UTF-8 bytes (relayed frames are passed on as bytes). */
  send(text: string | Uint8Array): void;
  close(code: number, reason: string): void;
}

/** The edge's half of a relayed connection (scale-out). */
export interface RelayedConn {
  /** A client frame's UTF-8 bytes, to pass on to the room's node as they are. */
  forward(bytes: Uint8Array): void;
  /** The client's connection closed. */
  closed(): void;
}

/** Where a verified join goes: this node's core, another node (relay), or nowhere (retryable error). */
export type RouteDecision = { kind: 'local' } | { kind: 'relay'; relay: RelayedConn } | { kind: 'refuse'; error: SignalingError };

/** Scale-out hook: decides, per verified join, whether the room is here or on another node. */
export interface JoinRouter {
  route(intent: JoinIntent, claims: TokenClaims, client: ConnTransport): Promise<RouteDecision>;
  /** Every batch of core actions, after they were carried out (snapshots follow room changes). */
  observe?(actions: readonly Action[]): void;
}

export interface SignalingAdapterOptions {
  /** Scale-out: routes joins to the room's node; default none (every room is local). */
  router?: JoinRouter | undefined;
  /** The SFU for rooms in `sfu` mode. */
  sfu?: SfuHook | undefined;
  core: Partial<CoreOptions> & Pick<CoreOptions, 'iceServers'>;
  keys: ReadonlyMap<string, string>;
  logger: Logger;
  metrics?: Metrics | undefined;
  /** Interval of WebSocket pings, ms; a peer that misses two is dropped. Default 5000 (`signaling.pingIntervalMs`). */
  pingIntervalMs?: number;
  /** Clock, ms since the epoch; default Date.now. */
  now?: () => number;
}

export class SignalingAdapter {
  readonly core: SignalingCore;
  private readonly wss: WebSocketServer;
  private readonly sockets = new Map<number, WebSocket>();
  /** Every connection the core knows: WebSockets here, and virtual ones relayed from other nodes. */
  private readonly transports = new Map<number, ConnTransport>();
  /** Client WebSockets whose room is on another node. */
  private readonly relayed = new Map<number, RelayedConn>();
  private readonly alive = new Map<number, boolean>();
  private nextId = 1;
  private readonly tickTimer: NodeJS.Timeout;
  private readonly pingTimer: NodeJS.Timeout;
  private readonly now: () => number;
  private readonly log: Logger;
  /** Frames sent to one client in one event-loop turn leave in one write. */
  private readonly batch = new WriteBatcher();

  constructor(private readonly opts: SignalingAdapterOptions) {
    this.core = new SignalingCore(opts.core);
    this.now = opts.now ?? Date.now;
    this.log = opts.logger.child({ plane: 'signaling' });
    // ws enforces a hard cap far above the protocol limit, so oversized-but-sane frames get a
    // typed MESSAGE_TOO_LARGE from the core instead of a bare 1009 close.
    const maxPayload = Math.max(1024 * 1024, 4 * this.core.options.maxMessageBytes);
    this.wss = new WebSocketServer({ noServer: true, maxPayload, perMessageDeflate: false });
    this.tickTimer = setInterval(() => this.apply(this.core.tick(this.now())), 1000);
    this.tickTimer.unref();
    this.pingTimer = setInterval(() => this.heartbeat(), opts.pingIntervalMs ?? 5000);
    this.pingTimer.unref();
  }

  /** Sets a room's topology policy (REST `POST /api/rooms`); see {@link SignalingCore.setRoomPolicy}. */
  setRoomPolicy(room: string, policy: RoomPolicy): void {
    this.apply(this.core.setRoomPolicy(room, policy));
  }

  /** Tells a room whether it is being recorded (egress); see {@link SignalingCore.setRecording}. */
  setRecording(room: string, active: boolean): void {
    this.apply(this.core.setRecording(room, active));
  }

  /** Sends a server message to a participant (used by the SFU); dropped if it has left. */
  sendToParticipant(room: string, identity: string, sid: string, message: ServerMessage): void {
    this.apply(this.core.toParticipant(room, identity, sid, message));
  }

  /** Hands an HTTP upgrade on the signaling path to the WebSocket server. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, socket));
  }

  /** Tells every client the server is going away (or restarting: `reconnect`) and closes them (1001, 1012). */
  shutdown(reason: 'server-shutdown' | 'reconnect' = 'server-shutdown'): void {
    this.apply(this.core.shutdown(reason));
    clearInterval(this.tickTimer);
    clearInterval(this.pingTimer);
    this.batch.flush(); // the `closing` frames above, before terminate() drops what is unsent
    for (const ws of this.sockets.values()) ws.terminate();
    this.wss.close();
  }

  /** Carries out core actions produced outside a connection event (adoption, eviction). */
  run(actions: Action[]): void {
    this.apply(actions);
  }

  /** Open client WebSockets, relayed ones included. */
  get socketCount(): number {
    return this.sockets.size;
  }

  /** Client WebSockets relayed to other nodes. */
  get relayedCount(): number {
    return this.relayed.size;
  }

  /** Ends every relayed client connection: `closing: reconnect`, then 1012 (the node drains). */
  closeRelayed(): void {
    for (const id of [...this.relayed.keys()]) {
      const ws = this.sockets.get(id);
      if (ws?.readyState === ws?.OPEN) ws?.send(JSON.stringify({ type: 'closing', reason: 'reconnect' }));
      ws?.close(1012, 'node draining');
    }
  }

  /**
   * A participant relayed here by another node: a connection of this core whose output goes
   * through `transport`. Feed it with {@link virtualJoin}, {@link virtualMessage}, {@link virtualClosed}.
   * @returns its connection id
   */
  openVirtual(transport: ConnTransport): number {
    const id = this.nextId++;
    this.transports.set(id, transport);
    this.apply(this.core.open(id, this.now()));
    return id;
  }

  /** The relayed `join` (its token verified by the edge): completes it with the edge's claims. */
  virtualJoin(id: number, joinText: string, claims: TokenClaims): void {
    const { actions, join } = this.core.receive(id, joinText, this.now());
    this.apply(actions);
    if (join) this.apply(this.core.completeJoin(join, claims, this.now()));
  }

  virtualMessage(id: number, text: string, byteLength: number): void {
    const { actions, join } = this.core.receive(id, text, this.now(), byteLength);
    this.apply(actions);
    if (join) this.verify(join);
  }

  virtualClosed(id: number): void {
    if (!this.transports.delete(id)) return;
    this.apply(this.core.disconnect(id, this.now()));
  }

  private onConnection(ws: WebSocket, socket: Duplex): void {
    const id = this.nextId++;
    this.sockets.set(id, ws);
    this.transports.set(id, {
      send: (text) => {
        if (ws.readyState !== ws.OPEN) return;
        this.batch.hold(socket);
        ws.send(text, { binary: false });
      },
      close: (code, reason) => ws.close(code, reason.slice(0, 120)),
    });
    this.alive.set(id, true);
    this.apply(this.core.open(id, this.now()));
    ws.on('pong', () => this.alive.set(id, true));
    ws.on('message', (data: RawData) => this.onMessage(id, data));
    ws.on('error', (err) => this.log.debug({ conn: id, err: err.message }, 'websocket error'));
    ws.on('close', () => {
      this.sockets.delete(id);
      this.alive.delete(id);
      this.transports.delete(id);
      const relay = this.relayed.get(id);
      if (relay) {
        this.relayed.delete(id);
        relay.closed();
        return;
      }
      this.apply(this.core.disconnect(id, this.now()));
    });
  }

  private onMessage(id: number, data: RawData): void {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    const relay = this.relayed.get(id);
    if (relay) {
      relay.forward(buf);
      return;
    }
    const { actions, join } = this.core.receive(id, buf.toString('utf8'), this.now(), buf.length);
    this.apply(actions);
    if (join) this.verify(join);
  }

  private verify(intent: JoinIntent): void {
    verifyToken(intent.request.token, this.opts.keys, this.now())
      .then(
        (claims) => (this.opts.router ? this.routeJoin(intent, claims) : this.core.completeJoin(intent, claims, this.now())),
        (err: unknown) => {
          const e = err instanceof SignalingError ? err : new SignalingError(ErrorCode.INTERNAL, 'token verification failed');
          if (!(err instanceof SignalingError)) this.log.error({ err }, 'token verification crashed');
          return this.core.completeJoin(intent, e, this.now());
        },
      )
      .then((actions) => this.apply(actions))
      .catch((err: unknown) => this.log.error({ err }, 'join failed'));
  }

  /** Scale-out: completes the join here, hands the connection to a relay, or refuses it. */
  private async routeJoin(intent: JoinIntent, claims: TokenClaims): Promise<Action[]> {
    const transport = this.transports.get(intent.conn);
    if (!transport) return [];
    const decision = await this.opts.router!.route(intent, claims, transport);
    if (decision.kind === 'local') return this.core.completeJoin(intent, claims, this.now());
    if (decision.kind === 'refuse') return this.core.refuseJoin(intent, decision.error);
    this.core.release(intent.conn);
    if (!this.sockets.has(intent.conn)) {
      decision.relay.closed(); // the client went away while the join was routed
      return [];
    }
    this.relayed.set(intent.conn, decision.relay);
    return [];
  }

  private readonly counters = new Map<string, { inc(): void }>();

  /** The per-type message counter, its label lookup done once per type. */
  private messageCounter(type: string): { inc(): void } | undefined {
    const m = this.opts.metrics;
    if (!m) return undefined;
    let c = this.counters.get(type);
    if (!c) this.counters.set(type, (c = m.signalingMessages.labels(type)));
    return c;
  }

  private heartbeat(): void {
    for (const [id, ws] of this.sockets) {
      if (this.alive.get(id) === false) {
        ws.terminate();
        continue;
      }
      this.alive.set(id, false);
      ws.ping();
    }
  }

  private apply(actions: Action[]): void {
    const m = this.opts.metrics;
    // A broadcast is one message object sent to many: serialize it once.
    let lastMessage: unknown = null;
    let lastText = '';
    for (const a of actions) {
      switch (a.kind) {
        case 'send': {
          const t = this.transports.get(a.conn);
          if (!t) break;
          if (a.text !== undefined) {
            t.send(a.text);
            break;
          }
          if (a.message !== lastMessage) {
            lastMessage = a.message;
            lastText = JSON.stringify(a.message);
          }
          t.send(lastText);
          break;
        }
        case 'close':
          this.transports.get(a.conn)?.close(a.code, a.reason);
          break;
        case 'sfu':
          this.opts.sfu?.message(a.room, a.identity, a.message);
          break;
        case 'sfu-join':
          this.opts.sfu?.join(a.room, a.identity, a.sid);
          break;
        case 'sfu-leave':
          this.opts.sfu?.leave(a.room, a.identity);
          break;
        case 'sfu-track-settings':
          this.opts.sfu?.trackSettings(a.room, a.identity, a.publisher, a.streamId, a.width, a.height);
          break;
        case 'event': {
          const e = a.event;
          switch (e.type) {
            case 'message':
              this.messageCounter(e.messageType)?.inc();
              break;
            case 'protocol-error':
              m?.signalingErrors.inc({ code: e.code });
              this.log.debug({ conn: e.conn, code: e.code }, e.message);
              break;
            case 'participant-joined':
              m?.participantsJoined.inc({ resumed: String(e.resumed) });
              this.log.info({ room: e.room, identity: e.identity, sid: e.sid, resumed: e.resumed }, 'participant joined');
              break;
            case 'participant-left':
              m?.participantsLeft.inc({ reason: e.reason });
              this.log.info({ room: e.room, identity: e.identity, sid: e.sid, reason: e.reason }, 'participant left');
              break;
            case 'participant-reconnecting':
              this.log.info({ room: e.room, identity: e.identity, sid: e.sid }, 'participant reconnecting');
              break;
            case 'room-created':
            case 'room-closed':
              this.log.info({ room: e.room }, e.type.replace('-', ' '));
              break;
            case 'room-changed':
              break;
          }
        }
      }
    }
    this.opts.router?.observe?.(actions);
  }
}
