/**
 * Configuration of `dari serve`: one zod schema validates what comes from the embedded
 * defaults, a YAML file (`--config`, or `DARI_CONFIG`), the environment (`DARI_*`) and CLI flags,
 * merged in that order (later wins). Every key is documented in docs/configuration.md.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DEFAULT_LIMITS, IceServer } from '@dari/protocol';
import { TurnConfigSchema, type TurnConfig } from './turn/turn-config.js';
import { ClusterConfigSchema, CompositeFallbackConfigSchema, IngressConfigSchema, IngressRetryConfigSchema, McuConfigSchema, RecordingConfigSchema, RedisConfigSchema } from './config-sections.js';
import { DEV_API_KEY, DEV_API_SECRET, MIN_SECRET_LENGTH } from './tokens.js';

/** Raised for any invalid configuration; the message names the key. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    /** Dotted path of the offending key, e.g. `signaling.maxMessageBytes`. */
    readonly key: string,
    message: string,
  ) {
    super(`invalid config: ${key}: ${message}`);
  }
}

const port = z.number().int().min(0).max(65535);

export const ConfigSchema = z.strictObject({
  /** Address HTTP/WebSocket binds to. Default 127.0.0.1. */
  host: z.string().min(1).default('127.0.0.1'),
  /** HTTP/WebSocket port. Default 7880. */
  port: port.default(7880),
  /** Allow dev mode (fixed dev key) on a non-loopback address. Default false. */
  dev: z.boolean().default(false),
  /** API key → secret (≥ 32 characters). Empty means dev mode with the documented dev key. */
  keys: z
    .record(z.string().min(1).max(128), z.string().min(MIN_SECRET_LENGTH, `secret must be at least ${MIN_SECRET_LENGTH} characters`))
    .default({}),
  /** TLS certificate and key (PEM files); when set, Dari serves HTTPS and WSS. */
  tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
  log: z
    .strictObject({
      /** pino level. Default info. */
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
      /** `auto`: readable lines when stdout is a terminal, JSON lines otherwise; `json` or `pretty` forces one. Default auto. */
      format: z.enum(['auto', 'json', 'pretty']).default('auto'),
    })
    .prefault({}),
  signaling: z
    .strictObject({
      /** Largest signaling frame, bytes. Default 65536. */
      maxMessageBytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(64 * 1024),
      /** Sustained messages per second per connection. Default 50. */
      rateLimitPerS: z.number().positive().default(50),
      /** Burst size of the rate limiter, messages. Default 200. */
      rateLimitBurst: z.number().int().min(1).default(200),
      /** Protocol errors tolerated per 10 s before closing with 1008. Default 10. */
      maxViolations: z.number().int().min(0).default(10),
      /**
       * Interval of WebSocket pings to each client, ms; a client that misses two is dropped (and
       * its grace period starts), so a dead connection is noticed within 1–2 intervals. Default 5000.
       */
      pingIntervalMs: z.number().int().min(1000).max(300_000).default(5000),
      /** Reconnect grace period, ms. Default 10000. */
      reconnectGraceMs: z.number().int().min(0).default(10_000),
      /** Time allowed from connect to join, ms. Default 10000. */
      joinTimeoutMs: z.number().int().min(100).default(10_000),
      /** Participants per room, at most 1000 (the SDK's frame limit covers a `joined` of that many). Default 100. */
      maxParticipantsPerRoom: z.number().int().min(1).max(DEFAULT_LIMITS.maxParticipantsPerRoom).default(100),
      /**
       * File that carries the rooms across a graceful restart (one node; with redis.url, Redis
       * does). Default `$XDG_STATE_HOME/dari/rooms-<host>-<port>.json` (~/.local/state), none
       * when port is 0; `""` turns it off. See signaling/state-file.ts.
       */
      stateFile: z.string().optional(),
    })
    .prefault({}),
  /** The embedded STUN/TURN server: the one shape `dari turn` uses too (turn/turn-config.ts). */
  turn: TurnConfigSchema.prefault({}),
  sfu: z
    .strictObject({
      /**
       * Topology of rooms: `auto` (P2P for two participants, the SFU from three on, and back),
       * `p2p` (full mesh always), `sfu` (always through the SFU) or `mcu` (through the SFU, each
       * browser receiving only the composite video and its N−1 audio mix). Default auto.
       */
      mode: z.enum(['auto', 'p2p', 'sfu', 'mcu']).default('auto'),
      /** Per-room policy by room name, e.g. `{ town-hall: sfu }`; `POST /api/rooms` sets it at run time. */
      rooms: z.record(z.string(), z.enum(['auto', 'p2p', 'sfu', 'mcu'])).default({}),
      /** Host addresses the SFU announces in ICE; default the `host` (loopback included). */
      announcedAddresses: z.array(z.string()).optional(),
      /**
       * The composite as a fallback in SFU rooms (docs/architecture.md, "The composite fallback";
       * the SFU core's core/composite-fallback.ts): a browser whose REMB estimate cannot carry its
       * videos even at their lowest simulcast layers receives the room's composite video instead
       * (needs GStreamer and a free media worker), and its videos back when it recovers.
       */
      compositeFallback: CompositeFallbackConfigSchema,
    })
    .prefault({}),
  mcu: McuConfigSchema,
  recording: RecordingConfigSchema,
  redis: RedisConfigSchema,
  cluster: ClusterConfigSchema,
  rtc: z
    .strictObject({
      /** ICE servers handed to clients (RTCIceServer list). Default none: host candidates only. */
      iceServers: z.array(IceServer).default([]),
    })
    .prefault({}),
  /** RTSP cameras started with the server (docs/ingest.md); `POST /api/ingress` adds more at run time. */
  ingress: IngressConfigSchema,
  /** How cameras that fail are tried again. */
  ingressRetry: IngressRetryConfigSchema,
});

