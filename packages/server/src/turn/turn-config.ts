/**
 * The one shape of a TURN server's configuration. `TurnConfigSchema` is the `turn:` section of
 * `dari serve`'s config (config.ts), and `dari turn` maps coturn's flags onto the same shape
 * (coturn-options.ts, {@link turnConfigFromCoturn} in command.ts). {@link resolveTurnConfig} then
 * turns it into the sans-I/O core's options and the adapter's listen options, with one rule for
 * relay addresses ({@link chooseRelayAddresses}). Keys are documented in docs/configuration.md.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { NonceIssuer, PeerPolicy, isUnspecifiedAddress, nonceKeyFromSecret, parseRange, type TurnServerOptions } from '@dari/stun';
import type { TurnListenOptions } from './adapter.js';

const port = z.number().int().min(0).max(65535);
/** An IPv4 or IPv6 address that is not the unspecified one (0.0.0.0, ::). */
const concreteIp = z.string().refine((s) => isIP(s) !== 0 && !isUnspecifiedAddress(s), 'expected a concrete IPv4 or IPv6 address (not 0.0.0.0 or ::)');
const oneOrMore = <T extends z.ZodType>(item: T) => z.union([item, z.array(item).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]) as z.output<T>[]);
const peerRange = z.string().superRefine((s, ctx) => {
  try {
    parseRange(s);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});
/** coturn's `public` or `public/private` (1:1 NAT): both concrete IPs of one family. */
const externalIp = z.string().superRefine((s, ctx) => {
  const [pub = '', priv, extra] = s.split('/').map((x) => x.trim());
  const ok = (a: string) => isIP(a) !== 0 && !isUnspecifiedAddress(a);
  if (extra !== undefined || !ok(pub) || (priv !== undefined && !ok(priv))) ctx.addIssue({ code: 'custom', message: `expected "public" or "public/private" IP addresses, got ${JSON.stringify(s)}` });
  else if (priv !== undefined && isIP(pub) !== isIP(priv)) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(s)} maps between IPv4 and IPv6` });
});
const seconds = z.number().int().min(1).max(0x7fffffff);

/** The `turn:` section (RFC 8489 STUN, RFC 8656 TURN, RFC 5780). Units in names: S = seconds, Bps = bytes per second. */
export const TurnConfigSchema = z.strictObject({
  /** Run the embedded STUN/TURN server in `dari serve`. Default true. (`dari turn` always runs it.) */
  enabled: z.boolean().default(true),
  /** UDP and TCP listener port. Default 3478; 0 = any free port (tests). */
  port: port.default(3478),
  /** UDP listeners. Default true. */
  udp: z.boolean().default(true),
  /** TCP listeners (RFC 8489 §6.2.2 framing). Default true. */
  tcp: z.boolean().default(true),
  /** TURN over TLS port, used when a certificate is configured. Default 5349. */
  tlsPort: port.default(5349),
  /** TURN over TLS certificate and key (PEM files). Default: `dari serve`'s own `tls`; none for `dari turn` without --cert/--pkey. */
  tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
  /** Listener address, or a list of them. Default: `dari serve`'s `host` (localhost = 127.0.0.1); `dari turn`'s 0.0.0.0. */
  listenAddress: oneOrMore(z.string().min(1)).optional(),
  /** RFC 5780: a second IP of this host; Binding answers then carry OTHER-ADDRESS and honour CHANGE-REQUEST. */
  alternateIp: z.string().min(1).optional(),
  /** RFC 5780 other port. Default port + 1 (none when port is 0). */
  alternatePort: port.optional(),
  /** Relay address(es): at most one per family is used. Default: see chooseRelayAddresses. */
  relayAddress: oneOrMore(concreteIp).optional(),
  /**
   * Public address(es) behind a 1:1 NAT, coturn-style: `public` (stands for the relay address of
   * its family) or `public/private` (stands for that relay address). Put in XOR-RELAYED-ADDRESS
   * and in the ICE server URLs `dari serve` hands out.
   */
  externalIp: oneOrMore(externalIp).optional(),
  /** REALM (RFC 8489 §14.9). Default dari. */
  realm: z.string().min(1).refine((s) => [...s].length < 128, 'must be shorter than 128 characters (RFC 8489)').default('dari'),
  /**
   * TURN REST API secret(s); any of them validates a credential (rotation); the first also keys
   * the nonces. `dari serve`: default one derived from its API secrets (stable across restarts).
   */
  secret: oneOrMore(z.string().min(1)).optional(),
  /** Long-term credential users (RFC 8489 §9.2): name → password, or coturn's `0x` + 32 hex digits of MD5(name:realm:password). */
  users: z.record(z.string().min(1).max(508), z.string().min(1)).default({}),
  /** Anonymous TURN: no authentication at all (labs). Default false. */
  noAuth: z.boolean().default(false),
  /** Lifetime of the credentials `dari serve` hands to clients, s. Default 3600. */
  credentialTtlS: z.number().int().min(60).default(3600),
  /** Lowest relay port. Default 49152. */
  minPort: port.default(49152),
  /** Highest relay port. Default 65535. */
  maxPort: port.default(65535),
  /** Allow relaying to 127.0.0.0/8 and ::1. Default: `dari serve` only in dev mode bound to loopback; `dari turn` false. */
  allowLoopbackPeers: z.boolean().optional(),
  /** Peer ranges (IP, `a-b` or CIDR) always allowed, even inside a denied class. Default []. */
  allowedPeerIps: z.array(peerRange).default([]),
  /** Peer ranges denied on top of the safe defaults. Default []. */
  deniedPeerIps: z.array(peerRange).default([]),
  /** Concurrent allocations per user; 0 = unlimited (over: 486). Default 0. */
  userQuota: z.number().int().min(0).default(0),
  /** Concurrent allocations in total; 0 = unlimited (over: 486). Default 0. */
  totalQuota: z.number().int().min(0).default(0),
  /** Relayed bytes per second per allocation, each direction; 0 = unlimited. Default 0. */
  maxBps: z.number().int().min(0).default(0),
  /** SOFTWARE attribute in responses (RFC 8489 §14.14). Default true. */
  software: z.boolean().default(true),
  /** Nonce lifetime before 438 Stale Nonce, s. Default 600. */
  nonceLifetimeS: seconds.default(600),
  /** Longest allocation lifetime a client may ask for, s (RFC 8656 §7.2). Default 3600. */
  maxAllocationLifetimeS: seconds.default(3600),
  /** Permission lifetime, s (RFC 8656 §9). Default 300. */
  permissionLifetimeS: seconds.default(300),
  /** Channel binding lifetime, s (RFC 8656 §12). Default 600. */
  channelLifetimeS: seconds.default(600),
  /**
   * Worker threads, each with its own SO_REUSEPORT listeners: the kernel spreads client 5-tuples
   * over them, and an allocation lives in the worker its client reaches. 1 = no worker threads
   * (the server runs in the main thread). Default: the number of CPU cores.
   */
  workers: z.number().int().min(1).max(256).optional(),
  /**
   * UDP data path: `native` (the C addon, recvmmsg/sendmmsg; refused at start when it is not
   * built), `typescript`, or `auto` (native when built, else TypeScript, said once in the log).
   * Default auto.
   */
  fastPath: z.enum(['auto', 'native', 'typescript']).default('auto'),
});

export type TurnConfig = z.output<typeof TurnConfigSchema>;
export type TurnConfigInput = z.input<typeof TurnConfigSchema>;

/** Relay addresses by family, as the core takes them. */
export interface RelayAddresses {
  v4?: string;
  v6?: string;
}

/**
 * The one rule for relay addresses, for `dari turn` and `dari serve` alike: the configured relay
 * addresses if any; else the listener addresses that are concrete IPs (not 0.0.0.0/:: or a name);
 * else the host's first non-internal address of each wildcard's family (IPv4 for 0.0.0.0, both
 * for ::), or 127.0.0.1. The first address of each family is that family's relay address; a family
 * without one answers Allocate with 440 (RFC 8656 §7.2).
 * @param hostAddress the host's first non-internal address of a family (os.networkInterfaces)
 */
export function chooseRelayAddresses(listen: readonly string[], relay: readonly string[], hostAddress: (family: 4 | 6) => string | undefined): RelayAddresses {
  let candidates = relay.length > 0 ? [...relay] : listen.filter((a) => isIP(a) !== 0 && !isUnspecifiedAddress(a));
  if (candidates.length === 0) {
    const families = new Set<4 | 6>();
    for (const a of listen) if (isUnspecifiedAddress(a)) families.add(isIP(a) === 6 ? 6 : 4);
    if (families.has(6)) families.add(4); // :: takes IPv4 too (dual stack)
    candidates = [...families].flatMap((f) => hostAddress(f) ?? []);
    if (candidates.length === 0) candidates = ['127.0.0.1'];
  }
  const out: RelayAddresses = {};
  const v4 = candidates.find((a) => isIP(a) === 4);
  const v6 = candidates.find((a) => isIP(a) === 6);
  if (v4 !== undefined) out.v4 = v4;
  if (v6 !== undefined) out.v6 = v6;
  return out;
}

/** Public address by relay address: `public/private` maps private; a bare `public` maps the relay address of its family. */
export function externalAddresses(external: readonly string[], relay: RelayAddresses): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of external) {
    const [pub = '', priv] = e.split('/').map((x) => x.trim());
    const relayOfFamily = isIP(pub) === 6 ? relay.v6 : relay.v4;
    if (priv !== undefined) out.set(priv, pub);
    else if (relayOfFamily !== undefined) out.set(relayOfFamily, pub);
  }
  return out;
}

/** What the command (dari turn or dari serve) decides around the shape. */
export interface TurnContext {
  /** Listener addresses when `listenAddress` is absent. */
  defaultListen: string[];
  /** TLS certificate and key (PEM contents), already read; undefined = no TLS listener. */
  tls?: { cert: Buffer; key: Buffer } | undefined;
  /** `allowLoopbackPeers` when the config leaves it out. */
  allowLoopbackPeersDefault: boolean;
  /** TURN REST secrets when the config gives none (`dari serve` makes one up). */
  secrets?: string[];
  /** The host's first non-internal address of a family; default none (tests), adapter.ts has the real one. */
  hostAddress?: (family: 4 | 6) => string | undefined;
}

/** A configuration resolved for the core and the adapter. */
export interface ResolvedTurn {
  core: Partial<TurnServerOptions>;
  listen: TurnListenOptions;
  relay: RelayAddresses;
  /** The address clients reach: the public address of the IPv4 (else IPv6) relay, else that relay address. For ICE server URLs. */
  publicAddress: string;
  /** REST secrets in force (empty when the REST API is off). */
  secrets: string[];
  /** Loopback peers allowed, and whether the config said so (`configured`) or the command's default did (`default`). */
  loopbackPeers: 'denied' | 'configured' | 'default';
}

const MD5_KEY = /^0x([0-9a-fA-F]{32})$/;

/**
 * Resolves a validated `turn:` section. Pure: no sockets, files or clock.
 * @throws RangeError for a malformed peer range (the schema has checked them already)
 */
export function resolveTurnConfig(t: TurnConfig, ctx: TurnContext): ResolvedTurn {
  const listen = t.listenAddress ?? ctx.defaultListen;
  const relay = chooseRelayAddresses(listen, t.relayAddress ?? [], ctx.hostAddress ?? (() => undefined));
  const external = externalAddresses(t.externalIp ?? [], relay);
  const primaryRelay = relay.v4 ?? relay.v6 ?? '127.0.0.1';
  const alternatePort = t.alternatePort ?? (t.port === 0 ? 0 : t.port + 1);
  const alternate = t.alternateIp !== undefined && alternatePort !== 0 ? { address: t.alternateIp, port: alternatePort } : undefined;
  const users = new Map<string, string | Uint8Array>();
  for (const [name, secret] of Object.entries(t.users)) {
    const key = MD5_KEY.exec(secret);
    users.set(name, key ? new Uint8Array(Buffer.from(key[1]!, 'hex')) : secret);
  }
  const secrets = t.noAuth ? [] : (t.secret ?? ctx.secrets ?? []);
  const allowLoopbackPeers = t.allowLoopbackPeers ?? ctx.allowLoopbackPeersDefault;
  return {
    core: {
      realm: t.realm,
      users,
      authSecrets: secrets,
      noAuth: t.noAuth,
      software: t.software ? 'Dari' : null,
      maxLifetimeS: t.maxAllocationLifetimeS,
      defaultLifetimeS: Math.min(600, t.maxAllocationLifetimeS),
      permissionLifetimeS: t.permissionLifetimeS,
      channelLifetimeS: t.channelLifetimeS,
      relayAddresses: relay,
      externalAddresses: external,
      minPort: t.minPort,
      maxPort: t.maxPort,
      userQuota: t.userQuota,
      totalQuota: t.totalQuota,
      maxBps: t.maxBps,
      peerPolicy: new PeerPolicy({ allowLoopback: allowLoopbackPeers, allowed: t.allowedPeerIps, denied: t.deniedPeerIps }),
      // Keyed by the first REST secret: nonces then survive a restart (a client keeps its nonce).
      nonces: new NonceIssuer(t.nonceLifetimeS, secrets[0] !== undefined ? nonceKeyFromSecret(secrets[0]) : undefined),
      otherAddress: alternate,
    },
    listen: { addresses: listen, port: t.port, udp: t.udp, tcp: t.tcp, tls: ctx.tls ? { port: t.tlsPort, ...ctx.tls } : undefined, alternate },
    relay,
    publicAddress: external.get(primaryRelay) ?? primaryRelay,
    secrets,
    loopbackPeers: !allowLoopbackPeers ? 'denied' : t.allowLoopbackPeers === true ? 'configured' : 'default',
  };
}
