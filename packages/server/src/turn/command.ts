/**
 * `dari turn`: the STUN/TURN server alone, configured with coturn's option names
 * (see coturn-options.ts and docs/turn.md). Prints one `ready` line with its endpoints, runs
 * until SIGINT/SIGTERM, then closes every allocation and exits 0.
 */
import { readFileSync, createWriteStream } from 'node:fs';
import { createServer } from 'node:http';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { ConfigError, validateTurnConfig } from '../config.js';
import { SUPPORTED_OPTIONS, TurnOptionError, parseTurnArgs, type OptionSpec, type CoturnOptions } from './coturn-options.js';
import { firstHostAddress } from './adapter.js';
import { startTurnServer, type TurnService } from './start.js';
import type { TurnConfig, TurnConfigInput } from './turn-config.js';
import { createLogger } from '../logger.js';

/** `dari turn --help`: every option Dari accepts, with what it does, its unit and default (the table's notes). */
function usage(): string {
  const label = (o: OptionSpec) => [o.name !== undefined ? `--${o.name}` : undefined, o.short !== undefined ? `-${o.short}` : undefined].filter((x) => x !== undefined).join(', ');
  const rows = SUPPORTED_OPTIONS.map((o) => [label(o), o.status === 'no-op' ? `accepted, no effect: ${o.note}` : o.note] as const);
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  return [
    'usage: dari turn [options] [-c turnserver.conf]',
    '',
    "The STUN/TURN server alone (RFC 8489, RFC 8656, RFC 5780), configured with coturn's option names",
    'and turnserver.conf format. Options coturn has and Dari does not are refused by name.',
    'Ports 0-65535, lifetimes in seconds, --max-bps in bytes per second. Details: docs/turn.md.',
    '',
    'options:',
    ...rows.map(([l, note]) => `  ${l.padEnd(width)}${note}`),
    '',
  ].join('\n');
}

/**
 * coturn's options in the one shape of a TURN server's configuration (turn-config.ts), the
 * shape `dari serve`'s `turn:` section has. Only what the STUN/TURN server itself uses is mapped;
 * logging and metrics options stay with the command.
 * @throws ConfigError naming a `turn.…` key, for a value coturn-options.ts let through but the schema refuses (a bug)
 */
export function turnConfigFromCoturn(o: CoturnOptions): TurnConfig {
  const alt = o.listeningIps[1];
  return validateTurnConfig({
    port: o.listeningPort,
    udp: !o.noUdp,
    tcp: !o.noTcp,
    tlsPort: o.tlsListeningPort,
    ...(!o.noTls && o.cert !== undefined && o.pkey !== undefined ? { tls: { cert: o.cert, key: o.pkey } } : {}),
    listenAddress: o.listeningIps,
    // coturn's RFC 5780 "other address" is its second listening IP.
    ...(alt !== undefined ? { alternateIp: alt, alternatePort: o.altListeningPort } : {}),
    ...(o.relayIps.length > 0 ? { relayAddress: o.relayIps } : {}),
    ...(o.externalIps.length > 0 ? { externalIp: o.externalIps.map((e) => (e.private !== undefined ? `${e.public}/${e.private}` : e.public)) } : {}),
    realm: o.realm,
    ...(o.useAuthSecret ? { secret: o.staticAuthSecrets } : {}),
    users: Object.fromEntries(o.users.map((u) => [u.name, u.key !== undefined ? `0x${u.key}` : (u.password ?? '')])),
    noAuth: o.noAuth,
    minPort: o.minPort,
    maxPort: o.maxPort,
    allowLoopbackPeers: o.allowLoopbackPeers,
    allowedPeerIps: o.allowedPeerIps,
    deniedPeerIps: o.deniedPeerIps,
    userQuota: o.userQuota,
    totalQuota: o.totalQuota,
    maxBps: o.maxBps,
    software: o.software,
    nonceLifetimeS: o.staleNonceS,
    maxAllocationLifetimeS: o.maxAllocateLifetimeS,
    permissionLifetimeS: o.permissionLifetimeS,
    channelLifetimeS: o.channelLifetimeS,
    // coturn's -m 0 is its single-thread mode: no worker threads here either.
    ...(o.relayThreads !== undefined ? { workers: Math.max(1, o.relayThreads) } : o.cpus !== undefined ? { workers: o.cpus } : {}),
    ...(o.fastPath !== undefined ? { fastPath: o.fastPath } : {}),
  } satisfies TurnConfigInput);
}

/** Runs `dari turn`. @returns the exit code (after shutdown) */
export async function runTurn(argv: string[]): Promise<number> {
  let o: CoturnOptions;
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
  const logger = createLogger(o.verbose ? 'debug' : 'info', { format: o.logFormat ?? 'auto', destination, app: 'dari-turn' });
  const config = turnConfigFromCoturn(o);
  let tls;
  if (config.tls) {
    try {
      tls = { cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) };
    } catch (err) {
      process.stderr.write(`dari turn: --cert/--pkey: ${(err as Error).message}\n`);
      return 2;
    }
  }
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'dari_' });
  let service: TurnService;
  let relay;
  try {
    ({ service, resolved: { relay } } = await startTurnServer(config, { defaultListen: ['0.0.0.0'], tls, allowLoopbackPeersDefault: false, hostAddress: firstHostAddress }, logger, registry));
  } catch (err) {
    process.stderr.write(err instanceof ConfigError ? `dari turn: --fast-path: ${err.message.replace(/^invalid config: turn\.fastPath: /, '')}\n` : `dari turn: cannot listen: ${(err as Error).message}\n`);
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
  // Signal handlers first: a Ctrl-C that follows the ready line at once must find them.
  const stopped = new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      metricsServer?.close();
      void service.close().then(() => {
        logger.info('stopped');
        logger.flush();
        resolve(0);
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  const endpoints = service.endpoints.map((e) => `${e.protocol}://${e.address.includes(':') ? `[${e.address}]` : e.address}:${e.port}`);
  logger.info({ endpoints, relay, realm: config.realm, workers: service.workers, fastPath: service.fastPath }, `ready ${endpoints.join(' ')}`);
  return stopped;
}