export type Config = z.infer<typeof ConfigSchema>;

/** Resolved settings derived from a Config. */
export interface Resolved {
  config: Config;
  /** API key → secret in force (the dev pair in dev mode). */
  keys: Map<string, string>;
  /** True when no keys were configured. */
  devMode: boolean;
  /** True when `host` is a loopback address or name. */
  loopbackOnly: boolean;
}

/** True for 127.0.0.0/8, ::1, and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  const v = isIP(host);
  if (v === 4) return host.startsWith('127.');
  if (v === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

function issueToError(issue: z.core.$ZodIssue, root: string[] = []): ConfigError {
  const path = [...root, ...issue.path.map(String)];
  if (issue.code === 'unrecognized_keys') {
    const keys = (issue as { keys: string[] }).keys;
    const at = path.length ? `${path.join('.')}.` : '';
    return new ConfigError(`${at}${keys[0] ?? '?'}`, `unknown key${keys.length > 1 ? 's ' + keys.map((k) => at + k).join(', ') : ''}`);
  }
  return new ConfigError(path.join('.') || '(root)', issue.message);
}

/** Shortest `turn.secret` `dari serve` accepts, characters. */
export const MIN_TURN_SECRET_LENGTH = 16;

/**
 * Validates a raw `turn:` section on its own (what `dari turn` builds from coturn's flags).
 * @throws ConfigError naming the first bad key (`turn.…`)
 */
export function validateTurnConfig(raw: unknown): TurnConfig {
  const parsed = TurnConfigSchema.safeParse(raw);
  if (!parsed.success) throw issueToError(parsed.error.issues[0]!, ['turn']);
  return parsed.data;
}

/**
 * Validates a merged raw config object.
 * @throws ConfigError naming the first bad key
 */
export function validateConfig(raw: unknown): Config {
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) throw issueToError(parsed.error.issues[0]!);
  return parsed.data;
}

/**
 * Applies dev-mode rules.
 * @throws ConfigError (key `host`) when dev mode would bind a non-loopback address without `dev: true`
 */
