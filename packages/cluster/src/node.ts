/**
 * This node's membership in the cluster: registration and heartbeat (a Redis key with a TTL),
 * the view of the live nodes (read back every heartbeat), death detection, the draining state,
 * and Redis outages and returns. Timers live here; decisions (placement) are pure functions.
 *
 * A node is dead once its registration expires: `nodeTtlMs` after its last heartbeat (default
 * 3000 ms with a heartbeat every 1000 ms, so rooms are reassigned 3–4 s after a node dies).
 * While Redis is unreachable the view is frozen (nobody is declared dead for lack of news).
 */
import { EventEmitter } from 'node:events';
import { cpus } from 'node:os';
import { ClusterStore, StoreUnavailableError } from './store.js';
import { selectNode, type Selector } from './placement.js';
import type { LinkLogger } from './links.js';
import type { NodeInfo, NodeLoad, NodeState } from './types.js';

export interface ClusterNodeOptions {
  store: ClusterStore;
  id: string;
  /** Base URL other nodes reach this node at (node links, REST forwarding). */
  url: string;
  addresses: string[];
  ports: NodeInfo['ports'];
  selector: Selector;
  /** Whether least-loaded placement compares CPU; default true. */
  placementCpu?: boolean;
  /** Heartbeat period, ms; default 1000. */
  heartbeatIntervalMs?: number;
  /** Registration TTL, ms; default 3000. */
  nodeTtlMs?: number;
  /** This node's signaling load, read at each heartbeat. */
  load(): Omit<NodeLoad, 'cpu'>;
  logger: LinkLogger & { error(obj: object, msg?: string): void };
  /** How long a dead node's rooms wait for adoption before their records expire, ms; default 60000. */
  orphanKeepMs?: number;
}

export interface ClusterNodeEvents {
  /** A node left the view: its heartbeat expired, or it deregistered. */
  'node-gone': [id: string];
  /** Redis became reachable again after an outage (or at start): reconcile. */
  'store-ready': [];
  /** Redis became unreachable. */
  'store-lost': [];
}

export class ClusterNode extends EventEmitter<ClusterNodeEvents> {
  readonly id: string;
  state: NodeState = 'serving';
  /** Live nodes as of the last successful heartbeat (this node included). */
  view = new Map<string, NodeInfo>();
  private timer: NodeJS.Timeout | null = null;
  private readonly startedAt = Date.now();
  private storeUp = false;
  /** When Redis last became reachable, ms since the epoch. */
  private upSince = 0;
  private cpuMark = { at: performance.now(), usage: process.cpuUsage() };
  private beating: Promise<void> | null = null;
  private stopping = false;

  constructor(private readonly opts: ClusterNodeOptions) {
    super();
    this.id = opts.id;
  }

  /** Sets the URL and ports (known once the HTTP server listens; before {@link start}). */
  setEndpoint(url: string, ports: NodeInfo['ports']): void {
    this.opts.url = url;
    this.opts.ports = ports;
  }

  get store(): ClusterStore {
    return this.opts.store;
  }

  /** The connection to Redis is up. */
  get storeReady(): boolean {
    return this.opts.store.ready;
  }

  /**
   * Connects to Redis (waiting up to `waitMs` for it), registers, and starts the heartbeat.
   * A node whose Redis is down at start serves the rooms it gets and joins the cluster when
   * Redis comes up.
   */
  async start(waitMs = 3000): Promise<void> {
    // A reconnect (Redis restarted, or the network came back) may have lost every key: register
    // at once and reconcile, whether or not a heartbeat failed meanwhile.
    this.opts.store.redis.on('ready', () => {
      if (this.storeUp) this.storeUp = false;
      void this.heartbeat();
    });
    this.opts.store.redis.on('close', () => {
      if (!this.storeUp || this.stopping) return;
      this.storeUp = false;
      this.opts.logger.error({ node: this.id }, 'redis lost: serving the rooms this node holds; joins that need another node fail with CLUSTER_UNAVAILABLE');
      this.emit('store-lost');
    });
    const ready = await this.opts.store.connect(waitMs);
    if (!ready) this.opts.logger.error({ node: this.id }, 'redis unreachable at start; serving local rooms only until it is back');
    await this.heartbeat();
    const interval = this.opts.heartbeatIntervalMs ?? 1000;
    this.timer = setInterval(() => void this.heartbeat(), interval);
    this.timer.unref();
  }

