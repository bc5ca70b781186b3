/**
 * The `dari` command line: `dari serve`, `dari token`. Returns an exit code; never calls
 * process.exit itself except through the signal handlers of `serve`.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type ServeFlags } from './config.js';
import { createLogger } from './logger.js';
import { ListenError, startServer } from './serve.js';
import { mintToken, parseDurationS } from './tokens.js';
import { Grants } from '@dari/protocol';
import { runTurn } from './turn/command.js';
import { runNatCheck } from './nat-check/run.js';

const USAGE = `usage: dari <command> [options]

commands:
  serve   run rooms, signaling, the SDK and the meeting app (default http://127.0.0.1:7880)
            --config FILE   YAML config (also DARI_CONFIG)
            --host H        bind address (default 127.0.0.1)
            --port P        HTTP/WebSocket port (default 7880)
            --keys "k: s"   API key and secret pairs (also DARI_KEYS)
            --dev           allow dev mode (fixed dev key) on a non-loopback address
            --tls-cert F --tls-key F   serve HTTPS/WSS
            --log-level L   trace|debug|info|warn|error|fatal|silent
            --redis-url U   scale out: join the cluster in this Redis (docs/scaling.md)
            --set path=val  any config key, e.g. --set signaling.reconnectGraceMs=5000
  turn    the STUN/TURN server alone, with coturn's option names (see docs/turn.md)
            e.g. --listening-ip 127.0.0.1 --lt-cred-mech --user alice:secret --realm example.org
  nat-check  classify this network's NAT (RFC 5780) and say what it means for calls
            [--stun host:port] [--json]
  token   print an access token (JWT)
            --room R --identity I [--name N] [--ttl 1h] [--metadata M]
            [--grants '{"canPublish":false}'] [--api-key K --api-secret S] [--config FILE]
`;

/** Runs the CLI. @returns the process exit code (serve resolves only after shutdown). */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        return await serve(rest);
      case 'token':
        return await token(rest);
      case 'turn':
        return await runTurn(rest);
      case 'nat-check':
        return await runNatCheck(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        process.stderr.write(`dari: unknown command ${JSON.stringify(command)}\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    if (err instanceof ConfigError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || err instanceof RangeError) {
      process.stderr.write(`dari ${command}: ${(err as Error).message}\n`);
      return 2;
    }
    throw err;
  }
}

const serveOptions = {
  config: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  dev: { type: 'boolean' },
  keys: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'log-level': { type: 'string' },
  'redis-url': { type: 'string' },
  set: { type: 'string', multiple: true },
} as const;

async function serve(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: serveOptions, strict: true, allowPositionals: false });
  const resolved = loadConfig(values as ServeFlags);
  const logger = createLogger(resolved.config.log.level);
  let server;
  try {
    server = await startServer(resolved, logger);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    if (err instanceof ListenError) {
      process.stderr.write(`dari serve: cannot listen: ${err.message}\n`);
      return 1;
    }
    const e = err as NodeJS.ErrnoException;
    process.stderr.write(`dari serve: cannot listen on ${resolved.config.host}:${resolved.config.port}: ${e.code ?? e.message}\n`);
    return 1;
  }
  const running = server;
  const turnUrls = running.turn?.adapter.endpoints.map((e) => `${e.protocol}://${e.address}:${e.port}`) ?? [];
  logger.info(
    { url: running.url, ws: running.wsUrl, turn: turnUrls },
    `ready ${running.url} (signaling ${running.wsUrl}${turnUrls.length ? `; STUN/TURN ${turnUrls.join(' ')}` : ''})`,
  );
  return await new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      running.close().then(() => {
        logger.info('stopped');
        logger.flush();
        resolve(0);
      });
    };
    // Scale-out: SIGTERM drains first (rooms go on, then move to other nodes); a second signal,
    // or SIGINT, stops at once.
    const onTerm = () => {
      if (!running.cluster) return stop('SIGTERM');
      process.once('SIGTERM', () => stop('SIGTERM'));
      logger.info({ signal: 'SIGTERM', drainTimeoutS: resolved.config.cluster.drainTimeoutS }, 'draining');
      running.drain().then(() => stop('SIGTERM'), (err: unknown) => {
        logger.error({ err }, 'drain failed');
        stop('SIGTERM');
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', onTerm);
  });
}

async function token(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      room: { type: 'string' },
      identity: { type: 'string' },
      name: { type: 'string' },
      metadata: { type: 'string' },
      ttl: { type: 'string', default: '6h' },
      grants: { type: 'string' },
      'api-key': { type: 'string' },
      'api-secret': { type: 'string' },
      config: { type: 'string' },
    },
  });
  if (!values.room) throw new ConfigError('room', 'missing --room');
  if (!values.identity) throw new ConfigError('identity', 'missing --identity');
  let apiKey = values['api-key'];
  let apiSecret = values['api-secret'];
  if (apiKey === undefined || apiSecret === undefined) {
    const resolved = loadConfig({ config: values.config });
    const first = apiKey !== undefined ? [apiKey, resolved.keys.get(apiKey)] : [...resolved.keys][0];
    if (!first || first[1] === undefined) throw new ConfigError('api-key', `no secret configured for API key ${JSON.stringify(apiKey)}`);
    [apiKey, apiSecret] = first as [string, string];
  }
  let grants;
  if (values.grants !== undefined) {
    let raw: unknown;
    try {
      raw = JSON.parse(values.grants);
    } catch {
      throw new ConfigError('grants', 'expected JSON, e.g. {"canPublish":false}');
    }
    const parsed = Grants.partial().strict().safeParse(raw);
    if (!parsed.success) throw new ConfigError('grants', parsed.error.issues[0]?.message ?? 'invalid');
    grants = parsed.data;
  }
  const jwt = await mintToken({
    apiKey,
    apiSecret,
    room: values.room,
    identity: values.identity,
    name: values.name,
    metadata: values.metadata,
    ttlS: parseDurationS(values.ttl),
    grants,
  });
  process.stdout.write(jwt + '\n');
  return 0;
}
