/**
 * The `dari` command line: `dari serve`, `dari token`, `dari turn`, `dari nat-check`, `dari ingress`, `dari egress`; each
 * answers `--help`. Returns an exit code; never calls process.exit itself.
 */
import { ConfigError, apiCredentials, loadConfig, type ServeFlags } from './config.js';
import { createLogger } from './logger.js';
import { ListenError, startServer } from './serve.js';
import { mintToken, parseDurationS } from './tokens.js';
import { Grants } from '@dari/protocol';
import { runTurn } from './turn/command.js';
import { runNatCheck } from './nat-check/run.js';
import { runIngress } from './ingress/command.js';
import { runEgress } from './egress/command.js';
import { SERVE, TOKEN, helpText, parseCommand } from './cli-options.js';

const USAGE = `usage: dari <command> [options]

commands:
  serve      run rooms, signaling, the SFU, the embedded STUN/TURN server, the SDK and the meeting app
             (default http://127.0.0.1:7880)
  token      print an access token (JWT) for one participant in one room
  turn       the STUN/TURN server alone, with coturn's option names and turnserver.conf (docs/turn.md)
  nat-check  classify this network's NAT (RFC 5780) and say what it means for calls
  ingress    add, list or remove RTSP cameras of a running server (docs/ingest.md)
  egress     start, stop and list recordings of a running dari serve (start|stop|list)

Run "dari <command> --help" for a command's options, their units and defaults.
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
      case 'ingress':
        return await runIngress(rest);
      case 'egress':
        return await runEgress(rest);
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
    if (err instanceof ConfigError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS_') === true || err instanceof RangeError) {
      process.stderr.write(`dari ${command}: ${(err as Error).message}\n`);
      return 2;
    }
    throw err;
  }
}

async function serve(args: string[]): Promise<number> {
  const values = parseCommand(SERVE, args);
  if (values === 'help') {
    process.stdout.write(helpText(SERVE));
    return 0;
  }
  const resolved = loadConfig(values as ServeFlags);
  const logger = createLogger(resolved.config.log.level, { format: resolved.config.log.format });
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
  // Signal handlers first: a Ctrl-C that follows the ready line at once must find them.
  const stopped = new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      void running.close().then(() => {
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
  const turnUrls = running.turn?.service.endpoints.map((e) => `${e.protocol}://${e.address}:${e.port}`) ?? [];
  logger.info(
    { url: running.url, ws: running.wsUrl, turn: turnUrls },
    `ready ${running.url} (signaling ${running.wsUrl}${turnUrls.length ? `; STUN/TURN ${turnUrls.join(' ')}` : ''})`,
  );
  // MCU rooms and recording need GStreamer: say in one line what to install when it is missing.
  void running.media().then((media) => {
    if (media.ok) logger.debug({ gstreamer: media.version }, 'GStreamer found: MCU rooms and recording available');
    else logger.warn({ install: media.packages }, media.hint);
  });
  return await stopped;
}

async function token(args: string[]): Promise<number> {
  const parsed = parseCommand(TOKEN, args);
  if (parsed === 'help') {
    process.stdout.write(helpText(TOKEN));
    return 0;
  }
  const values = parsed as { [K in 'room' | 'identity' | 'name' | 'metadata' | 'ttl' | 'grants' | 'api-key' | 'api-secret' | 'config']?: string };
  if (!values.room) throw new ConfigError('room', 'missing --room');
  if (!values.identity) throw new ConfigError('identity', 'missing --identity');
  const { apiKey, apiSecret } = apiCredentials(values);
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
    ttlS: parseDurationS(values.ttl ?? '6h'),
    grants,
  });
  process.stdout.write(jwt + '\n');
  return 0;
}
