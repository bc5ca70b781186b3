/**
 * The cluster's state in Redis (ioredis): node registrations with a TTL, the room → node map,
 * room snapshots, per-room policies. Every step that two nodes could race on is one Lua script
 * (atomic in Redis), so exactly one node wins a room.
 *
 * Keys (prefix `dari:` by default; one standalone Redis or a Sentinel-managed primary, not Redis
 * Cluster, since the scripts touch keys they compute):
 * - `nodes`: SET of node ids that registered (an index; a member whose `node:<id>` expired is dead).
 * - `node:<id>`: STRING, JSON {@link NodeInfo}, PX = the node TTL, rewritten every heartbeat.
 * - `rooms`: SET of room names with a record.
 * - `room:<name>`: HASH {node, snapshot (JSON {@link RoomSnapshot}), participants, mode, policy}.
 *   `node` empty = released (its node drained): the next join places it anew.
 *
 * The client does not queue commands while disconnected (`enableOfflineQueue: false`), so a
 * Redis outage shows up at once as a rejected command, never as a join that hangs.
 */
import { Redis } from 'ioredis';
import { NodeInfo, RoomSnapshot, parseStored, type ClusterRoom } from './types.js';

export type RoomPolicy = 'auto' | 'p2p' | 'sfu' | 'mcu';

/** Redis cannot be reached (down, restarting, or a command failed). */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}

/** The result of placing a room (see {@link ClusterStore.placeRoom}). */
export interface Placement {
  /** The node the room lives on now. */
  node: string;
  /** True when this call assigned it (it was new, released, or its node had died). */
  assigned: boolean;
  /**
   * A snapshot exists: if the room is not live on its node, that node adopts it (the room's
   * previous node died or drained). Set whoever assigned the room, so the first join to reach
   * the node adopts, whichever edge it came through.
   */
  adopt: boolean;
  /** Policy set for the room through the REST API, if any. */
  policy: RoomPolicy | undefined;
}

// KEYS[1] room hash, KEYS[2] rooms set; ARGV[1] candidate node, ARGV[2] node-key prefix, ARGV[3] room name.
// The current owner keeps the room while its registration lives; otherwise the candidate gets it.
const PLACE = `
local owner = redis.call('HGET', KEYS[1], 'node')
local policy = redis.call('HGET', KEYS[1], 'policy') or ''
if owner and owner ~= '' and redis.call('EXISTS', ARGV[2] .. owner) == 1 then
  return {owner, 0, redis.call('HEXISTS', KEYS[1], 'snapshot'), policy}
end
redis.call('HSET', KEYS[1], 'node', ARGV[1])
redis.call('PERSIST', KEYS[1])
redis.call('SADD', KEYS[2], ARGV[3])
return {ARGV[1], 1, redis.call('HEXISTS', KEYS[1], 'snapshot'), policy}`;

// KEYS[1] room hash, KEYS[2] rooms set; ARGV[1] node, ARGV[2] snapshot JSON, ARGV[3] participants,
// ARGV[4] mode, ARGV[5] node-key prefix, ARGV[6] room name.
// The holder writes; a record without a live owner (Redis restarted empty, or its registration
// lapsed during an outage) is claimed back. 0 tells a node that another live node owns the room.
const WRITE = `
local owner = redis.call('HGET', KEYS[1], 'node')
if owner and owner ~= '' and owner ~= ARGV[1] and redis.call('EXISTS', ARGV[5] .. owner) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'snapshot', ARGV[2], 'participants', ARGV[3], 'mode', ARGV[4])
redis.call('PERSIST', KEYS[1])
redis.call('SADD', KEYS[2], ARGV[6])
return 1`;

// KEYS[1] room hash, KEYS[2] rooms set; ARGV[1] node, ARGV[2] room name, ARGV[3] '1' = keep the snapshot (release for adoption).
const RELEASE = `
if redis.call('HGET', KEYS[1], 'node') ~= ARGV[1] then return 0 end
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[1], 'node', '')
  return 1
end
redis.call('HDEL', KEYS[1], 'node', 'snapshot', 'participants', 'mode')
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[2]) end
return 1`;

