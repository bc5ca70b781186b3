/**
 * A sharded STUN/TURN server: N worker threads (worker.ts), each with its own SO_REUSEPORT UDP,
 * TCP and TLS listeners on the same ports. The kernel hashes each client 5-tuple to one of them,
 * so a client stays with one worker and its allocation (relay socket, permissions, channels)
 * lives there. What must hold across workers is shared: the allocation ledger (quotas,
 * reservation tokens) in a SharedArrayBuffer, the nonce key and the REST secrets. Each worker
 * gets a slice of the relay port range. Metrics are the sum of the workers' snapshots; logs go
 * through the main thread's logger with a `worker` field.
 */
import type { Socket as TcpSocket } from 'node:net';
import { Worker } from 'node:worker_threads';
import type { LevelWithSilent } from 'pino';
import type { Logger } from '../logger.js';
import { NonceIssuer, TurnServer } from '@dari/stun';
import { TurnAdapter, type TurnEndpoint } from './adapter.js';
import { SharedLedger } from './shared-ledger.js';
import { addSnapshot, emptySnapshot, type TurnSnapshot } from './turn-metrics.js';
import { resolveTurnConfig, type TurnConfig, type TurnContext } from './turn-config.js';

/** What a worker is started with (structured-clonable: no functions). */
export interface WorkerSetup {
  index: number;
  config: TurnConfig;
  ctx: Omit<TurnContext, 'hostAddress' | 'tls'> & { tls?: { cert: Uint8Array; key: Uint8Array } | undefined; hostAddresses: { 4?: string | undefined; 6?: string | undefined } };
  relayPorts: { minPort: number; maxPort: number };
  ledger: SharedArrayBuffer;
  nonceKey: Uint8Array;
  fastPath: 'native' | 'typescript';
  logLevel: LevelWithSilent;
}

export type ToWorker = { type: 'snapshot'; id: number } | { type: 'close' };
export type FromWorker =
  | { type: 'ready'; endpoints: TurnEndpoint[]; fastPath: 'native' | 'typescript' }
  | { type: 'failed'; message: string; code?: string | undefined }
  | { type: 'log'; line: string }
  | { type: 'snapshot'; id: number; snapshot: TurnSnapshot }
  | { type: 'closed' };

/** Worker `index` of `count`'s slice of the relay port range (the whole range when it is too small to cut). */
export function relaySlice(minPort: number, maxPort: number, index: number, count: number): { minPort: number; maxPort: number } {
  const span = maxPort - minPort + 1;
  if (span < count * 2) return { minPort, maxPort };
  return { minPort: minPort + Math.floor((index * span) / count), maxPort: minPort + Math.floor(((index + 1) * span) / count) - 1 };
}

const WORKER_URL = new URL('./worker.js', import.meta.url);
const SNAPSHOT_TIMEOUT_MS = 2000;

interface Running {
  worker: Worker;
  setup: WorkerSetup;
  last: TurnSnapshot;
  restarts: number;
  exited: boolean;
}

export class TurnWorkers {
  endpoints: TurnEndpoint[] = [];
  fastPath: 'native' | 'typescript' = 'typescript';
  private readonly running: Running[] = [];
  private closing = false;
  private nextId = 1;
  private readonly pending = new Map<number, (s: TurnSnapshot) => void>();
  /** What the main-thread server for shared-port TLS needs (set by start). */
  private shared: { config: TurnConfig; ctx: TurnContext; ledger: SharedArrayBuffer; nonceKey: Uint8Array } | undefined;
  /** Serves the TLS connections the HTTPS listener hands over (they cannot move to a worker). */
  private local: TurnAdapter | undefined;

  constructor(
    private readonly count: number,
    private readonly log: Logger,
  ) {}

