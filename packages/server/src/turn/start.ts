/**
 * Starts a STUN/TURN server from its configuration: in the main thread (`turn.workers` 1), or
 * sharded over worker threads (workers.ts); on the native fast path or the TypeScript one
 * (`turn.fastPath`). `dari turn` (command.ts) and `dari serve` (embedded.ts) both start theirs here.
 */
import { randomBytes } from 'node:crypto';
import type { Socket as TcpSocket } from 'node:net';
import { availableParallelism } from 'node:os';
import type { Registry } from 'prom-client';
import { TurnServer, nonceKeyFromSecret } from '@dari/stun';
import { loadFastPath, type FastPathLoad } from '@dari/turn-native';
import { ConfigError } from '../config.js';
import type { Logger } from '../logger.js';
import { TurnAdapter, type TurnEndpoint } from './adapter.js';
import { registerTurnMetrics, type TurnSnapshot } from './turn-metrics.js';
import { resolveTurnConfig, type ResolvedTurn, type TurnConfig, type TurnContext } from './turn-config.js';
import { TurnWorkers } from './workers.js';

/** A running STUN/TURN server. */
export interface TurnService {
  /** Bound listeners (the same in every worker). */
  endpoints: TurnEndpoint[];
  /** Worker threads; 1 = the server runs in the main thread. */
  workers: number;
  /** The data path of UDP clients. */
  fastPath: 'native' | 'typescript';
  /** Live counts and totals (summed over workers), as /metrics has them. */
  snapshot(): Promise<TurnSnapshot>;
  /**
   * TURN over TLS on a port another listener owns (HTTPS on the same port, http/tls-share.ts):
   * lists `endpoint` and returns what takes each TLS connection that listener hands over. With
   * worker threads those connections are served in the main thread (a socket cannot move to a
   * worker), by a core sharing the workers' ledger and nonce key.
   */
  acceptSharedTls(endpoint: TurnEndpoint): (socket: TcpSocket) => void;
  /** Closes every allocation and listener (and the workers). */
  close(): Promise<void>;
}

/** `turn.fastPath` chosen against what is built: the addon, or why the TypeScript path runs. */
export function chooseFastPath(wanted: TurnConfig['fastPath']): { load?: Extract<FastPathLoad, { ok: true }>; why?: string } {
  if (wanted === 'typescript') return { why: 'turn.fastPath is typescript' };
  const load = loadFastPath();
  if (load.ok) return { load };
  if (wanted === 'native') throw new ConfigError('turn.fastPath', `native, but the native fast path is not available: ${load.reason}`);
  return { why: load.reason };
}

/**
 * Binds every listener and starts the expiry tick(s).
 * @param logger the root logger; the server logs through its `turn` child
 * @param registry where the `dari_turn_*` metrics go
 * @throws Error (EADDRINUSE, EADDRNOTAVAIL, …) when a listener cannot bind; ConfigError naming
 *   turn.fastPath when it is native and the addon is not built. Nothing is left open then.
 */
export async function startTurnServer(config: TurnConfig, ctx: TurnContext, logger: Logger, registry: Registry): Promise<{ service: TurnService; resolved: ResolvedTurn }> {
  const log = logger.child({ plane: 'turn' });
  const resolved = resolveTurnConfig(config, ctx);
  const { load, why } = chooseFastPath(config.fastPath);
  const workers = config.workers ?? availableParallelism();
  let service: TurnService;
  if (workers === 1) {
    const adapter = new TurnAdapter(new TurnServer({ ...resolved.core, offload: load !== undefined }), resolved.listen, log, { reusePort: false, fastPath: load });
    registerTurnMetrics(registry, () => adapter.snapshot());
    try {
      await adapter.start();
    } catch (err) {
      await adapter.close();
      throw err;
    }
    service = { endpoints: adapter.endpoints, workers: 1, fastPath: adapter.fastPath, snapshot: async () => adapter.snapshot(), acceptSharedTls: (e) => adapter.acceptSharedTls(e), close: () => adapter.close() };
  } else {
    const sharded = new TurnWorkers(workers, log);
    registerTurnMetrics(registry, () => sharded.snapshot());
    // One nonce key for every worker: the one the first REST secret gives (it outlives a restart), else a random one.
    const nonceKey = resolved.secrets[0] !== undefined ? nonceKeyFromSecret(resolved.secrets[0]) : new Uint8Array(randomBytes(32));
    await sharded.start(config, ctx, load ? 'native' : 'typescript', nonceKey);
    service = { endpoints: sharded.endpoints, workers, fastPath: sharded.fastPath, snapshot: () => sharded.snapshot(), acceptSharedTls: (e) => sharded.acceptSharedTls(e), close: () => sharded.close() };
  }
  // Expected in dev mode on loopback (two tabs relaying to each other); a risk anywhere else.
  if (resolved.loopbackPeers === 'default') log.info('relaying to loopback peers is allowed (dev mode on loopback)');
  if (resolved.loopbackPeers === 'configured') log.warn('relaying to loopback peers is allowed (allowLoopbackPeers / --allow-loopback-peers): for labs only');
  // One line says which path runs, and why not the native one.
  const how = { workers, fastPath: service.fastPath, ...(why !== undefined ? { why } : {}) };
  if (service.fastPath === 'typescript' && config.fastPath === 'auto') log.warn(how, `UDP on the TypeScript path: the native fast path is not available (${why})`);
  else log.info(how, `UDP on the ${service.fastPath} path, ${workers === 1 ? 'in the main thread' : `${workers} worker threads`}`);
  return { service, resolved };
}
