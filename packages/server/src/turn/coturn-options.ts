/**
 * Command line and config file of `dari turn`, the standalone STUN/TURN server. It speaks
 * coturn's dialect: the long option names of `turnserver` (coturn 4.6.1, the Debian package, is
 * the reference; options added or retired by other coturn releases are known too), its short
 * aliases, and its `turnserver.conf` format. Options Dari implements are parsed and validated;
 * options that are harmless because Dari already behaves that way are accepted as no-ops; every
 * other coturn option is refused with a message naming it. Nothing is silently ignored.
 * docs/turn.md carries the same table ({@link COTURN_OPTIONS}); a test keeps them in step.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { addressBytes, isUnspecifiedAddress, parseRange } from '@dari/stun';

/**
 * Validated coturn-style settings of `dari turn` (units in names: S = seconds, Bps = bytes per
 * second). The STUN/TURN server's part is mapped onto the one TURN shape (turn-config.ts) by
 * command.ts's turnConfigFromCoturn; logging and metrics stay with the command.
 */
export interface CoturnOptions {
  /** --listening-ip / -L (repeatable). Default ['0.0.0.0'] (all IPv4 addresses, like coturn). */
  listeningIps: string[];
  /** --listening-port / -p: UDP and TCP port. Default 3478; 0 = any free port (tests). */
  listeningPort: number;
  /** --tls-listening-port: TLS port. Default 5349; 0 = any free port. Used only when TLS is on (see noTls). */
  tlsListeningPort: number;
  /** --alt-listening-port: RFC 5780 "other port". Default listeningPort + 1 (0 when listeningPort is 0). */
  altListeningPort: number;
  /** --relay-ip / -E (repeatable). Default [] = relay from the address the client reached. */
  relayIps: string[];
  /** --external-ip / -X (repeatable): coturn's "public" or "public/private". At most one bare "public". */
  externalIps: { public: string; private?: string }[];
  /** --min-port: lowest relay port. Default 49152. */
  minPort: number;
  /** --max-port: highest relay port. Default 65535. */
  maxPort: number;
  /** --realm / -r. Default 'dari'. */
  realm: string;
  /**
   * --user / -u (repeatable): "name:password", or coturn's "name:0x<32 hex digits>" where the hex is
   * the long-term key MD5(name:realm:password) for the configured realm. `key` is stored lowercase,
   * without the 0x.
   */
  users: { name: string; password?: string; key?: string }[];
  /** --lt-cred-mech / -a: long-term credentials (RFC 8489 §9.2). Default false. */
  ltCredMech: boolean;
  /** --no-auth / -z: anonymous TURN. Default false. */
  noAuth: boolean;
  /** --use-auth-secret: TURN REST API credentials. True as well when a --static-auth-secret is given (as in coturn). */
  useAuthSecret: boolean;
  /** --static-auth-secret (repeatable, like coturn: any of them validates a REST credential). Default []. */
  staticAuthSecrets: string[];
  /** --allowed-peer-ip (repeatable): an IP, coturn's "ip1-ip2" range, or CIDR "ip/prefix". Default []. */
  allowedPeerIps: string[];
  /** --denied-peer-ip (repeatable): same syntax. Default []. */
  deniedPeerIps: string[];
  /** --allow-loopback-peers: allow relaying to 127.0.0.0/8 and ::1 (labs only). Default false. */
  allowLoopbackPeers: boolean;
  /** --user-quota / -q: concurrent allocations per user, 0 = unlimited. Default 0. */
  userQuota: number;
  /** --total-quota / -Q: concurrent allocations in total, 0 = unlimited. Default 0. */
  totalQuota: number;
  /** --max-bps / -s: bytes per second per allocation and direction (coturn's unit), 0 = unlimited. Default 0. */
  maxBps: number;
  /** --cert: PEM certificate (chain) file. Must come with pkey. */
  cert?: string;
  /** --pkey: PEM private key file (unencrypted). Must come with cert. */
  pkey?: string;
  /** --no-udp: no UDP listener. Default false. */
  noUdp: boolean;
  /** --no-tcp: no TCP listener. Default false. */
  noTcp: boolean;
  /** --no-tls: no TLS listener. True when given, and also whenever cert/pkey are absent (as coturn does). */
  noTls: boolean;
  /** --no-dtls: always true, Dari has no DTLS listener. */
  noDtls: boolean;
  /** --no-cli: always true, Dari has no telnet CLI. */
  noCli: boolean;
  /** --fingerprint / -f: add FINGERPRINT to every response. Default false (client FINGERPRINTs are always checked). */
  fingerprint: boolean;
  /** --stale-nonce[=N]: nonce lifetime, seconds. Default 600 (also when given without a value). */
  staleNonceS: number;
  /** --max-allocate-lifetime: longest allocation lifetime a client may ask for, seconds. Default 3600. */
  maxAllocateLifetimeS: number;
  /** --channel-lifetime: channel binding lifetime, seconds. Default 600 (RFC 8656). */
  channelLifetimeS: number;
  /** --permission-lifetime: permission lifetime, seconds. Default 300 (RFC 8656). */
  permissionLifetimeS: number;
  /** --verbose / -v (and --Verbose / -V, Dari has one verbose level). Default false. */
  verbose: boolean;
  /**
   * --log-file / -l: a path (written as given, appended to, no rollover), or 'stderr'.
   * Undefined = stdout (the default; coturn's special names 'stdout' and '-' mean the same).
   */
  logFile?: string;
  /** --log-format (Dari's own): `json` or `pretty`. Undefined = pretty when the log goes to a terminal, JSON otherwise. */
  logFormat?: 'json' | 'pretty';
  /**
   * --relay-threads / -m: worker threads, each with its own SO_REUSEPORT listeners; 0 = none
   * (coturn's single-thread mode: the server runs in the main thread). Undefined = one per core
   * (--cpus when given).
   */
  relayThreads?: number;
  /** --cpus (coturn ≥ 4.8.0): the number of CPU cores, for the default worker count. */
  cpus?: number;
  /** --fast-path (Dari's own): UDP data path `auto`, `native` or `typescript`. Undefined = auto. */
  fastPath?: 'auto' | 'native' | 'typescript';
  /** --prometheus: serve metrics on prometheusPort. Default false. */
  prometheus: boolean;
  /** --prometheus-port: metrics port. Default 9641 (coturn's). */
  prometheusPort: number;
  /** SOFTWARE attribute in responses; false with --no-software-attribute (or coturn's old --prod). Default true. */
  software: boolean;
  /** -h / --help was given: print usage and exit 0. Nothing else was read or validated. */
  help: boolean;
  /** --version was given: print the version and exit 0. Nothing else was read or validated. */
  version: boolean;
}

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
const LOGS = 'Dari logs to stdout or --log-file only (readable lines on a terminal, JSON otherwise)';
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