  /** Takes no new rooms from now on (announced at once). */
  async drain(): Promise<void> {
    this.state = 'draining';
    await this.heartbeat();
  }

  /** Stops the heartbeat and removes the registration. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.beating;
    try {
      await this.opts.store.deregister(this.id);
    } catch {
      /* its key expires by itself */
    }
    await this.opts.store.close();
  }

  /** Where a new room goes (see placement.ts); undefined when no node is serving. */
  select(): string | undefined {
    // This node's own state is known here before the view shows it.
    const nodes = [...this.view.values()].map((n) => (n.id === this.id ? { ...n, state: this.state } : n));
    return selectNode({ nodes, self: this.id, selector: this.opts.selector, cpu: this.opts.placementCpu ?? true });
  }

  /** This node's registration as it would be written now. */
  info(): NodeInfo {
    const now = performance.now();
    const usage = process.cpuUsage();
    const spentUs = usage.user - this.cpuMark.usage.user + usage.system - this.cpuMark.usage.system;
    const cpu = Math.max(0, spentUs / 1000 / Math.max(1, now - this.cpuMark.at) / Math.max(1, cpus().length));
    this.cpuMark = { at: now, usage };
    return {
      id: this.id,
      url: this.opts.url,
      addresses: this.opts.addresses,
      ports: this.opts.ports,
      state: this.state,
      load: { ...this.opts.load(), cpu: Math.round(cpu * 1000) / 1000 },
      startedAt: this.startedAt,
      updatedAt: Date.now(),
    };
  }

  /** One heartbeat: write the registration, read the view back, report deaths. Never throws. */
  heartbeat(): Promise<void> {
    this.beating ??= this.beat().finally(() => (this.beating = null));
    return this.beating;
  }

  private async beat(): Promise<void> {
    const store = this.opts.store;
    try {
      await store.heartbeat(this.info(), this.opts.nodeTtlMs ?? 3000);
      const { live, claimedDead } = await store.nodes();
      const wasUp = this.storeUp;
      this.storeUp = true;
      if (!wasUp) this.upSince = Date.now();
      const next = new Map(live.map((n) => [n.id, n]));
      // Right after Redis came back (a restart empties it), the others have not re-registered
      // yet: nobody is declared dead before a whole TTL has passed with Redis up.
      if (Date.now() - this.upSince < (this.opts.nodeTtlMs ?? 3000)) {
        for (const [id, info] of this.view) if (!next.has(id)) next.set(id, info);
      }
      const gone = [...this.view.keys()].filter((id) => !next.has(id) && id !== this.id);
      this.view = next;
      if (!wasUp) this.emit('store-ready');
      for (const id of gone) {
        this.opts.logger.info({ node: id }, 'node gone');
        this.emit('node-gone', id);
      }
      for (const id of claimedDead) {
        const n = await store.orphanRooms(id, this.opts.orphanKeepMs ?? 60_000);
        if (n > 0) this.opts.logger.info({ node: id, rooms: n }, 'dead node: its rooms wait for adoption');
      }
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      if (this.storeUp) {
        this.storeUp = false;
        this.opts.logger.error({ node: this.id, err: err.message }, 'redis lost: serving the rooms this node holds; joins that need another node fail with CLUSTER_UNAVAILABLE');
        this.emit('store-lost');
      }
    }
    // A heartbeat already running when Redis came back may have failed: go again.
    if (!this.storeUp && this.opts.store.ready && !this.stopping) setTimeout(() => void this.heartbeat(), (this.opts.heartbeatIntervalMs ?? 1000) / 4).unref();
  }
}