export function resolveConfig(config: Config): Resolved {
  const configured = Object.entries(config.keys);
  const devMode = configured.length === 0;
  const loopbackOnly = isLoopbackHost(config.host);
  if (devMode && !loopbackOnly && !config.dev) {
    throw new ConfigError(
      'host',
      `refusing to bind ${config.host} with no API keys configured (dev mode); configure keys, or pass --dev to accept the public dev key`,
    );
  }
  const keys = new Map(devMode ? [[DEV_API_KEY, DEV_API_SECRET]] : configured);
  const fb = config.sfu.compositeFallback;
  if (fb.maxProbeIntervalMs < fb.probeIntervalMs) throw new ConfigError('sfu.compositeFallback.maxProbeIntervalMs', `must be at least sfu.compositeFallback.probeIntervalMs (${fb.probeIntervalMs})`);
  if (config.turn.minPort > config.turn.maxPort) throw new ConfigError('turn.minPort', `must not exceed turn.maxPort (${config.turn.maxPort})`);
  // turn.tlsPort = port: TURN over TLS shares the HTTPS listener and its certificate (http/tls-share.ts).
  if (config.turn.enabled && config.turn.tlsPort === config.port && config.turn.tls !== undefined) {
    throw new ConfigError(
      config.tls ? 'turn.tls' : 'turn.tlsPort',
      config.tls
        ? `turn.tlsPort equals port (${config.port}): TURN over TLS shares the HTTPS listener and its certificate (tls.cert, tls.key); remove turn.tls`
        : `equals port (${config.port}), which serves plain HTTP: sharing the port needs HTTPS (tls.cert, tls.key)`,
    );
  }
  // dari serve hands REST credentials to every participant: its secret must not be guessable.
  for (const [i, secret] of (config.turn.secret ?? []).entries()) {
    if (secret.length < MIN_TURN_SECRET_LENGTH) throw new ConfigError(config.turn.secret!.length > 1 ? `turn.secret.${i}` : 'turn.secret', `must be at least ${MIN_TURN_SECRET_LENGTH} characters`);
  }
  if (config.redis.url !== undefined) {
    const c = config.cluster;
    if (c.nodeTtlMs < 2 * c.heartbeatIntervalMs) throw new ConfigError('cluster.nodeTtlMs', `must be at least twice cluster.heartbeatIntervalMs (${c.heartbeatIntervalMs})`);
    if (c.nodeUrl === undefined && (config.host === '0.0.0.0' || config.host === '::')) {
      throw new ConfigError('cluster.nodeUrl', `required with redis.url when host is ${config.host}: the URL other nodes reach this node at, e.g. http://10.0.0.5:${config.port}`);
    }
  }
  return { config, keys, devMode, loopbackOnly };
}

/** Sets `value` at a dotted path inside `target`, creating objects on the way. */
function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    if (typeof v === 'object' && v !== null && !Array.isArray(v) && typeof b === 'object' && b !== null && !Array.isArray(b)) {
      out[k] = deepMerge(b as Record<string, unknown>, v as Record<string, unknown>);
    } else out[k] = v;
  }
  return out;
}

/** `7880` → 7880, `true` → true, `[...]`/`{...}` → JSON; anything else stays a string. */
function scalar(text: string): unknown {
  if (/^(true|false|null|-?\d+(\.\d+)?|\[.*\]|\{.*\})$/s.test(text.trim())) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

const camel = (snake: string): string => snake.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/**
 * Parses `key: secret` pairs, comma- or newline-separated, as in LiveKit's LIVEKIT_KEYS.
 * @throws ConfigError (key `keys`) on a pair without a colon
 */
export function parseKeyList(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(/[,\n]/).map((s) => s.trim()).filter(Boolean)) {
    const i = part.indexOf(':');
    if (i <= 0) throw new ConfigError('keys', `expected "key: secret", got ${JSON.stringify(part.slice(0, 20))}`);
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

/**
 * Reads `DARI_*` variables. `DARI_A__B_C=v` sets `a.bC`; `DARI_KEYS` takes "key: secret" pairs;
 * `DARI_CONFIG` names the YAML file and is returned separately.
 */
export function configFromEnv(env: NodeJS.ProcessEnv): { file?: string; raw: Record<string, unknown> } {
  const raw: Record<string, unknown> = {};
  let file: string | undefined;
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('DARI_') || value === undefined) continue;
    const rest = name.slice(5);
    if (rest === 'CONFIG') file = value;
    else if (rest === 'KEYS') raw['keys'] = parseKeyList(value);
    else setPath(raw, rest.split('__').map(camel), scalar(value));
  }
  return file === undefined ? { raw } : { file, raw };
}

