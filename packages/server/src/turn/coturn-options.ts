/**
 * Command line and config file of `dari turn`, the standalone STUN/TURN server. It speaks
 * coturn's dialect: the long option names of `turnserver` (coturn 4.6.1, the Debian package, is
 * the reference; options added or retired by other coturn releases are known too), its short
 * aliases, and its `turnserver.conf` format. Options Dari implements are parsed and validated;
 * options that are harmless because Dari already behaves that way are accepted as no-ops; every
 * other coturn option is refused with a message naming it. Nothing is silently ignored.
 * docs/turn.md carries the same table ({@link COTURN_OPTIONS}); a test keeps them in step.
 *
 * This file holds the result ({@link CoturnOptions}, its defaults), the checks across options
 * and {@link parseTurnArgs}; the table is in coturn-option-table.ts, tokenizing in
 * coturn-argv.ts, values in coturn-values.ts, the per-option rules in coturn-apply.ts.
 */
import { readFileSync } from 'node:fs';
import { apply, type Work } from './coturn-apply.js';
import { readConfigLines, tokenizeArgv, type Entry } from './coturn-argv.js';
import { TurnOptionError } from './coturn-option-table.js';
import { str } from './coturn-values.js';

export { COTURN_OPTIONS, SUPPORTED_OPTIONS, TurnOptionError, type OptionArg, type OptionSpec, type OptionStatus } from './coturn-option-table.js';
export { parseTurnConfigFile } from './coturn-argv.js';

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