// KEYS[1] rooms set; ARGV[1] dead node, ARGV[2] room-key prefix, ARGV[3] ms to keep its rooms for adoption.
const ORPHAN = `
local n = 0
for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[2] .. name
  if redis.call('HGET', key, 'node') == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[3])
    n = n + 1
  end
end
return n`;

type Scripts = {
  dariPlace(room: string, rooms: string, candidate: string, nodePrefix: string, name: string): Promise<[string, number, number, string]>;
  dariWrite(room: string, rooms: string, node: string, snapshot: string, participants: string, mode: string, nodePrefix: string, name: string): Promise<number>;
  dariRelease(room: string, rooms: string, node: string, name: string, keep: string): Promise<number>;
  dariOrphan(rooms: string, dead: string, roomPrefix: string, keepMs: string): Promise<number>;
};

export interface StoreOptions {
  /** redis://[user:password@]host:port[/db] or rediss:// (TLS). */
  url: string;
  /** Key prefix; default `dari:`. */
  prefix?: string;
  /** Per-command timeout, ms; default 1000. */
  commandTimeoutMs?: number;
}

export class ClusterStore {
  readonly redis: Redis;
  private readonly p: string;
  private readonly scripts: Scripts;

  constructor(options: StoreOptions) {
    this.p = options.prefix ?? 'dari:';
    this.redis = new Redis(options.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs ?? 1000,
      // Reconnect fast and forever: 50 ms, 100 ms … capped at 500 ms.
      retryStrategy: (times) => Math.min(500, 50 * times),
      connectTimeout: 2000,
      lazyConnect: true,
    });
    // Errors surface as StoreUnavailableError from commands and as `ready` turning false;
    // connection errors while reconnecting are expected and not worth an unhandled-error line.
    this.redis.on('error', () => undefined);
    this.redis.defineCommand('dariPlace', { numberOfKeys: 2, lua: PLACE });
    this.redis.defineCommand('dariWrite', { numberOfKeys: 2, lua: WRITE });
    this.redis.defineCommand('dariRelease', { numberOfKeys: 2, lua: RELEASE });
    this.redis.defineCommand('dariOrphan', { numberOfKeys: 1, lua: ORPHAN });
    this.scripts = this.redis as unknown as Scripts;
  }

  /** True while the connection is up and ready for commands. */
  get ready(): boolean {
    return this.redis.status === 'ready';
  }

  /** Starts connecting; resolves when ready, or after `timeoutMs` (the client keeps retrying). */
  async connect(timeoutMs: number): Promise<boolean> {
    this.redis.connect().catch(() => undefined);
    if (this.ready) return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.redis.off('ready', onReady);
        resolve(false);
      }, timeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.redis.once('ready', onReady);
    });
  }

  async close(): Promise<void> {
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }

  /** Registers or refreshes a node (its heartbeat). */
  async heartbeat(info: NodeInfo, ttlMs: number): Promise<void> {
    await this.run(() => this.redis.multi().set(`${this.p}node:${info.id}`, JSON.stringify(info), 'PX', ttlMs).sadd(`${this.p}nodes`, info.id).exec());
  }

  /** Removes a node's registration (clean shutdown). */
  async deregister(id: string): Promise<void> {
    await this.run(() => this.redis.multi().del(`${this.p}node:${id}`).srem(`${this.p}nodes`, id).exec());
  }

  /**
   * Live nodes, and the ids that were registered but whose heartbeat expired. A dead id is
   * removed from the index by the first node that sees it (`claimedDead`), so one node cleans up.
   */
  async nodes(): Promise<{ live: NodeInfo[]; claimedDead: string[] }> {
    return this.run(async () => {
      const ids = await this.redis.smembers(`${this.p}nodes`);
      if (ids.length === 0) return { live: [], claimedDead: [] };
      const values = await this.redis.mget(ids.map((id) => `${this.p}node:${id}`));
      const live: NodeInfo[] = [];
      const claimedDead: string[] = [];
      for (const [i, id] of ids.entries()) {
        const info = parseStored(NodeInfo, values[i]);
        if (info) live.push(info);
        else if ((await this.redis.srem(`${this.p}nodes`, id)) === 1) claimedDead.push(id);
      }
      return { live, claimedDead };
    });
  }

  /**
   * Places a room: it stays on its node while that node is registered; otherwise (new, released,
   * or its node died) `candidate` gets it, atomically.
   */
  async placeRoom(room: string, candidate: string): Promise<Placement> {
    const [node, assigned, adopt, policy] = await this.run(() => this.scripts.dariPlace(this.roomKey(room), `${this.p}rooms`, candidate, `${this.p}node:`, room));
    return { node, assigned: assigned === 1, adopt: adopt === 1, policy: policy === 'auto' || policy === 'p2p' || policy === 'sfu' ? policy : undefined };
  }

  /** The room's snapshot (for adoption), if any. */
  async snapshot(room: string): Promise<RoomSnapshot | undefined> {
    return parseStored(RoomSnapshot, await this.run(() => this.redis.hget(this.roomKey(room), 'snapshot')));
  }

  /**
   * Writes the holder's snapshot of a room (re-claiming a record that has no live owner).
   * @returns false when another live node owns the room
   */
  async writeSnapshot(snapshot: RoomSnapshot): Promise<boolean> {
    const r = await this.run(() =>
      this.scripts.dariWrite(this.roomKey(snapshot.room), `${this.p}rooms`, snapshot.node, JSON.stringify(snapshot), String(snapshot.participants.length), snapshot.mode, `${this.p}node:`, snapshot.room),
    );
    return r === 1;
  }

  /**
   * Gives a room up. `keepSnapshot`: the room moves (drain): the next join places it and the new
   * node adopts the snapshot; otherwise the room closed and its record goes (a policy stays).
   */
  async releaseRoom(room: string, node: string, keepSnapshot: boolean): Promise<boolean> {
    return (await this.run(() => this.scripts.dariRelease(this.roomKey(room), `${this.p}rooms`, node, room, keepSnapshot ? '1' : '0'))) === 1;
  }

  /** A dead node's rooms expire after `keepMs` unless a node adopts them first. @returns their number */
  async orphanRooms(deadNode: string, keepMs: number): Promise<number> {
    return this.run(() => this.scripts.dariOrphan(`${this.p}rooms`, deadNode, `${this.p}room:`, String(keepMs)));
  }

  /** Stores a room's topology policy (REST `POST /api/rooms`) so it follows the room across nodes. */
  async setPolicy(room: string, policy: RoomPolicy): Promise<void> {
    await this.run(() => this.redis.multi().hset(this.roomKey(room), 'policy', policy).sadd(`${this.p}rooms`, room).exec());
  }

  /** The room's node, if placed. */
  async roomNode(room: string): Promise<string | undefined> {
    const node = await this.run(() => this.redis.hget(this.roomKey(room), 'node'));
    return node ? node : undefined;
  }

  /** Every placed room whose node is in `liveNodes`, with its node and last reported size. */
  async rooms(liveNodes: ReadonlySet<string>): Promise<ClusterRoom[]> {
    return this.run(async () => {
      const names = await this.redis.smembers(`${this.p}rooms`);
      const pipeline = this.redis.pipeline();
      for (const name of names) pipeline.hmget(this.roomKey(name), 'node', 'participants', 'mode');
      const results = (await pipeline.exec()) ?? [];
      const out: ClusterRoom[] = [];
      for (const [i, name] of names.entries()) {
        const [node, participants, mode] = (results[i]?.[1] ?? []) as (string | null)[];
        if (!node || !liveNodes.has(node)) continue;
        out.push({ room: name, node, participants: Number(participants ?? 0), mode: mode === 'p2p' || mode === 'sfu' ? mode : null });
      }
      return out.sort((a, b) => (a.room < b.room ? -1 : a.room > b.room ? 1 : 0));
    });
  }

  private roomKey(room: string): string {
    return `${this.p}room:${room}`;
  }

  /** Runs a command; any failure (down, timeout, script error) becomes a StoreUnavailableError. */
  private async run<T>(op: () => Promise<T>): Promise<T> {
    if (!this.ready) throw new StoreUnavailableError(`redis is ${this.redis.status}`);
    try {
      return await op();
    } catch (err) {
      throw new StoreUnavailableError(`redis: ${(err as Error).message}`, { cause: err });
    }
  }
}