/**
 * Reads and parses a YAML config file.
 * @throws ConfigError (key `config`) when the file cannot be read or parsed
 */
export function configFromFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('config', `cannot read ${path}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError('config', `${path} is not valid YAML: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError('config', `${path} must hold a YAML mapping`);
  return doc as Record<string, unknown>;
}

/** CLI flags of `dari serve` that map onto config keys. */
export interface ServeFlags {
  config?: string | undefined;
  host?: string | undefined;
  port?: string | undefined;
  dev?: boolean | undefined;
  keys?: string | undefined;
  'tls-cert'?: string | undefined;
  'tls-key'?: string | undefined;
  'log-level'?: string | undefined;
  'log-format'?: string | undefined;
  /** Scale-out: the Redis URL (config `redis.url`). */
  'redis-url'?: string | undefined;
  /** Repeated `path=value` overrides, e.g. `signaling.reconnectGraceMs=5000`. */
  set?: string[] | undefined;
}

/**
 * Merges defaults < file < environment < flags and validates.
 * @throws ConfigError naming the key
 */
export function loadConfig(flags: ServeFlags, env: NodeJS.ProcessEnv = process.env): Resolved {
  const fromEnv = configFromEnv(env);
  const file = flags.config ?? fromEnv.file;
  let raw: Record<string, unknown> = file ? configFromFile(file) : {};
  raw = deepMerge(raw, fromEnv.raw);
  const fromFlags: Record<string, unknown> = {};
  if (flags.host !== undefined) fromFlags['host'] = flags.host;
  if (flags.port !== undefined) {
    const n = Number(flags.port);
    fromFlags['port'] = Number.isInteger(n) ? n : flags.port;
  }
  if (flags.dev) fromFlags['dev'] = true;
  if (flags.keys !== undefined) fromFlags['keys'] = parseKeyList(flags.keys);
  if (flags['tls-cert'] !== undefined || flags['tls-key'] !== undefined) {
    fromFlags['tls'] = { cert: flags['tls-cert'], key: flags['tls-key'] };
  }
  if (flags['log-level'] !== undefined || flags['log-format'] !== undefined) {
    fromFlags['log'] = { ...(flags['log-level'] !== undefined ? { level: flags['log-level'] } : {}), ...(flags['log-format'] !== undefined ? { format: flags['log-format'] } : {}) };
  }
  if (flags['redis-url'] !== undefined) fromFlags['redis'] = { url: flags['redis-url'] };
  for (const assignment of flags.set ?? []) {
    const i = assignment.indexOf('=');
    if (i <= 0) throw new ConfigError(assignment, 'expected --set path=value');
    setPath(fromFlags, assignment.slice(0, i).split('.'), scalar(assignment.slice(i + 1)));
  }
  raw = deepMerge(raw, fromFlags);
  return resolveConfig(validateConfig(raw));
}

/**
 * The API key and secret a CLI command (`dari token`, `dari ingress`, `dari egress`) signs or
 * authenticates with: `--api-key`/`--api-secret` when both are given, else the secret of
 * `--api-key` (or the first key) from the config (`--config`, DARI_CONFIG; the dev key without one).
 * @throws ConfigError `api-key` when the config has no secret for the key; as {@link loadConfig} for a bad config
 */
export function apiCredentials(flags: { 'api-key'?: string | undefined; 'api-secret'?: string | undefined; config?: string | undefined }): { apiKey: string; apiSecret: string } {
  const apiKey = flags['api-key'];
  const apiSecret = flags['api-secret'];
  if (apiKey !== undefined && apiSecret !== undefined) return { apiKey, apiSecret };
  const resolved = loadConfig({ config: flags.config });
  const first = apiKey !== undefined ? [apiKey, resolved.keys.get(apiKey)] : [...resolved.keys][0];
  if (!first || first[1] === undefined) throw new ConfigError('api-key', `no secret configured for API key ${JSON.stringify(apiKey)}`);
  return { apiKey: first[0]!, apiSecret: first[1] };
}
