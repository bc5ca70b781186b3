/**
 * One worker thread of a sharded STUN/TURN server (workers.ts starts it): a core and an adapter
 * of its own, listening with SO_REUSEPORT on the ports every worker shares, its own slice of the
 * relay port range, and the ledger (quotas, reservation tokens) and nonce key all workers share.
 * It logs through the main thread and answers its snapshot requests (metrics).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { NonceIssuer, TurnServer } from '@dari/stun';
import { loadFastPath } from '@dari/turn-native';
import { TurnAdapter } from './adapter.js';
import { SharedLedger } from './shared-ledger.js';
import { resolveTurnConfig } from './turn-config.js';
import type { FromWorker, ToWorker, WorkerSetup } from './workers.js';

const setup = workerData as WorkerSetup;
const port = parentPort!;
const post = (m: FromWorker) => port.postMessage(m);

// pino lines go to the main thread, which logs them through its own logger (format, file).
const log = pino({ level: setup.logLevel, base: { worker: setup.index }, timestamp: false }, { write: (line: string) => post({ type: 'log', line }) });

async function main(): Promise<void> {
  const { config, ctx } = setup;
  const resolved = resolveTurnConfig(config, {
    ...ctx,
    tls: ctx.tls ? { cert: Buffer.from(ctx.tls.cert), key: Buffer.from(ctx.tls.key) } : undefined,
    hostAddress: (family) => ctx.hostAddresses[family],
  });
  const core = new TurnServer({
    ...resolved.core,
    ...setup.relayPorts,
    ledger: new SharedLedger(setup.ledger),
    nonces: new NonceIssuer(config.nonceLifetimeS, setup.nonceKey),
    offload: setup.fastPath === 'native',
  });
  const load = setup.fastPath === 'native' ? loadFastPath() : undefined;
  if (load && !load.ok) throw new Error(`native fast path: ${load.reason}`);
  const adapter = new TurnAdapter(core, resolved.listen, log, { reusePort: true, fastPath: load?.ok ? load : undefined });
  await adapter.start();
  port.on('message', (m: ToWorker) => {
    if (m.type === 'snapshot') post({ type: 'snapshot', id: m.id, snapshot: adapter.snapshot() });
    else if (m.type === 'close') {
      void adapter.close().then(() => {
        post({ type: 'closed' });
        port.close();
      });
    }
  });
  post({ type: 'ready', endpoints: adapter.endpoints, fastPath: adapter.fastPath });
}

main().catch((err: NodeJS.ErrnoException) => {
  post({ type: 'failed', message: err.message, code: err.code });
  port.close();
});