const BY_LONG = new Map<string, OptionSpec>(COTURN_OPTIONS.flatMap((o) => (o.name !== undefined ? [[o.name, o] as const] : [])));
/** Short letters map to one row; -b and -e have two long names each in coturn, the first one wins here. */
const BY_SHORT = new Map<string, OptionSpec>();
for (const o of COTURN_OPTIONS) if (o.short !== undefined && !BY_SHORT.has(o.short)) BY_SHORT.set(o.short, o);

/** The spelling used in messages: `--name`, or `-n` for short-only options. */
const display = (o: OptionSpec): string => (o.name !== undefined ? `--${o.name}` : `-${o.short ?? ''}`);

// ---------------------------------------------------------------------------------------------
// Tokenizing

interface Entry {
  spec: OptionSpec;
  value: string | undefined;
  /** Message prefix telling where the entry came from: '' (command line) or 'path:line: '. */
  at: string;
}

function unknownLong(name: string, at: string): TurnOptionError {
  const lower = name.toLowerCase();
  const names = [...BY_LONG.keys()];
  const sameCase = names.find((n) => n.toLowerCase() === lower);
  const prefixed = names.filter((n) => n.startsWith(name));
  const hint =
    sameCase !== undefined
      ? ` (did you mean --${sameCase}? option names are case-sensitive)`
      : name.length > 0 && prefixed.length === 1
        ? ` (did you mean --${prefixed[0]}? abbreviations are not accepted)`
        : '';
  return new TurnOptionError(`--${name}`, `${at}unknown option --${name}${hint}`);
}

