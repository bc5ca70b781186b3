/**
 * The coturn option table of `dari turn` (coturn-options.ts): every `turnserver` option with its
 * short alias, how it takes a value, and what Dari does with it (supported, accepted as a
 * no-op, or refused with the reason). docs/turn.md carries the same table; a test keeps them in step.
 */

/** An invalid, unknown or unsupported option. `option` is its long name with dashes, e.g. `--listening-port`. */
export class TurnOptionError extends Error {
  override readonly name = 'TurnOptionError';
  constructor(
    /** The option as a long name with dashes (`--secure-stun`); `-n` for short-only options; the text for a stray argument. */
    readonly option: string,
    message: string,
  ) {
    super(message);
  }
}

/** What Dari does with a coturn option. */
export type OptionStatus = 'supported' | 'no-op' | 'unsupported';

/**
 * How the option takes a value: `flag` (coturn's boolean options: bare = on, `--x=0|1|yes|no|on|off|true|false`),
 * `optional` (`--x` or `--x=N`; on the command line a separate numeric argument is taken too),
 * `required` (`--x V`, `--x=V`, `-s V`, `-sV`).
 */
export type OptionArg = 'flag' | 'optional' | 'required';

/** One row of the option table. */
export interface OptionSpec {
  /** Long name without dashes, spelled as coturn does (case matters: `CA-file`, `Verbose`). Absent for `-n`. */
  readonly name?: string;
  /** Short alias (one letter). */
  readonly short?: string;
  readonly arg: OptionArg;
  readonly status: OptionStatus;
  /** One line: what it does in Dari, or why Dari accepts it as a no-op, or why Dari refuses it. */
  readonly note: string;
  /** Which coturn releases have it, when not 4.6.1 (e.g. "coturn ≥ 4.7.0"), or "Dari" for Dari's own spellings. */
  readonly origin?: string;
}

const NO_DB = 'Dari has no user database: use --user or --static-auth-secret';
const NO_CLI = 'Dari has no telnet CLI';
const NO_WEB_ADMIN = 'Dari has no web admin';
const ALT_SERVER = 'ALTERNATE-SERVER redirects (300 Try Alternate) are not implemented';
/** Why a syslog --log-file is refused (used by coturn-apply.ts too). */
export const LOGS = 'Dari logs to stdout or --log-file only (readable lines on a terminal, JSON otherwise)';
const NO_SWITCH = 'this STUN behaviour is not switchable in Dari';
const NODE_TLS = 'Node.js TLS chooses the key exchange; custom DH/curve settings are not supported';
const NO_DEVICE = 'Node.js cannot bind sockets to a device (SO_BINDTODEVICE)';

const S = (
  name: string | undefined,
  short: string | undefined,
  arg: OptionArg,
  status: OptionStatus,
  note: string,
  origin?: string,
): OptionSpec => ({
  ...(name !== undefined ? { name } : {}),
  ...(short !== undefined ? { short } : {}),
  arg,
  status,
  note,
  ...(origin !== undefined ? { origin } : {}),
});

/**
 * Every coturn `turnserver` option (the long_options table of coturn 4.6.1 as installed by
 * Debian, which `turnserver --help` documents, plus the ones other coturn releases added or
 * retired), and Dari's two extra spellings `--conf-file` and `--help`.
 */
