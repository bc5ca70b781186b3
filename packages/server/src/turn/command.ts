/**
 * `dari turn`: the STUN/TURN server alone, configured with coturn's option names
 * (see coturn-options.ts and docs/turn.md). Prints one `ready` line with its endpoints, runs
 * until SIGINT/SIGTERM, then closes every allocation and exits 0.
 */
import { readFileSync, createWriteStream } from 'node:fs';
import { createServer } from 'node:http';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { pino } from 'pino';
import { NonceIssuer, PeerPolicy, TurnServer } from '@dari/stun';
import { COTURN_OPTIONS, TurnOptionError, parseTurnArgs, type TurnOptions } from './coturn-options.js';
import { TurnAdapter, firstExternalIpv4 } from './adapter.js';
import type { Logger } from '../logger.js';

function usage(): string {
  const lines = COTURN_OPTIONS.filter((o) => o.status !== 'unsupported').map((o) => `  --${o.name}`);
  return `usage: dari turn [coturn options] [-c turnserver.conf]\n\nsupported coturn options (see docs/turn.md):\n${lines.join('\n')}\n`;
}


/** Builds the sans-I/O core from validated options. */
export function turnServerFromOptions(o: TurnOptions): { core: TurnServer; relay: { v4?: string; v6?: string } } {
  const concrete = o.listeningIps.filter((ip) => ip !== '0.0.0.0' && ip !== '::');
  const candidates = o.relayIps.length > 0 ? o.relayIps : concrete.length > 0 ? concrete : [firstExternalIpv4() ?? '127.0.0.1'];
  const relay: { v4?: string; v6?: string } = {};
  const v4 = candidates.find((ip) => !ip.includes(':'));
  const v6 = candidates.find((ip) => ip.includes(':'));
  if (v4) relay.v4 = v4;
  if (v6) relay.v6 = v6;
  const external = new Map<string, string>();
  for (const e of o.externalIps) {
    if (e.private) external.set(e.private, e.public);
    else if (relay.v4) external.set(relay.v4, e.public);
  }
  const users = new Map<string, string | Uint8Array>();
  for (const u of o.users) users.set(u.name, u.key !== undefined ? new Uint8Array(Buffer.from(u.key, 'hex')) : u.password ?? '');
  const alt = o.listeningIps[1];
  const core = new TurnServer({
    realm: o.realm,
    users,
    authSecrets: o.useAuthSecret ? o.staticAuthSecrets : [],
    noAuth: o.noAuth,
    software: o.software ? 'Dari' : null,
    maxLifetimeS: o.maxAllocateLifetimeS,
    defaultLifetimeS: Math.min(600, o.maxAllocateLifetimeS),
    permissionLifetimeS: o.permissionLifetimeS,
    channelLifetimeS: o.channelLifetimeS,
    relayAddresses: relay,
    externalAddresses: external,
    minPort: o.minPort,
    maxPort: o.maxPort,
    userQuota: o.userQuota,
    totalQuota: o.totalQuota,
    maxBps: o.maxBps,
    peerPolicy: new PeerPolicy({ allowLoopback: o.allowLoopbackPeers, allowed: o.allowedPeerIps, denied: o.deniedPeerIps }),
    nonces: new NonceIssuer(o.staleNonceS),
    otherAddress: alt && o.altListeningPort ? { address: alt, port: o.altListeningPort } : undefined,
  });
  return { core, relay };
}

/** Runs `dari turn`. @returns the exit code (after shutdown) */
export async function runTurn(argv: string[]): Promise<number> {
  let o: TurnOptions;
  try {
    o = parseTurnArgs(argv);
  } catch (err) {
    if (err instanceof TurnOptionError) {
      process.stderr.write(`dari turn: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (o.help) {
    process.stdout.write(usage());
    return 0;
  }
  if (o.version) {
    process.stdout.write('dari turn 0.1.0\n');
    return 0;
  }
  const destination = o.logFile === undefined ? process.stdout : o.logFile === 'stderr' ? process.stderr : createWriteStream(o.logFile, { flags: 'a' });
  const logger: Logger = pino({ level: o.verbose ? 'debug' : 'info', base: { app: 'dari-turn' }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
  const { core, relay } = turnServerFromOptions(o);
  let tls;
  if (!o.noTls && o.cert && o.pkey) {
    try {
      tls = { port: o.tlsListeningPort, cert: readFileSync(o.cert), key: readFileSync(o.pkey) };
    } catch (err) {
      process.stderr.write(`dari turn: --cert/--pkey: ${(err as Error).message}\n`);
      return 2;
    }
  }
  const alt = o.listeningIps[1];
  const adapter = new TurnAdapter(core, {
    addresses: o.listeningIps,
    port: o.listeningPort,
    udp: !o.noUdp,
    tcp: !o.noTcp,
    tls,
    alternate: alt && o.altListeningPort ? { address: alt, port: o.altListeningPort } : undefined,
  }, logger);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'dari_' });
  adapter.registerMetrics(registry);
  try {
    await adapter.start();
  } catch (err) {
    process.stderr.write(`dari turn: cannot listen: ${(err as Error).message}\n`);
    await adapter.close();
    return 1;
  }
  let metricsServer: ReturnType<typeof createServer> | undefined;
  if (o.prometheus) {
    metricsServer = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      void registry.metrics().then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text));
    });
    await new Promise<void>((r) => metricsServer!.listen(o.prometheusPort, r));
  }
  const endpoints = adapter.endpoints.map((e) => `${e.protocol}://${e.address.includes(':') ? `[${e.address}]` : e.address}:${e.port}`);
  if (relay.v4 === undefined && relay.v6 === undefined) logger.warn('no relay address: Allocate requests will get 440');
  if (o.allowLoopbackPeers) logger.warn('relaying to loopback peers is allowed (--allow-loopback-peers)');
  logger.info({ endpoints, relay, realm: o.realm }, `ready ${endpoints.join(' ')}`);
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      metricsServer?.close();
      void adapter.close().then(() => {
        logger.info('stopped');
        logger.flush();
        resolve(0);
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