function refuseUnsupported(spec: OptionSpec, typed: string, at: string): void {
  if (spec.status !== 'unsupported') return;
  const shown = display(spec);
  const label = typed === shown ? shown : `${typed} (${shown})`;
  throw new TurnOptionError(shown, `${at}unsupported coturn option ${label}: ${spec.note}`);
}

/** Command-line tokens to entries (getopt_long rules, exact long names only). */
function tokenizeArgv(argv: readonly string[]): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === '--') {
      const stray = argv[i + 1];
      if (stray !== undefined) throw new TurnOptionError(stray, `unexpected argument ${JSON.stringify(stray)}: dari turn takes options only`);
      break;
    }
    if (tok.startsWith('--')) {
      const eq = tok.indexOf('=');
      const name = eq >= 0 ? tok.slice(2, eq) : tok.slice(2);
      let value = eq >= 0 ? tok.slice(eq + 1) : undefined;
      const spec = BY_LONG.get(name);
      if (spec === undefined) throw unknownLong(name, '');
      refuseUnsupported(spec, `--${name}`, '');
      if (value === undefined && spec.arg === 'required') {
        value = argv[++i];
        if (value === undefined) throw new TurnOptionError(display(spec), `${display(spec)} needs a value`);
      } else if (value === undefined && spec.arg === 'optional' && /^\d+$/.test(argv[i + 1] ?? '')) {
        value = argv[++i];
      }
      out.push({ spec, value, at: '' });
      continue;
    }
    if (tok.startsWith('-') && tok.length > 1) {
      for (let j = 1; j < tok.length; j++) {
        const letter = tok[j]!;
        const spec = BY_SHORT.get(letter);
        if (spec === undefined) throw new TurnOptionError(`-${letter}`, `unknown option -${letter}`);
        refuseUnsupported(spec, `-${letter}`, '');
        if (spec.arg !== 'required') {
          out.push({ spec, value: undefined, at: '' });
          continue;
        }
        let value: string | undefined = tok.slice(j + 1);
        if (value === '') {
          value = argv[++i];
          if (value === undefined) throw new TurnOptionError(display(spec), `-${letter} (${display(spec)}) needs a value`);
        } else if (value.startsWith('=')) {
          throw new TurnOptionError(display(spec), `-${letter}${value}: a short option takes its value as -${letter} ${value.slice(1)} (or use ${display(spec)}${value})`);
        }
        out.push({ spec, value, at: '' });
        break;
      }
      continue;
    }
    const prev = out[out.length - 1];
    const hint = prev !== undefined && prev.value === undefined && prev.spec.arg !== 'required' ? ` (${display(prev.spec)} takes a value only as ${display(prev.spec)}=${tok})` : '';
    throw new TurnOptionError(tok, `unexpected argument ${JSON.stringify(tok)}${hint}`);
  }
  return out;
}

interface FileEntry {
  name: string;
  value: string | undefined;
  line: number;
}

/** turnserver.conf lines to raw entries; names are checked against the table, values are not. */
function readConfigLines(text: string, path: string): (FileEntry & { spec: OptionSpec })[] {
  const out: (FileEntry & { spec: OptionSpec })[] = [];
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const at = `${path}:${n + 1}: `;
    // coturn: leading blanks skipped, '#' only starts a comment as the first character, trailing blanks stripped.
    const line = lines[n]!.replace(/^[ \t]+/, '').replace(/\s+$/, '');
    if (line === '' || line.startsWith('#')) continue;
    // coturn: the name ends at the first space, tab or '='; any run of them separates the value.
    const m = /^([^ \t=]+)(?:[ \t=]+(.*))?$/.exec(line);
    const name = m?.[1] ?? line;
    let value: string | undefined = m?.[2];
    if (value === '') value = undefined;
    if (value !== undefined && value.startsWith('"')) {
      value = value.slice(1);
      if (value.endsWith('"')) value = value.slice(0, -1);
    }
    if (name.startsWith('-')) {
      const bare = name.replace(/^-+/, '');
      throw new TurnOptionError(`--${bare}`, `${at}--${bare}: option names in a config file have no leading dashes: write ${bare}`);
    }
    const spec = BY_LONG.get(name);
    if (spec === undefined) throw unknownLong(name, at);
    refuseUnsupported(spec, `--${name}`, at);
    if (name === 'conf-file' || name === 'help' || name === 'version') {
      throw new TurnOptionError(display(spec), `${at}${display(spec)} is only valid on the command line`);
    }
    if (spec.arg === 'required' && value === undefined) throw new TurnOptionError(display(spec), `${at}${display(spec)} needs a value`);
    out.push({ name, value, line: n + 1, spec });
  }
  return out;
}