export const COTURN_OPTIONS: readonly OptionSpec[] = [
  // Listeners and relays.
  S('listening-device', 'd', 'required', 'unsupported', `${NO_DEVICE}; use --listening-ip`),
  S('listening-port', 'p', 'required', 'supported', 'UDP and TCP listener port, default 3478 (0 = any free port)'),
  S('tls-listening-port', undefined, 'required', 'supported', 'TLS listener port, default 5349; TLS runs only with --cert and --pkey'),
  S('alt-listening-port', undefined, 'required', 'supported', 'RFC 5780 other port, default listening port + 1'),
  S('alt-tls-listening-port', undefined, 'required', 'unsupported', 'Dari has no alternate TLS listener'),
  S('tcp-proxy-port', undefined, 'required', 'unsupported', 'PROXY-protocol listener for load balancers is not implemented'),
  S('listening-ip', 'L', 'required', 'supported', 'listener address, repeatable; default 0.0.0.0 (all IPv4)'),
  S('relay-device', 'i', 'required', 'unsupported', `${NO_DEVICE}; use --relay-ip`),
  S('relay-ip', 'E', 'required', 'supported', 'relay address, repeatable (the first of each family is used); default: the concrete --listening-ip addresses, else the host\'s first address'),
  S('external-ip', 'X', 'required', 'supported', 'public address, or public/private mapping behind NAT, repeatable (bare form once)'),
  S('relay-threads', 'm', 'required', 'supported', 'worker threads, each with its own SO_REUSEPORT listeners; default one per CPU core; 0 = none, the server runs in the main thread'),
  S('min-port', undefined, 'required', 'supported', 'lowest relay port, default 49152'),
  S('max-port', undefined, 'required', 'supported', 'highest relay port, default 65535'),
  // Authentication.
  S('lt-cred-mech', 'a', 'flag', 'supported', 'long-term credentials (with --user, or with --use-auth-secret)'),
  S('no-auth', 'z', 'flag', 'supported', 'anonymous TURN; refused together with any credentials'),
  S('user', 'u', 'required', 'supported', 'name:password or name:0x<md5 key hex>, repeatable; needs --lt-cred-mech'),
  S('userdb', 'b', 'required', 'unsupported', NO_DB),
  S('db', 'b', 'required', 'unsupported', NO_DB),
  S('psql-userdb', 'e', 'required', 'unsupported', NO_DB),
  S('sql-userdb', 'e', 'required', 'unsupported', NO_DB),
  S('mysql-userdb', 'M', 'required', 'unsupported', NO_DB),
  S('mongo-userdb', 'J', 'required', 'unsupported', NO_DB),
  S('redis-userdb', 'N', 'required', 'unsupported', NO_DB),
  S('redis-statsdb', 'O', 'required', 'unsupported', 'Dari keeps no Redis statistics; use --prometheus'),
  S('prometheus', undefined, 'flag', 'supported', 'serve Prometheus metrics on --prometheus-port'),
  S('prometheus-port', undefined, 'optional', 'supported', 'metrics port, default 9641'),
  S('prometheus-username-labels', undefined, 'flag', 'unsupported', 'per-user metric labels are not implemented (cardinality, privacy)'),
  S('use-auth-secret', undefined, 'flag', 'supported', 'TURN REST API credentials; needs --static-auth-secret'),
  S('static-auth-secret', undefined, 'required', 'supported', 'TURN REST API shared secret, repeatable; implies --use-auth-secret'),
  S('no-auth-pings', undefined, 'flag', 'no-op', 'Dari has no user database to ping'),
  S('no-dynamic-ip-list', undefined, 'flag', 'no-op', 'Dari has no database: peer lists come only from the options'),
  S('no-dynamic-realms', undefined, 'flag', 'no-op', 'Dari has no database: the realm comes only from --realm'),
  S('secret-ts-exp-time', undefined, 'optional', 'no-op', 'deprecated, without effect in coturn too', 'removed in coturn 4.7.0'),
  S('realm', 'r', 'required', 'supported', 'realm, default dari'),
  S('server-name', undefined, 'required', 'unsupported', 'only used for oAuth, which Dari does not implement'),
  S('oauth', undefined, 'flag', 'unsupported', 'third-party authorization (RFC 7635) is not implemented'),
  // Quotas and bandwidth.
  S('user-quota', 'q', 'required', 'supported', 'concurrent allocations per user, 0 = unlimited (default)'),
  S('total-quota', 'Q', 'required', 'supported', 'concurrent allocations in total, 0 = unlimited (default)'),
  S('max-bps', 's', 'required', 'supported', 'bytes per second per allocation, 0 = unlimited (default)'),
  S('bps-capacity', 'B', 'required', 'unsupported', 'a server-wide bandwidth cap is not implemented; use --max-bps'),
  // Process, logging and protocol switches.
  S('verbose', 'v', 'flag', 'supported', 'debug logging'),
  S('Verbose', 'V', 'flag', 'supported', 'same as --verbose (Dari has one verbose level)'),
  S('daemon', 'o', 'flag', 'unsupported', 'Dari runs in the foreground; use systemd or another supervisor'),
  S('prod', undefined, 'flag', 'supported', 'old name of --no-software-attribute', 'removed in coturn 4.7.0'),
  S('no-software-attribute', undefined, 'flag', 'supported', 'no SOFTWARE attribute in responses'),
  S('software-attribute', undefined, 'flag', 'supported', 'SOFTWARE attribute in responses (the default in Dari)', 'coturn ≥ 4.7.0'),
  S('fingerprint', 'f', 'flag', 'supported', 'add FINGERPRINT to responses (client FINGERPRINTs are always checked)'),
  S('check-origin-consistency', undefined, 'flag', 'unsupported', 'Dari does not use the ORIGIN attribute'),
  S('no-udp', undefined, 'flag', 'supported', 'no UDP listener'),
  S('no-tcp', undefined, 'flag', 'supported', 'no TCP listener'),
  S('no-tls', undefined, 'flag', 'supported', 'no TLS listener (also the case without --cert and --pkey)'),
  S('no-dtls', undefined, 'flag', 'no-op', 'Dari has no DTLS listener'),
  S('no-udp-relay', undefined, 'flag', 'unsupported', 'UDP relays are the only relays Dari has'),
  S('no-tcp-relay', undefined, 'flag', 'no-op', 'Dari relays UDP only (no RFC 6062 TCP relays)'),
  S('stale-nonce', undefined, 'optional', 'supported', 'nonce lifetime in seconds, default 600'),
  S('max-allocate-lifetime', undefined, 'optional', 'supported', 'longest allocation lifetime in seconds, default 3600'),
  S('channel-lifetime', undefined, 'optional', 'supported', 'channel binding lifetime in seconds, default 600'),
  S('permission-lifetime', undefined, 'optional', 'supported', 'permission lifetime in seconds, default 300'),
  S('stun-only', 'S', 'flag', 'unsupported', 'a STUN-only mode is not implemented'),
  S('no-stun', undefined, 'flag', 'unsupported', 'Dari always answers STUN Binding requests'),
  S('cert', undefined, 'required', 'supported', 'PEM certificate file for TLS'),
  S('pkey', undefined, 'required', 'supported', 'PEM private key file for TLS'),
  S('pkey-pwd', undefined, 'required', 'unsupported', 'encrypted private keys are not supported; give an unencrypted PEM key'),
  S('log-file', 'l', 'required', 'supported', 'log to this file (as given, no rollover); stdout or - = stdout, stderr = stderr'),
  S('log-format', undefined, 'required', 'supported', 'json or pretty; default pretty when the log goes to a terminal, JSON otherwise', 'Dari'),
  S('fast-path', undefined, 'required', 'supported', 'UDP data path: native (the C addon, recvmmsg/sendmmsg), typescript, or auto (native when built); default auto', 'Dari'),
  S('no-stdout-log', undefined, 'flag', 'unsupported', LOGS),
  S('syslog', undefined, 'flag', 'unsupported', LOGS),
  S('simple-log', undefined, 'flag', 'no-op', 'Dari always writes --log-file as given, without PID/date suffix or rollover'),
  S('new-log-timestamp', undefined, 'flag', 'unsupported', `${LOGS}; their timestamp format is fixed`),
  S('new-log-timestamp-format', undefined, 'required', 'unsupported', `${LOGS}; their timestamp format is fixed`),
  S('aux-server', undefined, 'required', 'unsupported', 'auxiliary listeners are not implemented'),
  S('udp-self-balance', undefined, 'flag', 'unsupported', ALT_SERVER),
  S('alternate-server', undefined, 'required', 'unsupported', ALT_SERVER),
  S('tls-alternate-server', undefined, 'required', 'unsupported', ALT_SERVER),
  S('rest-api-separator', 'C', 'required', 'unsupported', "Dari's TURN REST usernames always use ':'"),
  S('max-allocate-timeout', undefined, 'required', 'unsupported', 'the allocation setup timeout is not configurable'),
  // Peer policy.
  S('no-multicast-peers', undefined, 'flag', 'no-op', 'Dari always denies multicast and broadcast peers'),
  S('allow-loopback-peers', undefined, 'flag', 'supported', 'allow peers on 127.0.0.0/8 and ::1 (labs only)'),
  S('allowed-peer-ip', undefined, 'required', 'supported', 'ip, ip1-ip2 or CIDR always allowed as peer, repeatable'),
  S('denied-peer-ip', undefined, 'required', 'supported', 'ip, ip1-ip2 or CIDR denied as peer, repeatable'),
  // TLS details.
  S('cipher-list', undefined, 'required', 'unsupported', 'Dari uses the Node.js default TLS ciphers'),
  S('pidfile', undefined, 'required', 'unsupported', 'Dari writes no PID file; use a supervisor'),
  S('secure-stun', undefined, 'flag', 'unsupported', 'STUN Binding requests are always answered without authentication'),
  S('CA-file', undefined, 'required', 'unsupported', 'TLS client-certificate verification is not implemented'),
  S('dh-file', undefined, 'required', 'unsupported', NODE_TLS),
  S('proc-user', undefined, 'required', 'unsupported', 'Dari does not switch user; start it as the user it should run as'),
  S('proc-group', undefined, 'required', 'unsupported', 'Dari does not switch group; start it as the user it should run as'),
  S('mobility', undefined, 'flag', 'unsupported', 'ICE mobility (MICE) is not implemented'),
  S('no-cli', undefined, 'flag', 'no-op', NO_CLI),
  S('cli-ip', undefined, 'required', 'unsupported', NO_CLI),
  S('cli-port', undefined, 'required', 'unsupported', NO_CLI),
  S('cli-password', undefined, 'required', 'unsupported', NO_CLI),
  S('web-admin', undefined, 'flag', 'unsupported', NO_WEB_ADMIN),
  S('web-admin-ip', undefined, 'required', 'unsupported', NO_WEB_ADMIN),
  S('web-admin-port', undefined, 'required', 'unsupported', NO_WEB_ADMIN),
  S('web-admin-listen-on-workers', undefined, 'flag', 'unsupported', NO_WEB_ADMIN),
  S('server-relay', undefined, 'flag', 'unsupported', 'non-standard and dangerous: it skips permission checks'),
  S('cli-max-output-sessions', undefined, 'required', 'unsupported', NO_CLI),
  S('ec-curve-name', undefined, 'required', 'unsupported', NODE_TLS),
  S('dh566', undefined, 'flag', 'unsupported', NODE_TLS),
  S('dh1066', undefined, 'flag', 'unsupported', NODE_TLS),
  S('ne', undefined, 'required', 'unsupported', "coturn's network engine selection has no counterpart", 'removed in coturn 4.10.0'),
  S('no-sslv2', undefined, 'flag', 'no-op', 'Node.js TLS never speaks SSL', 'removed in coturn 4.7.0'),
  S('no-sslv3', undefined, 'flag', 'no-op', 'Node.js TLS never speaks SSL', 'removed in coturn 4.7.0'),
  S('no-tlsv1', undefined, 'flag', 'no-op', 'Node.js refuses TLS below 1.2 by default', 'removed in coturn 4.7.0'),
  S('no-tlsv1_1', undefined, 'flag', 'no-op', 'Node.js refuses TLS below 1.2 by default', 'removed in coturn 4.7.0'),
  S('no-tlsv1_2', undefined, 'flag', 'unsupported', 'a TLS 1.3-only mode is not configurable'),
  S('secret-key-file', undefined, 'required', 'unsupported', 'it decrypts MySQL passwords; Dari has no database'),
  S('keep-address-family', 'K', 'flag', 'unsupported', 'the relay address family follows RFC 8656 and is not configurable'),
  S('allocation-default-address-family', 'A', 'required', 'unsupported', 'the relay address family follows RFC 8656 and is not configurable'),
  S('acme-redirect', undefined, 'required', 'unsupported', "Dari's TURN ports do not answer HTTP"),
  S('log-binding', undefined, 'flag', 'unsupported', 'per-request Binding logs are not implemented'),
  S('no-rfc5780', undefined, 'flag', 'unsupported', NO_SWITCH),
  S('no-stun-backward-compatibility', undefined, 'flag', 'unsupported', NO_SWITCH, 'removed in coturn 4.7.0'),
  S('response-origin-only-with-rfc5780', undefined, 'flag', 'unsupported', NO_SWITCH),
  S('version', undefined, 'flag', 'supported', 'print the version and exit'),
  S('syslog-facility', undefined, 'required', 'unsupported', LOGS),
  // Command-line only (coturn has no long names for these).
  S('conf-file', 'c', 'required', 'supported', 'read this coturn-format config file first; command-line options override it', 'coturn has only -c; --conf-file is Dari’s'),
  S(undefined, 'n', 'flag', 'no-op', 'Dari never reads /etc/turnserver.conf implicitly; refused together with -c'),
  S('help', 'h', 'flag', 'supported', 'print usage and exit', 'coturn has only -h; --help is Dari’s'),
  // Added after coturn 4.6.1.
  S('raw-public-keys', undefined, 'flag', 'unsupported', 'TLS raw public keys are not supported', 'coturn ≥ 4.6.3'),
  S('prometheus-address', undefined, 'required', 'unsupported', 'the metrics listener address is not configurable', 'coturn ≥ 4.6.3'),
  S('respond-http-unsupported', undefined, 'flag', 'unsupported', "Dari's TURN ports do not answer HTTP", 'coturn ≥ 4.6.3'),
  S('prometheus-path', undefined, 'required', 'unsupported', 'metrics are served at /metrics only', 'coturn ≥ 4.7.0'),
  S('tlsv1', undefined, 'flag', 'unsupported', 'Node.js refuses TLS below 1.2', 'coturn ≥ 4.7.0'),
  S('tlsv1_1', undefined, 'flag', 'unsupported', 'Node.js refuses TLS below 1.2', 'coturn ≥ 4.7.0'),
  S('rfc5780', undefined, 'flag', 'unsupported', NO_SWITCH, 'coturn ≥ 4.7.0'),
  S('stun-backward-compatibility', undefined, 'flag', 'unsupported', NO_SWITCH, 'coturn ≥ 4.7.0'),
  S('sock-buf-size', undefined, 'required', 'unsupported', 'socket buffer sizes are left to the OS', 'coturn ≥ 4.8.0'),
  S('drop-invalid-packets', undefined, 'flag', 'unsupported', NO_SWITCH, 'coturn ≥ 4.8.0'),
  S('drop-invalid-packets-log', undefined, 'flag', 'unsupported', NO_SWITCH, 'coturn ≥ 4.8.0'),
  S('cpus', undefined, 'required', 'supported', 'number of CPU cores, for the default number of worker threads', 'coturn ≥ 4.8.0'),
  S('cli', undefined, 'flag', 'unsupported', NO_CLI, 'coturn ≥ 4.10.0'),
  S('include-reason-string', undefined, 'flag', 'unsupported', NO_SWITCH, 'coturn ≥ 4.10.0'),
  S('udp-recvmmsg', undefined, 'flag', 'no-op', "Dari's native fast path batches with recvmmsg/sendmmsg whenever it runs (--fast-path)", 'coturn ≥ 4.10.0'),
  S('udp-recvmmsg-log', undefined, 'flag', 'unsupported', 'per-batch logs are not implemented; batch sizes are in dari_turn_native_syscalls_total', 'coturn ≥ 4.12.0'),
  S('udp-gso', undefined, 'flag', 'unsupported', 'UDP GSO is not used (the native fast path batches with sendmmsg)', 'coturn ≥ 4.12.0'),
  S('multiplex-peer', undefined, 'flag', 'unsupported', 'relay multiplexing on a shared port is not implemented', 'coturn ≥ 4.12.0'),
  S('multiplex-peer-port', undefined, 'required', 'unsupported', 'relay multiplexing on a shared port is not implemented', 'coturn ≥ 4.12.0'),
  S('udp-sendmmsg-log', undefined, 'flag', 'unsupported', 'per-batch logs are not implemented; batch sizes are in dari_turn_native_syscalls_total', 'coturn ≥ 4.13.0'),
  S('prometheus-tls', undefined, 'flag', 'unsupported', 'metrics are plain HTTP; put a TLS proxy in front', 'coturn ≥ 4.14.0'),
  S('prometheus-cert', undefined, 'required', 'unsupported', 'metrics are plain HTTP; put a TLS proxy in front', 'coturn ≥ 4.14.0'),
  S('prometheus-key', undefined, 'required', 'unsupported', 'metrics are plain HTTP; put a TLS proxy in front', 'coturn ≥ 4.14.0'),
  S('unauthorized-ratelimit', undefined, 'flag', 'unsupported', 'rate limits on 401 responses are not configurable', 'coturn ≥ 4.14.0'),
  S('unauthorized-ratelimit-rps', undefined, 'optional', 'unsupported', 'rate limits on 401 responses are not configurable', 'coturn ≥ 4.14.0'),
  S('log-min-level', undefined, 'required', 'unsupported', 'use --verbose', 'coturn ≥ 4.15.0'),
  S('tcp-alternate-server', undefined, 'required', 'unsupported', ALT_SERVER, 'coturn ≥ 4.15.0'),
  S('udp-alternate-server', undefined, 'required', 'unsupported', ALT_SERVER, 'coturn ≥ 4.15.0'),
  S('drain-min-allocations', undefined, 'required', 'unsupported', 'drain mode is not implemented', 'coturn ≥ 4.15.0'),
  S('multiplex-peer-max-peers', undefined, 'required', 'unsupported', 'relay multiplexing on a shared port is not implemented', 'coturn ≥ 4.16.0'),
  S('rfc5766-channel-numbers', undefined, 'flag', 'unsupported', 'channel numbers follow RFC 8656 (0x4000-0x4FFF)', 'coturn ≥ 4.16.0'),
  S('rfc3489-compatibility', undefined, 'flag', 'unsupported', 'RFC 3489 requests (no magic cookie) are not answered', 'coturn ≥ 4.16.0'),
  S('stateless-nonce', undefined, 'flag', 'unsupported', 'the nonce scheme is not configurable', 'coturn ≥ 4.16.0'),
  S('stateless-nonce-secret', undefined, 'required', 'unsupported', 'the nonce scheme is not configurable', 'coturn ≥ 4.16.0'),
  S('dtls', undefined, 'flag', 'unsupported', 'Dari has no DTLS listener', 'coturn ≥ 4.17.0'),
  // Retired before coturn 4.6.
  S('no-loopback-peers', undefined, 'flag', 'no-op', 'Dari denies loopback peers unless --allow-loopback-peers', 'coturn ≤ 4.5.0.8'),
  S('no-http', undefined, 'flag', 'unsupported', 'retired from coturn', 'coturn 4.5.0.7-4.5.0.8'),
  S('dh2066', undefined, 'flag', 'unsupported', NODE_TLS, 'coturn ≤ 4.5.1.1'),
  S('sha256', undefined, 'flag', 'unsupported', 'retired from coturn; RFC 8489 SHA-256 integrity is not switchable', 'coturn ≤ 4.4.4.2'),
  S('sha384', undefined, 'flag', 'unsupported', 'retired from coturn', 'coturn ≤ 4.4.4.2'),
  S('sha512', undefined, 'flag', 'unsupported', 'retired from coturn', 'coturn ≤ 4.4.4.2'),
  S('st-cred-mech', undefined, 'flag', 'unsupported', 'short-term credentials were retired from coturn', 'coturn ≤ 4.3.3.1'),
];

/** The rows Dari accepts: supported options and accepted no-ops. */
export const SUPPORTED_OPTIONS: readonly OptionSpec[] = COTURN_OPTIONS.filter((o) => o.status !== 'unsupported');

/** Rows by long name. */
export const BY_LONG: ReadonlyMap<string, OptionSpec> = new Map<string, OptionSpec>(COTURN_OPTIONS.flatMap((o) => (o.name !== undefined ? [[o.name, o] as const] : [])));
/** Short letters map to one row; -b and -e have two long names each in coturn, the first one wins here. */
const byShort = new Map<string, OptionSpec>();
for (const o of COTURN_OPTIONS) if (o.short !== undefined && !byShort.has(o.short)) byShort.set(o.short, o);
export const BY_SHORT: ReadonlyMap<string, OptionSpec> = byShort;

/** The spelling used in messages: `--name`, or `-n` for short-only options. */
export const display = (o: OptionSpec): string => (o.name !== undefined ? `--${o.name}` : `-${o.short ?? ''}`);
