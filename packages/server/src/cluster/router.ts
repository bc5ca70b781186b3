/**
 * Scale-out wiring of one node (docs/scaling.md): routes each verified join to its room's node
 * (placement in Redis, relay over a node link), adopts rooms whose node died or drained, keeps
 * the room snapshots in Redis current, reconciles after a Redis outage, drains on SIGTERM, and
 * serves the cluster-wide REST calls.
 */
import { randomBytes } from 'node:crypto';
import { ErrorCode, SignalingError, TrackInfo, type ParticipantInfo, type TokenClaims } from '@dari/protocol';
import { ClusterNode, ClusterStore, NodeLinks, StoreUnavailableError, type ClusterRoom, type Link, type NodeInfo, type OpenPayload, type RoomSnapshot, type Selector } from '@dari/cluster';
import type { Action, JoinIntent, RoomPolicy } from '../signaling/core.js';
import type { ConnTransport, JoinRouter, RouteDecision, SignalingAdapter } from '../signaling/ws-adapter.js';
import type { Logger } from '../logger.js';
import { Relay, RpcError } from './relay.js';

export interface ClusterOptions {
  redisUrl: string;
  keyPrefix: string;
  nodeId: string | undefined;
  addresses: string[];
  selector: Selector;
  /** Whether least-loaded placement compares CPU (config cluster.placementCpu). */
  placementCpu: boolean;
  heartbeatIntervalMs: number;
  nodeTtlMs: number;
  /** API secrets (node link authentication). */
  secrets: string[];
  /** How long a relayed join may wait for its room's node, ms (the core's join deadline). */
  joinTimeoutMs: number;
  /** Participants' reconnect grace, ms (a dead node's rooms wait this long plus 30 s for adoption). */
  reconnectGraceMs: number;
  logger: Logger;
}

/** Cluster facts for metrics. */
export interface ClusterSample {
  nodes: number;
  roomsByNode: Record<string, number>;
  participantsByNode: Record<string, number>;
  relayedToRoom: number;
  relayedToClient: number;
  relayedSessions: number;
  adopted: number;
  redisUp: boolean;
  draining: boolean;
}