/**
 * Parses coturn's config file format (`turnserver.conf`): one option per line as `name=value`,
 * `name value` or a bare `name` for flags; the name is a long option name without dashes
 * (case-sensitive, as in coturn); a line whose first non-blank character is `#` is a comment (a
 * `#` later in a line belongs to the value, so passwords may contain it); blank lines are skipped;
 * a value wrapped in double quotes loses the quotes. Values are returned raw; parseTurnArgs
 * validates them.
 * @param text the file content
 * @param path the file name, used in messages only
 * @returns `[name, value]` pairs in file order; value is undefined for a bare name
 * @throws TurnOptionError naming the line (`path:line:`) and the option, for an unknown name,
 *   an unsupported coturn option, a missing required value, or a command-line-only option
 *   (`conf-file`, `help`, `version`)
 */
export function parseTurnConfigFile(text: string, path: string): [string, string | undefined][] {
  return readConfigLines(text, path).map((e) => [e.name, e.value]);
}

// ---------------------------------------------------------------------------------------------
// Values

const BOOL_TRUE = new Set(['1', 'yes', 'y', 'true', 't', 'on']);
const BOOL_FALSE = new Set(['0', 'no', 'n', 'false', 'f', 'off']);

function fail(e: Entry, message: string): never {
  throw new TurnOptionError(display(e.spec), `${e.at}${display(e.spec)}: ${message}`);
}

/** coturn's boolean values: none = true, 1/yes/true/on, 0/no/false/off (any case). */
function bool(e: Entry): boolean {
  if (e.value === undefined || e.value === '') return true;
  const v = e.value.toLowerCase();
  if (BOOL_TRUE.has(v)) return true;
  if (BOOL_FALSE.has(v)) return false;
  return fail(e, `expected a boolean (on/off, yes/no, 1/0, true/false), got ${JSON.stringify(e.value)}`);
}

function str(e: Entry): string {
  if (e.value === undefined || e.value === '') return fail(e, 'needs a value');
  return e.value;
}

function int(e: Entry, min: number, max: number, what: string, defaultValue?: number): number {
  if ((e.value === undefined || e.value === '') && defaultValue !== undefined) return defaultValue;
  const v = str(e);
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) return fail(e, `expected ${what}, got ${JSON.stringify(v)}`);
  return n;
}

const port = (e: Entry, min = 0) => int(e, min, 65535, `a port ${min}-65535`);

/** An IP address (`@dari/stun`'s addressBytes, and one Node.js can bind); `concrete` refuses 0.0.0.0 and ::. */
function ip(e: Entry, text: string, concrete: boolean): string {
  if (isIP(text) === 0 || addressBytes(text) === undefined) return fail(e, `${JSON.stringify(text)} is not an IPv4 or IPv6 address`);
  if (concrete && isUnspecifiedAddress(text)) return fail(e, `${JSON.stringify(text)} is the unspecified address; give a concrete address`);
  return text;
}

/** An IP, coturn's `ip1-ip2` (same family, ip1 ≤ ip2), or CIDR `ip/prefix` (`@dari/stun`'s parseRange). Returns the trimmed text. */
function peerRange(e: Entry): string {
  const text = str(e).trim();
  try {
    parseRange(text);
  } catch (err) {
    return fail(e, (err as Error).message);
  }
  return text;
}