  /**
   * Starts the workers: the first binds (port 0 becomes a real port), the others then bind the
   * same ports.
   * @throws Error with the first worker's bind error (code EADDRINUSE, …), after stopping them all
   */
  async start(config: TurnConfig, ctx: TurnContext, fastPath: 'native' | 'typescript', nonceKey: Uint8Array): Promise<void> {
    const { hostAddress, tls, ...rest } = ctx;
    this.shared = { config, ctx, ledger: SharedLedger.buffer(), nonceKey };
    const base = {
      ctx: { ...rest, tls: tls ? { cert: new Uint8Array(tls.cert), key: new Uint8Array(tls.key) } : undefined, hostAddresses: { 4: hostAddress?.(4), 6: hostAddress?.(6) } },
      ledger: this.shared.ledger,
      nonceKey,
      fastPath,
      logLevel: this.log.level as LevelWithSilent,
    };
    const setup = (index: number, cfg: TurnConfig): WorkerSetup => ({ ...base, index, config: cfg, relayPorts: relaySlice(cfg.minPort, cfg.maxPort, index, this.count) });
    try {
      this.endpoints = await this.spawn(setup(0, config));
      // The ports the first worker got (the same as configured unless they were 0).
      const udp = this.endpoints.find((e) => e.protocol === 'udp');
      const tcp = this.endpoints.find((e) => e.protocol === 'tcp');
      const tlsEnd = this.endpoints.find((e) => e.protocol === 'tls');
      const fixed: TurnConfig = { ...config, port: (udp ?? tcp)?.port ?? config.port, tlsPort: tlsEnd?.port ?? config.tlsPort };
      if (config.port === 0 && config.alternatePort === undefined) delete fixed.alternateIp; // port 0 has no alternate (turn-config.ts)
      await Promise.all(Array.from({ length: this.count - 1 }, (_, i) => this.spawn(setup(i + 1, fixed))));
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  private spawn(setup: WorkerSetup): Promise<TurnEndpoint[]> {
    const worker = new Worker(WORKER_URL, { workerData: setup, name: `dari-turn-${setup.index}` });
    const entry: Running = { worker, setup, last: emptySnapshot(), restarts: this.running[setup.index]?.restarts ?? 0, exited: false };
    this.running[setup.index] = entry;
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'log') this.relayLog(m.line);
        else if (m.type === 'snapshot') {
          entry.last = m.snapshot;
          this.pending.get(m.id)?.(m.snapshot);
        } else if (m.type === 'ready') {
          ready = true;
          this.fastPath = m.fastPath;
          resolve(m.endpoints);
        } else if (m.type === 'failed') {
          reject(Object.assign(new Error(m.message), { code: m.code }));
        }
      });
      worker.on('error', (err) => {
        this.log.error({ worker: setup.index, err: err.message }, 'turn worker failed');
        if (!ready) reject(err);
      });
      worker.on('exit', (code) => {
        entry.exited = true;
        if (!ready) reject(new Error(`turn worker ${setup.index} exited (${code}) before it was ready`));
        else if (!this.closing) this.restart(entry, code);
      });
    });
  }

  /** A worker died: its clients' allocations are gone; a new worker takes its listeners' share. */
  private restart(entry: Running, code: number): void {
    if (entry.restarts >= 3) {
      this.log.error({ worker: entry.setup.index, code }, 'turn worker exited; not restarted (3 restarts already)');
      return;
    }
    entry.restarts++;
    this.log.error({ worker: entry.setup.index, code, restart: entry.restarts }, 'turn worker exited; restarting it');
    const fixed = { ...entry.setup.config, port: this.endpoints.find((e) => e.protocol === 'udp' || e.protocol === 'tcp')?.port ?? entry.setup.config.port };
    this.spawn({ ...entry.setup, config: fixed }).catch((err: Error) => this.log.error({ worker: entry.setup.index, err: err.message }, 'turn worker restart failed'));
  }

  /** A worker's pino line, logged by the main thread's `turn` logger. */
  private relayLog(line: string): void {
    try {
      const { level, msg, ...fields } = JSON.parse(line) as { level: number; msg?: string } & Record<string, unknown>;
      const name = this.log.levels.labels[level] as 'info' | 'warn' | 'error' | 'debug' | 'fatal' | 'trace' | undefined;
      this.log[name ?? 'info'](fields, msg ?? '');
    } catch {
      this.log.info({ line }, 'turn worker output');
    }
  }

  /**
   * TURN over TLS on the HTTPS port: a server in this thread, with the workers' ledger and nonce
   * key, takes the connections the HTTPS listener hands over. @returns what takes each connection
   */
  acceptSharedTls(endpoint: TurnEndpoint): (socket: TcpSocket) => void {
    if (!this.shared) throw new Error('TurnWorkers.acceptSharedTls before start');
    if (!this.local) {
      const { config, ctx, ledger, nonceKey } = this.shared;
      const resolved = resolveTurnConfig(config, ctx);
      const core = new TurnServer({ ...resolved.core, ledger: new SharedLedger(ledger), nonces: new NonceIssuer(config.nonceLifetimeS, nonceKey) });
      this.local = new TurnAdapter(core, { addresses: [], port: 0, udp: false, tcp: false }, this.log.child({ worker: 'main' }), { reusePort: false });
      void this.local.start(); // no listeners: the expiry tick only
    }
    this.endpoints.push({ ...endpoint, protocol: 'tls' });
    return this.local.acceptSharedTls({ ...endpoint, protocol: 'tls' });
  }

  /** The workers' figures, summed (a worker that does not answer in 2 s counts with its last figures). */
  async snapshot(): Promise<TurnSnapshot> {
    const parts = await Promise.all(
      this.running.map(
        (r) =>
          new Promise<TurnSnapshot>((resolve) => {
            if (r.exited) return resolve(r.last);
            const id = this.nextId++;
            const timer = setTimeout(() => done(r.last), SNAPSHOT_TIMEOUT_MS);
            const done = (s: TurnSnapshot) => {
              clearTimeout(timer);
              this.pending.delete(id);
              resolve(s);
            };
            this.pending.set(id, done);
            r.worker.postMessage({ type: 'snapshot', id } satisfies ToWorker);
          }),
      ),
    );
    const sum = parts.reduce((total, s) => addSnapshot(total, s), emptySnapshot());
    if (this.local) {
      // Counted as a worker's figures, but not as a worker: it serves TLS only.
      const local = this.local.snapshot();
      local.workers = { native: 0, typescript: 0 };
      addSnapshot(sum, local);
    }
    return sum;
  }

  /** Closes every allocation and listener in every worker, and the workers. */
  async close(): Promise<void> {
    this.closing = true;
    await this.local?.close();
    await Promise.all(
      this.running.map(async (r) => {
        if (r.exited) return;
        const exited = new Promise<void>((resolve) => r.worker.once('exit', () => resolve()));
        r.worker.postMessage({ type: 'close' } satisfies ToWorker);
        const timer = setTimeout(() => void r.worker.terminate(), 5000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}
