/**
 * Applies one option entry to the coturn options being built (coturn-options.ts's
 * parseTurnArgs): the per-option rules, in coturn's terms (repeatable options accumulate, the
 * last value of the others wins, a no-op flag is accepted only in its "on" form).
 */
import type { Entry } from './coturn-argv.js';
import { LOGS, TurnOptionError, display } from './coturn-option-table.js';
import type { CoturnOptions } from './coturn-options.js';
import { bool, externalIp, fail, int, ip, peerRange, port, str, user } from './coturn-values.js';

/** Bookkeeping next to the options while entries are applied. */
export interface Work {
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

export function apply(w: Work, e: Entry): void {
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