function externalIp(e: Entry): { public: string; private?: string } {
  const text = str(e).trim();
  const slash = text.indexOf('/');
  if (slash < 0) return { public: ip(e, text, true) };
  const pub = ip(e, text.slice(0, slash).trim(), true);
  const priv = ip(e, text.slice(slash + 1).trim(), true);
  if (isIP(pub) !== isIP(priv)) return fail(e, `${JSON.stringify(text)} maps between IPv4 and IPv6`);
  return { public: pub, private: priv };
}

/** coturn's `name:password` or `name:0x<hex key>` (split at the first ':', blanks after it skipped). */
function user(e: Entry): { name: string; password?: string; key?: string } {
  const text = str(e);
  const colon = text.indexOf(':');
  const name = colon > 0 ? text.slice(0, colon) : '';
  const secret = colon > 0 ? text.slice(colon + 1).replace(/^[ \t]+/, '') : '';
  if (name === '' || secret === '') return fail(e, `expected name:password or name:0x<32 hex digits>, got ${JSON.stringify(text)}`);
  if (Buffer.byteLength(name) > 508) return fail(e, `user name ${JSON.stringify(name.slice(0, 20))}… is longer than 508 bytes (RFC 8489 USERNAME)`);
  if (/[\u0000-\u001f\u007f]/.test(name)) return fail(e, `user name ${JSON.stringify(name)} contains control characters`);
  if (secret.startsWith('0x')) {
    const hex = secret.slice(2);
    if (!/^[0-9a-fA-F]{32}$/.test(hex)) return fail(e, `user ${name}: a 0x key must be 32 hex digits (MD5 of name:realm:password)`);
    return { name, key: hex.toLowerCase() };
  }
  return { name, password: secret };
}

// ---------------------------------------------------------------------------------------------
// Parsing

/** Defaults of every option (before any argument). */
function defaults(): CoturnOptions {
  return {
    listeningIps: ['0.0.0.0'],
    listeningPort: 3478,
    tlsListeningPort: 5349,
    altListeningPort: 3479,
    relayIps: [],
    externalIps: [],
    minPort: 49152,
    maxPort: 65535,
    realm: 'dari',
    users: [],
    ltCredMech: false,
    noAuth: false,
    useAuthSecret: false,
    staticAuthSecrets: [],
    allowedPeerIps: [],
    deniedPeerIps: [],
    allowLoopbackPeers: false,
    userQuota: 0,
    totalQuota: 0,
    maxBps: 0,
    noUdp: false,
    noTcp: false,
    noTls: false,
    noDtls: true,
    noCli: true,
    fingerprint: false,
    staleNonceS: 600,
    maxAllocateLifetimeS: 3600,
    channelLifetimeS: 600,
    permissionLifetimeS: 300,
    verbose: false,
    prometheus: false,
    prometheusPort: 9641,
    software: true,
    help: false,
    version: false,
  };
}

/** Bookkeeping next to the options while entries are applied. */
interface Work {
  o: CoturnOptions;
  listeningIpsGiven: boolean;
  altGiven: boolean;
  /** The value of --use-auth-secret when given explicitly. */
  useAuthSecretFlag: boolean | undefined;
  /** A bare --external-ip was given. */
  bareExternal: boolean;
  /** --no-tls was given (on or off). */
  noTlsGiven: boolean;
}

const MAX_LIFETIME_S = 0x7fffffff;

/** No-op flags whose "off" form is a no-op too: Dari has no database, and coturn itself ignores --no-sslv2/--no-sslv3. */
const NO_OP_EITHER_WAY = new Set(['no-auth-pings', 'no-dynamic-ip-list', 'no-dynamic-realms', 'no-sslv2', 'no-sslv3']);

