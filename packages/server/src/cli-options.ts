/**
 * Options of the `dari` subcommands that use node:util parseArgs (serve, token, nat-check): one
 * table per command gives both the parser's options and the `--help` text, so the two cannot
 * drift. (`dari turn` has coturn's table, coturn-options.ts.)
 */
import { parseArgs } from 'node:util';

/** One option: its long name, value placeholder (absent for a flag), and help with unit and default. */
export interface FlagSpec {
  readonly name: string;
  /** Shown after the name, e.g. `FILE`; absent = a boolean flag. */
  readonly value?: string;
  readonly multiple?: boolean;
  /** Value when the option is absent; shown as "(default …)" after the help. (serve's defaults come from the config schema and are in the help text.) */
  readonly default?: string;
  /** One line: what it does, its unit, and (when not in `default`) its default. */
  readonly help: string;
}

/** A subcommand's usage line, summary and options. */
export interface CommandSpec {
  readonly name: string;
  readonly usage: string;
  readonly summary: string;
  readonly flags: readonly FlagSpec[];
  /** Lines after the option list (environment, docs). */
  readonly notes?: readonly string[];
}

const HELP: FlagSpec = { name: 'help', help: 'print this help and exit (also -h)' };

/** `--help` text of a command: usage, summary, one line per option (with unit and default). */
export function helpText(c: CommandSpec): string {
  const flags = [...c.flags, HELP];
  const label = (f: FlagSpec) => `--${f.name}${f.value !== undefined ? ` ${f.value}` : ''}`;
  const width = Math.max(...flags.map((f) => label(f).length)) + 2;
  const lines = flags.map((f) => `  ${label(f).padEnd(width)}${f.help}${f.default !== undefined ? ` (default ${f.default})` : ''}`);
  return `usage: ${c.usage}\n\n${c.summary}\n\noptions:\n${lines.join('\n')}\n${c.notes?.length ? `\n${c.notes.join('\n')}\n` : ''}`;
}

type ParsedValues = Record<string, string | boolean | string[] | undefined>;

/**
 * Parses a command's arguments against its table (strict: unknown options and positionals are refused).
 * @returns the values, or `'help'` when `--help`/`-h` was given (nothing else is checked then)
 * @throws TypeError with code ERR_PARSE_ARGS_UNKNOWN_OPTION (or another ERR_PARSE_ARGS_*) naming the bad argument
 */
export function parseCommand(c: CommandSpec, args: string[]): ParsedValues | 'help' {
  if (args.includes('--help') || args.includes('-h')) return 'help';
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; default?: string }> = {};
  for (const f of c.flags) {
    options[f.name] = { type: f.value !== undefined ? 'string' : 'boolean', ...(f.multiple ? { multiple: true } : {}), ...(f.default !== undefined ? { default: f.default } : {}) };
  }
  return parseArgs({ args, options, strict: true, allowPositionals: false }).values as ParsedValues;
}

export const SERVE: CommandSpec = {
  name: 'serve',
  usage: 'dari serve [options]',
  summary: 'Runs everything in one process: HTTP(S) with the meeting app, the SDK and the REST API, WebSocket\nsignaling, the SFU and the embedded STUN/TURN server. Prints one `ready` line with its URLs.',
  flags: [
    { name: 'config', value: 'FILE', help: 'YAML config file (also DARI_CONFIG); keys in docs/configuration.md' },
    { name: 'host', value: 'H', help: 'address for HTTP and WebSocket (default 127.0.0.1; also the STUN/TURN listener)' },
    { name: 'port', value: 'P', help: 'HTTP/WebSocket port (default 7880; 0 = any free port)' },
    { name: 'keys', value: '"key: secret"', help: 'API key and secret pairs, comma-separated, secrets ≥ 32 characters (also DARI_KEYS; default: dev mode)' },
    { name: 'dev', help: 'allow dev mode (the public dev key) on a non-loopback address (default off)' },
    { name: 'tls-cert', value: 'FILE', help: 'PEM certificate: serve HTTPS/WSS (and TURN over TLS); needs --tls-key' },
    { name: 'tls-key', value: 'FILE', help: 'PEM private key for --tls-cert' },
    { name: 'log-level', value: 'L', help: 'trace|debug|info|warn|error|fatal|silent (default info)' },
    { name: 'log-format', value: 'F', help: 'json|pretty (default pretty when stdout is a terminal, JSON otherwise)' },
    { name: 'redis-url', value: 'U', help: 'scale out: join the cluster in this Redis, redis://host:port[/db] (default: one node; docs/scaling.md)' },
    { name: 'set', value: 'path=value', multiple: true, help: 'any config key, repeatable, e.g. --set signaling.reconnectGraceMs=5000' },
  ],
  notes: [
    'Sources merge as defaults < --config file < DARI_* environment < flags (DARI_TURN__PORT=3479 sets turn.port).',
    'Every key, with its unit and default: docs/configuration.md.',
  ],
};

export const TOKEN: CommandSpec = {
  name: 'token',
  usage: 'dari token --room R --identity I [options]',
  summary: 'Prints an access token (a JWT, HS256) that lets one participant join one room.',
  flags: [
    { name: 'room', value: 'R', help: 'room name (required)' },
    { name: 'identity', value: 'I', help: 'participant identity, unique in the room (required)' },
    { name: 'name', value: 'N', help: 'display name (default: none)' },
    { name: 'metadata', value: 'M', help: 'free-form metadata string other participants see (default: none)' },
    { name: 'ttl', value: 'D', default: '6h', help: 'lifetime: seconds, or a number with s, m, h or d' },
    { name: 'grants', value: 'JSON', help: 'permissions to change, e.g. \'{"canPublish":false}\' (default: all allowed)' },
    { name: 'api-key', value: 'K', help: 'API key to sign with (default: the first configured key, or the dev key)' },
    { name: 'api-secret', value: 'S', help: 'its secret (default: looked up in the config)' },
    { name: 'config', value: 'FILE', help: 'YAML config file to read keys from (also DARI_CONFIG)' },
  ],
  notes: ['Token claims and grants: docs/protocol.md.'],
};

export const NAT_CHECK: CommandSpec = {
  name: 'nat-check',
  usage: 'dari nat-check [options]',
  summary: "Classifies this network's NAT (RFC 5780 behaviour discovery against a STUN server with a second\naddress, e.g. dari serve with turn.alternateIp) and says what it means for calls.",
  flags: [
    { name: 'stun', value: 'host:port', default: '127.0.0.1:3478', help: 'STUN server; the port defaults to 3478' },
    { name: 'json', help: 'print the report as one JSON object (default: text)' },
    { name: 'rto-ms', value: 'MS', default: '300', help: 'first retransmission timeout, ms; doubles on each of 3 tries' },
    { name: 'tls-port', value: 'PORT', default: '443', help: 'when UDP and TCP are blocked: port where STUN over TLS is tried (TURN over TLS sharing the HTTPS port)' },
  ],
};