/** Snapshot flush period, ms. */
const FLUSH_MS = 200;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export class ClusterRouter implements JoinRouter {
  readonly node: ClusterNode;
  readonly links: NodeLinks;
  readonly relay: Relay;
  private adapterRef: SignalingAdapter | undefined;
  private readonly log: Logger;
  private readonly dirty = new Set<string>();
  private readonly adopting = new Map<string, Promise<void>>();
  /** Rooms being given up on purpose (drain, conflict): their close keeps the record. */
  private readonly leaving = new Set<string>();
  private adopted = 0;
  private flushTimer: NodeJS.Timeout | null = null;
  private flushing = false;
  /** Runs a forwarded REST call (ingress, egress) here; set by the HTTP routes. */
  private apiHandler: ((call: unknown) => Promise<unknown>) | null = null;

  constructor(private readonly opts: ClusterOptions) {
    this.log = opts.logger.child({ plane: 'cluster' });
    const id = opts.nodeId ?? `ND_${randomBytes(6).toString('hex')}`;
    const store = new ClusterStore({ url: opts.redisUrl, prefix: opts.keyPrefix });
    store.redis.on('error', (err: Error) => this.log.debug({ err: err.message }, 'redis error'));
    this.node = new ClusterNode({
      store,
      id,
      url: '',
      addresses: opts.addresses,
      ports: { http: 0, turn: null },
      selector: opts.selector,
      placementCpu: opts.placementCpu,
      heartbeatIntervalMs: opts.heartbeatIntervalMs,
      nodeTtlMs: opts.nodeTtlMs,
      orphanKeepMs: opts.reconnectGraceMs + 30_000,
      load: () => {
        const s = this.adapter.core.stats();
        return { rooms: s.rooms, participants: s.participants, connections: this.adapter.socketCount };
      },
      logger: this.log,
    });
    this.relay = new Relay({
      adapter: () => this.adapter,
      logger: this.log,
      beforeJoin: (open) => this.beforeRelayedJoin(open),
      rpc: (method, params) => this.serveRpc(method, params),
    });
    this.links = new NodeLinks({
      self: id,
      secrets: opts.secrets,
      logger: this.log,
      onFrame: (link, frame) => this.relay.onFrame(link, frame),
      onClose: (link) => this.relay.onLinkClosed(link),
      onBadFrame: (link, err) => this.relay.bad(link, err),
    });
    this.node.on('node-gone', (peer) => this.links.drop(peer));
    this.node.on('store-ready', () => void this.reconcile());
  }

  get id(): string {
    return this.node.id;
  }

  private get adapter(): SignalingAdapter {
    if (!this.adapterRef) throw new Error('ClusterRouter used before attach()');
    return this.adapterRef;
  }

  /**
   * Connects the signaling adapter and starts the heartbeat (waits up to 3 s for Redis).
   * @param url the base URL other nodes reach this node at
   */
  async start(adapter: SignalingAdapter, url: string, ports: NodeInfo['ports']): Promise<void> {
    this.adapterRef = adapter;
    this.node.setEndpoint(url, ports);
    await this.node.start();
    this.flushTimer = setInterval(() => void this.flush(), FLUSH_MS);
    this.flushTimer.unref();
    this.log.info({ node: this.id, url, selector: this.opts.selector }, 'joined the cluster');
  }

  async close(): Promise<void> {
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.links.closeAll();
    await this.node.stop();
  }

  // ------------------------------------------------------------------ joins

  async route(intent: JoinIntent, claims: TokenClaims, client: ConnTransport): Promise<RouteDecision> {
    const room = claims.room;
    if (this.adapter.core.roomMode(room) !== undefined) return { kind: 'local' };
    const refuse = (message: string): RouteDecision => ({ kind: 'refuse', error: new SignalingError(ErrorCode.CLUSTER_UNAVAILABLE, message) });
    const deadline = Date.now() + this.opts.joinTimeoutMs - 500;
    for (;;) {
      if (!this.node.storeReady) return refuse(`room ${JSON.stringify(room)} is not on this node and the cluster store (redis) is unreachable; retry`);
      const candidate = this.node.select();
      if (candidate === undefined) return refuse('no node of the cluster takes new rooms now (all draining); retry');
      let placed;
      try {
        placed = await this.node.store.placeRoom(room, candidate);
      } catch (err) {
        if (err instanceof StoreUnavailableError) return refuse(`cluster store unreachable: ${err.message}; retry`);
        throw err;
      }
      if (placed.node === this.id) {
        await this.prepareLocal(room, placed.adopt, placed.policy);
        return { kind: 'local' };
      }
      const peer = this.node.view.get(placed.node);
      try {
        if (!peer) throw new Error(`node ${placed.node} is not in this node's view yet`);
        const link = await this.links.connect(peer.id, peer.url);
        return { kind: 'relay', relay: this.relay.open(link, claims, { ...intent.request }, placed.adopt, client) };
      } catch (err) {
        // The room's node is unreachable: wait for its heartbeat to expire (then the room is
        // placed again), within the join deadline.
        if (Date.now() > deadline) return refuse(`room ${JSON.stringify(room)} lives on node ${placed.node}, which does not answer: ${(err as Error).message}`);
        this.log.debug({ room, node: placed.node, err: (err as Error).message }, 'room node unreachable; waiting for its heartbeat to expire');
        await sleep(Math.min(250, this.opts.heartbeatIntervalMs / 2));
        await this.node.heartbeat();
      }
    }
  }

  /** Room node side of a relayed join: adopt the room first if it just moved here. */
  private async beforeRelayedJoin(open: OpenPayload): Promise<void> {
    if (this.adapter.core.roomMode(open.claims.room) !== undefined) return;
    await this.prepareLocal(open.claims.room, open.adopt, undefined);
  }

  /** A room placed here: apply its REST policy, and adopt its snapshot (once, however many joins race). */
  private async prepareLocal(room: string, adopt: boolean, policy: RoomPolicy | undefined): Promise<void> {
    if (policy !== undefined && this.adapter.core.roomMode(room) === undefined) this.adapter.setRoomPolicy(room, policy);
    const pending = this.adopting.get(room);
    if (pending) return pending;
    if (!adopt) return;
    const job = this.adopt(room).finally(() => this.adopting.delete(room));
    this.adopting.set(room, job);
    return job;
  }

  private async adopt(room: string): Promise<void> {
    const snapshot = await this.node.store.snapshot(room);
    if (!snapshot || snapshot.node === this.id || this.adapter.core.roomMode(room) !== undefined) return;
    const participants = snapshot.participants.map((p) => ({ ...p, tracks: p.tracks.flatMap((t) => { const r = TrackInfo.safeParse(t); return r.success ? [r.data] : []; }) }));
    this.adapter.run(this.adapter.core.adoptRoom({ room, policy: snapshot.policy, participants }, Date.now()));
    this.adopted++;
    this.dirty.add(room);
    this.log.info({ room, from: snapshot.node, participants: participants.length }, 'room adopted');
  }

  // ------------------------------------------------------------------ snapshots

  observe(actions: readonly Action[]): void {
    for (const a of actions) {
      if (a.kind !== 'event') continue;
      const e = a.event;
      switch (e.type) {
        case 'room-created':
        case 'participant-joined':
        case 'participant-left':
        case 'room-changed':
          this.dirty.add(e.room);
          break;
        case 'room-closed':
          this.dirty.delete(e.room);
          if (this.leaving.delete(e.room)) break;
          this.node.store.releaseRoom(e.room, this.id, false).catch(() => undefined); // reconcile fixes what an outage leaves
          break;
      }
    }
  }

  /** Writes the snapshots of changed rooms; a room another node owns now is given up. */
  private async flush(): Promise<void> {
    if (this.flushing || this.dirty.size === 0 || !this.node.storeReady) return;
    this.flushing = true;
    const rooms = [...this.dirty];
    this.dirty.clear();
    try {
      for (const [i, room] of rooms.entries()) {
        if (this.leaving.has(room)) continue;
        const snapshot = this.snapshot(room);
        if (!snapshot) continue;
        try {
          if (!(await this.node.store.writeSnapshot(snapshot))) await this.giveUp(room, 'another node owns it');
        } catch {
          for (const r of rooms.slice(i)) this.dirty.add(r);
          break;
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private snapshot(room: string): RoomSnapshot | undefined {
    const s = this.adapter.core.snapshotRoom(room);
    if (!s) return undefined;
    return { room, node: this.id, policy: s.policy, mode: s.mode, at: Date.now(), participants: s.participants.map(({ state: _state, ...p }) => p) };
  }

  /** Tells a room's participants to reconnect (they land on its owner) and forgets it here. */
  private async giveUp(room: string, why: string): Promise<void> {
    this.log.warn({ room, why }, 'giving the room up');
    this.leaving.add(room);
    this.adapter.run(this.adapter.core.evictRoom(room));
  }

  /**
   * After Redis came back (or at start): registers every room this node holds again. A room
   * another live node took meanwhile is given up (its participants reconnect there).
   */
  private async reconcile(): Promise<void> {
    const rooms = this.adapter.core.roomNames();
    let lost = 0;
    for (const room of rooms) {
      try {
        const placed = await this.node.store.placeRoom(room, this.id);
        if (placed.node !== this.id) {
          lost++;
          await this.giveUp(room, `node ${placed.node} holds it`);
        } else this.dirty.add(room);
      } catch {
        return; // lost again; the next store-ready runs this again
      }
    }
    if (rooms.length > 0) this.log.info({ rooms: rooms.length, lost }, 'reconciled rooms with redis');
  }

  // ------------------------------------------------------------------ drain

  /**
   * Drains this node: no new rooms; its rooms go on until they empty or `timeoutS` passes; then
   * each moves (snapshot kept, placement released) and its participants are told to reconnect,
   * as are the clients relayed from here to other nodes.
   */
  async drain(timeoutS: number): Promise<void> {
    await this.node.drain();
    const core = this.adapter.core;
    this.log.info({ node: this.id, rooms: core.roomNames().length, timeoutS }, 'draining');
    const end = Date.now() + timeoutS * 1000;
    while (core.roomNames().length > 0 && Date.now() < end) await sleep(Math.min(250, Math.max(10, end - Date.now())));
    await this.flush();
    for (const room of core.roomNames()) {
      const snapshot = this.snapshot(room);
      this.leaving.add(room);
      try {
        if (snapshot) await this.node.store.writeSnapshot(snapshot);
        await this.node.store.releaseRoom(room, this.id, true);
      } catch (err) {
        this.log.warn({ room, err: (err as Error).message }, 'could not release the room in redis; it moves once this node is gone');
      }
      this.adapter.run(core.evictRoom(room));
    }
    this.adapter.closeRelayed();
    this.log.info({ node: this.id }, 'drained');
  }

  // ------------------------------------------------------------------ REST

  /** Every node's rooms (GET /api/rooms). @throws StoreUnavailableError */
  async rooms(): Promise<ClusterRoom[]> {
    return this.node.store.rooms(new Set(this.node.view.keys()));
  }

  /** A room's participants, wherever it lives. @throws RpcError, StoreUnavailableError */
  async roomInfo(room: string): Promise<{ node: string; participants: ParticipantInfo[] } | undefined> {
    const local = this.adapter.core.roomInfo(room);
    if (local) return { node: this.id, participants: local };
    const node = await this.node.store.roomNode(room);
    if (!node || node === this.id || !this.node.view.has(node)) return undefined;
    return (await this.call(node, 'room-info', { room })) as { node: string; participants: ParticipantInfo[] } | undefined;
  }

  /** Sets a room's policy on its node, placing the room if needed (POST /api/rooms). @throws RpcError, StoreUnavailableError */
  async setRoomPolicy(room: string, policy: RoomPolicy): Promise<{ node: string; current: string | null }> {
    if (this.adapter.core.roomMode(room) === undefined) {
      await this.node.store.setPolicy(room, policy);
      const candidate = this.node.select() ?? this.id;
      const placed = await this.node.store.placeRoom(room, candidate);
      if (placed.node !== this.id) return (await this.call(placed.node, 'set-policy', { room, policy })) as { node: string; current: string | null };
    } else {
      this.node.store.setPolicy(room, policy).catch(() => undefined);
    }
    this.adapter.setRoomPolicy(room, policy);
    return { node: this.id, current: this.adapter.core.roomMode(room) ?? null };
  }

  /** This node's id and the other live nodes' ids, this node first. */
  liveNodes(): string[] {
    return [this.id, ...[...this.node.view.keys()].filter((n) => n !== this.id)];
  }

  /**
   * The node a room lives on: this node when it holds the room, else the placed node if alive;
   * with `place`, a room placed nowhere is placed now (as a first join would), else undefined.
   * @throws StoreUnavailableError
   */
  async roomHome(room: string, place: boolean): Promise<string | undefined> {
    if (this.adapter.core.roomMode(room) !== undefined) return this.id;
    const node = await this.node.store.roomNode(room);
    if (node && this.node.view.has(node)) return node;
    if (!place) return undefined;
    return (await this.node.store.placeRoom(room, this.node.select() ?? this.id)).node;
  }

  /** The base URL a live node is reached at (its HTTP port), or undefined. */
  nodeUrl(node: string): string | undefined {
    return this.node.view.get(node)?.url;
  }

  /** Serves REST calls other nodes forward here (rpc `api`). */
  onApi(handler: (call: unknown) => Promise<unknown>): void {
    this.apiHandler = handler;
  }

  /** Runs a REST call on another node (its `onApi` handler). @throws RpcError (its HTTP status and code) */
  callApi(node: string, call: unknown): Promise<unknown> {
    return this.call(node, 'api', call);
  }

  private async call(node: string, method: string, params: unknown): Promise<unknown> {
    const peer = this.node.view.get(node);
    if (!peer) throw new RpcError(503, 'CLUSTER_UNAVAILABLE', `node ${node} is not alive`);
    let link: Link;
    try {
      link = await this.links.connect(peer.id, peer.url);
    } catch (err) {
      throw new RpcError(503, 'CLUSTER_UNAVAILABLE', (err as Error).message);
    }
    try {
      return await this.relay.call(link, method, params);
    } catch (err) {
      if (err instanceof RpcError) throw err;
      throw new RpcError(503, 'CLUSTER_UNAVAILABLE', (err as Error).message);
    }
  }

  private async serveRpc(method: string, params: unknown): Promise<unknown> {
    if (method === 'api') {
      if (!this.apiHandler) throw new RpcError(404, 'NOT_FOUND', 'this node serves no forwarded REST calls');
      return this.apiHandler(params);
    }
    const p = (params ?? {}) as { room?: unknown; policy?: unknown };
    if (typeof p.room !== 'string') throw new RpcError(400, 'INVALID_REQUEST', 'room: expected a string');
    switch (method) {
      case 'room-info': {
        const participants = this.adapter.core.roomInfo(p.room);
        return participants ? { node: this.id, participants } : undefined;
      }
      case 'set-policy': {
        if (p.policy !== 'auto' && p.policy !== 'p2p' && p.policy !== 'sfu' && p.policy !== 'mcu') throw new RpcError(400, 'INVALID_REQUEST', 'policy: expected auto, p2p, sfu or mcu');
        this.adapter.setRoomPolicy(p.room, p.policy);
        return { node: this.id, current: this.adapter.core.roomMode(p.room) ?? null };
      }
      default:
        throw new RpcError(404, 'NOT_FOUND', `no rpc method ${method}`);
    }
  }

  // ------------------------------------------------------------------ metrics

  sample(): ClusterSample {
    const roomsByNode: Record<string, number> = {};
    const participantsByNode: Record<string, number> = {};
    for (const n of this.node.view.values()) {
      roomsByNode[n.id] = n.load.rooms;
      participantsByNode[n.id] = n.load.participants;
    }
    const s = this.adapter.core.stats();
    roomsByNode[this.id] = s.rooms;
    participantsByNode[this.id] = s.participants;
    return {
      nodes: this.node.view.size,
      roomsByNode,
      participantsByNode,
      relayedToRoom: this.relay.counters.toRoom,
      relayedToClient: this.relay.counters.toClient,
      relayedSessions: this.relay.sessions,
      adopted: this.adopted,
      redisUp: this.node.storeReady,
      draining: this.node.state === 'draining',
    };
  }
}