function apply(w: Work, e: Entry): void {
  const o = w.o;
  const spec = e.spec;
  if (spec.status === 'no-op') {
    // A no-op flag is accepted in its "on" form only: its "off" form asks for something Dari cannot do.
    if (spec.arg === 'flag' && spec.name !== undefined && !bool(e) && !NO_OP_EITHER_WAY.has(spec.name)) {
      throw new TurnOptionError(display(spec), `${e.at}${display(spec)}=${e.value ?? ''} is not supported (Dari accepts it only as on): ${spec.note}`);
    }
    return;
  }
  switch (spec.name) {
    case 'listening-ip': {
      const a = ip(e, str(e).trim(), false);
      if (!w.listeningIpsGiven) o.listeningIps = [];
      w.listeningIpsGiven = true;
      if (o.listeningIps.includes(a)) fail(e, `${a} is given twice`);
      o.listeningIps.push(a);
      return;
    }
    case 'listening-port':
      o.listeningPort = port(e);
      return;
    case 'tls-listening-port':
      o.tlsListeningPort = port(e);
      return;
    case 'alt-listening-port':
      o.altListeningPort = port(e);
      w.altGiven = true;
      return;
    case 'relay-ip': {
      const a = ip(e, str(e).trim(), true);
      if (o.relayIps.includes(a)) fail(e, `${a} is given twice`);
      o.relayIps.push(a);
      return;
    }
    case 'external-ip': {
      const x = externalIp(e);
      if (x.private === undefined) {
        if (w.bareExternal) fail(e, 'a bare public address may be given once; map several addresses as public/private');
        w.bareExternal = true;
      }
      o.externalIps.push(x);
      return;
    }
    case 'min-port':
      o.minPort = port(e, 1);
      return;
    case 'max-port':
      o.maxPort = port(e, 1);
      return;
    case 'realm': {
      const r = str(e);
      if ([...r].length >= 128) fail(e, 'a realm must be shorter than 128 characters (RFC 8489)');
      o.realm = r;
      return;
    }
    case 'user': {
      const u = user(e);
      if (o.users.some((x) => x.name === u.name)) fail(e, `user ${u.name} is given twice`);
      o.users.push(u);
      return;
    }
    case 'lt-cred-mech':
      o.ltCredMech = bool(e);
      return;
    case 'no-auth':
      o.noAuth = bool(e);
      return;
    case 'use-auth-secret':
      w.useAuthSecretFlag = bool(e);
      return;
    case 'static-auth-secret':
      o.staticAuthSecrets.push(str(e));
      return;
    case 'allowed-peer-ip':
      o.allowedPeerIps.push(peerRange(e));
      return;
    case 'denied-peer-ip':
      o.deniedPeerIps.push(peerRange(e));
      return;
    case 'allow-loopback-peers':
      o.allowLoopbackPeers = bool(e);
      return;
    case 'user-quota':
      o.userQuota = int(e, 0, 0x7fffffff, 'a number of allocations ≥ 0');
      return;
    case 'total-quota':
      o.totalQuota = int(e, 0, 0x7fffffff, 'a number of allocations ≥ 0');
      return;
    case 'max-bps':
      o.maxBps = int(e, 0, Number.MAX_SAFE_INTEGER, 'bytes per second ≥ 0');
      return;
    case 'cert':
      o.cert = str(e);
      return;
    case 'pkey':
      o.pkey = str(e);
      return;
    case 'no-udp':
      o.noUdp = bool(e);
      return;
    case 'no-tcp':
      o.noTcp = bool(e);
      return;
    case 'no-tls':
      o.noTls = bool(e);
      w.noTlsGiven = true;
      return;
    case 'fingerprint':
      o.fingerprint = bool(e);
      return;
    case 'stale-nonce':
      o.staleNonceS = int(e, 1, MAX_LIFETIME_S, 'seconds ≥ 1', 600);
      return;
    case 'max-allocate-lifetime':
      o.maxAllocateLifetimeS = int(e, 1, MAX_LIFETIME_S, 'seconds ≥ 1', 3600);
      return;
    case 'channel-lifetime':
      o.channelLifetimeS = int(e, 1, MAX_LIFETIME_S, 'seconds ≥ 1', 600);
      return;
    case 'permission-lifetime':
      o.permissionLifetimeS = int(e, 1, MAX_LIFETIME_S, 'seconds ≥ 1', 300);
      return;
    case 'verbose':
    case 'Verbose':
      o.verbose = bool(e);
      return;
    case 'log-file': {
      const f = str(e);
      if (f === 'syslog') fail(e, `syslog is not supported: ${LOGS}`);
      if (f === 'stdout' || f === '-') delete o.logFile;
      else o.logFile = f;
      return;
    }
    case 'relay-threads':
      o.relayThreads = int(e, 0, 256, 'a number of threads 0-256');
      return;
    case 'cpus':
      o.cpus = int(e, 1, 256, 'a number of CPU cores 1-256');
      return;
    case 'fast-path': {
      const f = str(e);
      if (f !== 'auto' && f !== 'native' && f !== 'typescript') fail(e, `expected auto, native or typescript, got ${JSON.stringify(f)}`);
      o.fastPath = f;
      return;
    }
    case 'log-format': {
      const f = str(e);
      if (f !== 'json' && f !== 'pretty') fail(e, `expected json or pretty, got ${JSON.stringify(f)}`);
      o.logFormat = f;
      return;
    }
    case 'prometheus':
      o.prometheus = bool(e);
      return;
    case 'prometheus-port':
      o.prometheusPort = e.value === undefined ? 9641 : port(e);
      return;
    case 'no-software-attribute':
    case 'prod':
      o.software = !bool(e);
      return;
    case 'software-attribute':
      o.software = bool(e);
      return;
    case 'help':
    case 'conf-file':
    case 'version':
      return; // handled before entries are applied
    default:
      // A supported row without a case here is a bug in this file, not in the input.
      throw new Error(`coturn-options: no handler for ${display(spec)}`);
  }
}

