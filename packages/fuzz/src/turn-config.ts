/**
 * The TURN server target's world: a server configuration (JSON-able, so a failing case carries
 * it), the client 5-tuples, and who the clients are (users with passwords or precomputed keys,
 * USERHASH, TURN REST API users, attackers without credentials).
 */
import {
  NonceIssuer, PeerPolicy, TurnServer, longTermKey, restPassword, tupleKey, PasswordAlgorithm, type ClientTuple, type Protocol,
} from '@dari/stun';
import { Rng } from './rng.js';
import { toHex, fromHex } from './mutate.js';

/** Everything a {@link TurnServer} of a case is built from. Durations in s, times in ms. */
export interface TurnConfig {
  realm: string;
  /** Long-term users: [name, password]. */
  users: [string, string][];
  /** Users configured by key (coturn's `-u name:0x<md5>`): [name, password the key was made from]. */
  keyUsers: [string, string][];
  authSecrets: string[];
  noAuth: boolean;
  software: boolean;
  defaultLifetimeS: number;
  maxLifetimeS: number;
  permissionLifetimeS: number;
  channelLifetimeS: number;
  relayV4?: string;
  relayV6?: string;
  /** [relay address, advertised address]. */
  external: [string, string][];
  minPort: number;
  maxPort: number;
  userQuota: number;
  totalQuota: number;
  maxBps: number;
  maxPermissionsPerAllocation: number;
  allowLoopback: boolean;
  allowedPeers: string[];
  deniedPeers: string[];
  nonceLifetimeS: number;
  otherAddress?: { address: string; port: number };
  /** The fake clock's start, ms since the epoch. */
  start: number;
  /** Seed of the server's random source (relay ports, reservation tokens). */
  randomSeed: number;
  /** The core emits `install` actions for an offloaded data plane (the native fast path). Absent = false (cases saved before it existed). */
  offload?: boolean;
}

export const TUPLES: readonly ClientTuple[] = [
  tuple('udp', '192.0.2.10', 40000, '192.0.2.1', 3478),
  tuple('udp', '192.0.2.11', 40001, '192.0.2.1', 3478),
  tuple('tcp', '192.0.2.10', 40002, '192.0.2.1', 3478),
  tuple('tls', '198.51.100.20', 50000, '192.0.2.1', 5349),
  tuple('udp', '2001:db8::10', 40000, '2001:db8::1', 3478),
  tuple('tcp', '2001:db8::11', 40003, '2001:db8::1', 3478),
];

function tuple(protocol: Protocol, address: string, port: number, localAddress: string, localPort: number): ClientTuple {
  return { key: tupleKey(protocol, address, port, localAddress, localPort), protocol, address, port, family: address.includes(':') ? 6 : 4, localAddress, localPort };
}

/** A random configuration: small port ranges and quotas so that limits are reached. */
export function randomConfig(rng: Rng): TurnConfig {
  const maxLifetimeS = rng.pick([600, 3600, 60]);
  const minPort = rng.pick([49152, 50000, 65530]);
  const c: TurnConfig = {
    realm: rng.pick(['example.org', 'dari', 'ex\u00e4mple']),
    users: [['alice', 'secret'], ['bob', 'b0b'], ['日本', 'パスワード']],
    keyUsers: [['carol', 'carol-pass']],
    authSecrets: rng.chance(0.6) ? ['s3cret-1', 's3cret-2'].slice(0, 1 + rng.int(2)) : [],
    noAuth: rng.chance(0.05),
    software: rng.chance(0.8),
    defaultLifetimeS: Math.min(600, maxLifetimeS),
    maxLifetimeS,
    permissionLifetimeS: 300,
    channelLifetimeS: 600,
    external: [],
    minPort,
    maxPort: Math.min(65535, minPort + rng.pick([1, 5, 15, 200])),
    userQuota: rng.pick([0, 0, 1, 2]),
    totalQuota: rng.pick([0, 0, 2, 4]),
    maxBps: rng.pick([0, 0, 0, 2000]),
    maxPermissionsPerAllocation: rng.pick([1000, 3, 1]),
    allowLoopback: rng.chance(0.3),
    allowedPeers: rng.chance(0.2) ? ['10.1.2.0/24'] : [],
    deniedPeers: rng.chance(0.2) ? ['203.0.113.0/24', '2001:db8::/32'] : [],
    nonceLifetimeS: rng.pick([600, 30]),
    start: 1_700_000_000_000 + rng.int(1_000_000) * 1000,
    randomSeed: rng.u32(),
  };
  const relays = rng.weighted<'v4' | 'v6' | 'both'>([[5, 'v4'], [1, 'v6'], [3, 'both']]);
  if (relays !== 'v6') c.relayV4 = '192.0.2.1';
  if (relays !== 'v4') c.relayV6 = '2001:db8::1';
  if (rng.chance(0.3) && c.relayV4) c.external.push([c.relayV4, '203.0.113.1']);
  if (rng.chance(0.3)) c.otherAddress = rng.pick([{ address: '192.0.2.2', port: 3479 }, { address: '2001:db8::2', port: 3479 }]);
  c.offload = rng.chance(0.5);
  return c;
}