function validate(w: Work): void {
  const o = w.o;
  const err = (option: string, message: string): never => {
    throw new TurnOptionError(option, `${option}: ${message}`);
  };
  if (o.minPort > o.maxPort) err('--min-port', `${o.minPort} is above --max-port ${o.maxPort}`);

  if (!w.altGiven) {
    if (o.listeningPort === 65535) err('--alt-listening-port', 'the default (listening port + 1) would be 65536; set --alt-listening-port');
    o.altListeningPort = o.listeningPort === 0 ? 0 : o.listeningPort + 1;
  } else if (o.altListeningPort !== 0 && o.altListeningPort === o.listeningPort) {
    err('--alt-listening-port', `${o.altListeningPort} is the listening port; the RFC 5780 other port must differ`);
  }

  // TLS: cert and pkey come together; without them TLS is off (as coturn does).
  if (o.cert !== undefined && o.pkey === undefined) err('--pkey', '--cert is given without --pkey');
  if (o.pkey !== undefined && o.cert === undefined) err('--cert', '--pkey is given without --cert');
  if (o.cert === undefined) {
    if (w.noTlsGiven && !o.noTls) err('--no-tls', 'is off, but TLS needs --cert and --pkey');
    o.noTls = true;
  }
  if (!o.noTls && !o.noTcp && o.tlsListeningPort !== 0 && o.tlsListeningPort === o.listeningPort) {
    err('--tls-listening-port', `${o.tlsListeningPort} is also the TCP listening port`);
  }
  if (o.noUdp && o.noTcp && o.noTls) err('--no-udp', 'with --no-tcp and no TLS listener nothing would listen');

  // Authentication.
  if (w.useAuthSecretFlag === false && o.staticAuthSecrets.length > 0) err('--use-auth-secret', 'is off but --static-auth-secret is given');
  o.useAuthSecret = w.useAuthSecretFlag === true || o.staticAuthSecrets.length > 0;
  const anyCredentials = o.users.length > 0 || o.staticAuthSecrets.length > 0;
  if (o.noAuth && (o.ltCredMech || o.useAuthSecret || anyCredentials)) {
    err('--no-auth', 'cannot be combined with --lt-cred-mech, --use-auth-secret, --static-auth-secret or --user');
  }
  if (o.useAuthSecret && o.staticAuthSecrets.length === 0) err('--use-auth-secret', 'needs --static-auth-secret (Dari has no database to read secrets from)');
  if (o.useAuthSecret && o.users.length > 0) {
    err('--user', 'cannot be combined with --use-auth-secret (coturn ignores static users when the TURN REST API is on)');
  }
  if (o.users.length > 0 && !o.ltCredMech) err('--user', 'needs --lt-cred-mech (coturn would switch it on with a warning; Dari asks you to say so)');
  if (o.ltCredMech && !o.useAuthSecret && o.users.length === 0) {
    err('--lt-cred-mech', 'no credentials configured: add --user name:password, or --use-auth-secret with --static-auth-secret');
  }
  if (!o.ltCredMech && !o.useAuthSecret && !o.noAuth) {
    err('--lt-cred-mech', 'no authentication mechanism: choose --lt-cred-mech, --use-auth-secret or --no-auth (coturn would run without authentication)');
  }
}

/**
 * Parses the arguments of `dari turn` (argv after `dari turn`), coturn-style.
 *
 * Forms: `--name value`, `--name=value`, short aliases (`-p 3478`, `-p3478`, clustered flags
 * `-af`), bare flags or `--flag=on|off|yes|no|1|0|true|false`, and for options whose value is
 * optional in coturn (`--stale-nonce[=N]`, the lifetimes, `--prometheus-port`) `--name=N` or a
 * separate numeric argument. Long names must be exact (no abbreviations, case-sensitive).
 * Repeatable options (`--listening-ip`, `--relay-ip`, `--external-ip`, `--user`,
 * `--static-auth-secret`, `--allowed-peer-ip`, `--denied-peer-ip`) accumulate; for the others
 * the last value wins.
 *
 * `-c FILE` / `--conf-file FILE` reads that coturn-format file first (see
 * {@link parseTurnConfigFile}); the command line then overrides its single-valued options and
 * adds to its repeatable ones, as coturn does. No file is read unless one is given; `-n`
 * ("do not read the default config file") is therefore accepted and does nothing, but is refused
 * together with `-c` (coturn would ignore the file). `-h`/`--help` and `--version` stop there:
 * the result has `help`/`version` set and defaults otherwise, with no file read and no checks.
 *
 * Units: ports 0-65535 (0 = any free port, for the listeners), relay ports 1-65535, lifetimes in
 * seconds (≥ 1), `--max-bps` in bytes per second (0 = unlimited), quotas in allocations
 * (0 = unlimited). Defaults are listed on {@link CoturnOptions}.
 *
 * @param argv the arguments, e.g. `['--lt-cred-mech', '--user', 'alice:secret']`
 * @param readFile reads the config file (UTF-8); default `fs.readFileSync(path, 'utf8')`
 * @returns the validated options
 * @throws TurnOptionError naming the option: unknown option, unsupported coturn option, bad
 *   value, unreadable config file, or a conflict (no or mixed authentication mechanisms, --cert
 *   without --pkey, --min-port above --max-port, no listener left, ...)
 */
export function parseTurnArgs(argv: string[], readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): CoturnOptions {
  const cli = tokenizeArgv(argv);
  const o = defaults();
  if (cli.some((e) => e.spec.name === 'help' || e.spec.name === 'version')) {
    o.help = cli.some((e) => e.spec.name === 'help');
    o.version = cli.some((e) => e.spec.name === 'version');
    return o;
  }
  const confs = cli.filter((e) => e.spec.name === 'conf-file');
  const noConf = cli.find((e) => e.spec.short === 'n' && e.spec.name === undefined);
  if (noConf && confs.length > 0) throw new TurnOptionError('-n', '-n (do not read a config file) cannot be combined with -c/--conf-file');
  if (confs.length > 1) throw new TurnOptionError('--conf-file', '--conf-file: give one config file');

  const entries: Entry[] = [];
  const conf = confs[0];
  if (conf !== undefined) {
    const path = str(conf);
    let text: string;
    try {
      text = readFile(path);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new TurnOptionError('--conf-file', `--conf-file: cannot read ${path}: ${e.code ?? e.message}`);
    }
    for (const f of readConfigLines(text, path)) entries.push({ spec: f.spec, value: f.value, at: `${path}:${f.line}: ` });
  }
  entries.push(...cli);

  const work: Work = { o, listeningIpsGiven: false, altGiven: false, useAuthSecretFlag: undefined, bareExternal: false, noTlsGiven: false };
  for (const e of entries) apply(work, e);
  validate(work);
  return o;
}