/** Builds the server of a configuration. */
export function buildServer(c: TurnConfig): TurnServer {
  const random = new Rng(c.randomSeed);
  const users = new Map<string, string | Uint8Array>(c.users);
  for (const [name, password] of c.keyUsers) users.set(name, longTermKey(name, c.realm, password));
  return new TurnServer({
    realm: c.realm,
    users,
    authSecrets: c.authSecrets,
    noAuth: c.noAuth,
    software: c.software ? 'Dari' : null,
    defaultLifetimeS: c.defaultLifetimeS,
    maxLifetimeS: c.maxLifetimeS,
    permissionLifetimeS: c.permissionLifetimeS,
    channelLifetimeS: c.channelLifetimeS,
    relayAddresses: { ...(c.relayV4 ? { v4: c.relayV4 } : {}), ...(c.relayV6 ? { v6: c.relayV6 } : {}) },
    externalAddresses: new Map(c.external),
    minPort: c.minPort,
    maxPort: c.maxPort,
    userQuota: c.userQuota,
    totalQuota: c.totalQuota,
    maxBps: c.maxBps,
    maxPermissionsPerAllocation: c.maxPermissionsPerAllocation,
    peerPolicy: policyOf(c),
    nonces: new NonceIssuer(c.nonceLifetimeS, new Uint8Array(32).fill(9)),
    otherAddress: c.otherAddress,
    random: () => random.float(),
    offload: c.offload ?? false,
  });
}

export const policyOf = (c: TurnConfig): PeerPolicy => new PeerPolicy({ allowLoopback: c.allowLoopback, allowed: c.allowedPeers, denied: c.deniedPeers });

/** How a client authenticates (or fails to). */
export type Persona =
  | { kind: 'user'; name: string; password: string; sha256: boolean; userhash: boolean }
  /** A TURN REST API user: username `expiresAt:name`, expiresAt in s since the epoch. */
  | { kind: 'rest'; name: string; secret: string; expiresAt: number }
  | { kind: 'attacker'; name: string; password: string };

export function randomPersona(rng: Rng, c: TurnConfig): Persona {
  const kinds: [number, string][] = [[6, 'user'], [2, 'attacker']];
  if (c.authSecrets.length > 0) kinds.push([4, 'rest']);
  const kind = rng.weighted(kinds);
  if (kind === 'rest') {
    return { kind: 'rest', name: rng.pick(['u1', 'u2', 'a:b']), secret: rng.chance(0.9) ? rng.pick(c.authSecrets) : 'wrong-secret', expiresAt: Math.floor(c.start / 1000) + rng.pick([3600, 86400, 5, -10]) };
  }
  if (kind === 'attacker') return { kind: 'attacker', name: rng.pick(['alice', 'mallory', '', '1:x']), password: rng.pick(['guess', '', 'secret ']) };
  const [name, password] = rng.pick([...c.users, ...c.keyUsers]);
  return { kind: 'user', name, password, sha256: rng.chance(0.3), userhash: rng.chance(0.15) };
}

/** The username a persona sends (a REST username carries its expiry). */
export function usernameOf(p: Persona): string {
  return p.kind === 'rest' ? `${p.expiresAt}:${p.name}` : p.name;
}

/** The long-term key a persona signs with (RFC 8489 §9.2.2); an attacker's is a guess. */
export function keyOf(p: Persona, username: string, realm: string): Uint8Array {
  if (p.kind === 'rest') return longTermKey(username, realm, restPassword(p.secret, username));
  if (p.kind === 'attacker') return longTermKey(username, realm, p.password);
  return longTermKey(p.name, realm, p.password, p.sha256 ? PasswordAlgorithm.SHA256 : PasswordAlgorithm.MD5);
}

/**
 * False when nothing this persona sends can pass authentication (no credentials the server
 * knows): such input must leave no state behind. An expired REST user still may refresh the
 * allocation it made, so it counts as able.
 */
export const canAuthenticate = (p: Persona, c: TurnConfig): boolean => c.noAuth || p.kind === 'user' || (p.kind === 'rest' && c.authSecrets.includes(p.secret));

export { toHex, fromHex };
