/**
 * Credentials for the long-term mechanism (RFC 8489 §9.2) and TURN REST API ephemeral
 * credentials (draft-uberti-behave-turn-rest-00, as coturn's `use-auth-secret`), plus
 * stateless nonces. Uses node:crypto: this part of the package is for servers and Node clients.
 */
import { createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { Hmac } from './message.js';
import { PasswordAlgorithm } from './constants.js';

/** HMAC over node:crypto, for MessageBuilder.integrity() and verifyIntegrity(). */
export const nodeHmac: Hmac = (algorithm, key, data) => new Uint8Array(createHmac(algorithm, key).update(data).digest());

/**
 * Long-term key (RFC 8489 §9.2.2): MD5(username ":" realm ":" password) for PASSWORD-ALGORITHM
 * MD5 (and when none is given), SHA-256 of the same for SHA256. OpaqueString (RFC 8265)
 * preparation is the caller's; we take the strings as given, as coturn does.
 */
export function longTermKey(username: string, realm: string, password: string, algorithm: number = PasswordAlgorithm.MD5): Uint8Array {
  const hash = algorithm === PasswordAlgorithm.SHA256 ? 'sha256' : 'md5';
  return new Uint8Array(createHash(hash).update(`${username}:${realm}:${password}`, 'utf8').digest());
}

/** USERHASH (RFC 8489 §14.4): SHA-256(username ":" realm). */
export function userHash(username: string, realm: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`${username}:${realm}`, 'utf8').digest());
}

/**
 * TURN REST API credentials: username `expiry:user` (expiry in s since the epoch), password
 * base64(HMAC-SHA1(secret, username)).
 * @param ttlS lifetime in s
 * @param now ms since the epoch
 */
export function restCredentials(secret: string, user: string, ttlS: number, now: number = Date.now()): { username: string; password: string; expiresAt: number } {
  const expiresAt = Math.floor(now / 1000) + Math.round(ttlS);
  const username = `${expiresAt}:${user}`;
  return { username, password: restPassword(secret, username), expiresAt };
}

/** base64(HMAC-SHA1(secret, username)). */
export function restPassword(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}

/**
 * The expiry of a REST API username (the number before the first ':'; coturn also accepts a bare number).
 * @returns s since the epoch, or undefined when the username does not start with a timestamp
 */
export function restExpiry(username: string): number | undefined {
  const head = username.split(':')[0] ?? '';
  return /^\d{1,12}$/.test(head) ? Number(head) : undefined;
}

/**
 * A {@link NonceIssuer} key derived from a TURN REST secret (HKDF-SHA256, RFC 5869, info
 * `dari turn nonce key`): servers that share the secret, or one server before and after a
 * restart, issue and accept the same nonces, so a client keeps its nonce across a restart and
 * pays no 438 Stale Nonce round trip (RFC 8489 §9.2.4). The secret itself cannot be recovered
 * from nonces. 32 bytes.
 */
export function nonceKeyFromSecret(secret: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, 'dari turn nonce salt', 'dari turn nonce key', 32));
}

/**
 * Stateless nonces: `obMatJos2` + security-feature bits (RFC 8489 §9.2: password algorithms and
 * username anonymity) + issue time + a MAC binding them to the client's address. Verifying needs
 * no per-client state, so floods of unauthenticated requests cannot grow server memory.
 */
export class NonceIssuer {
  private readonly key: Buffer;
  /**
   * @param lifetimeS how long a nonce stays fresh, s; default 600 (coturn's stale-nonce default)
   * @param key MAC key; default 32 random bytes (nonces die with the process); {@link nonceKeyFromSecret} makes one that outlives it
   */
  constructor(
    readonly lifetimeS = 600,
    key?: Uint8Array,
  ) {
    this.key = key ? Buffer.from(key) : randomBytes(32);
  }

  /** @param now ms since the epoch */
  issue(clientAddress: string, now: number): string {
    const t = Math.floor(now / 1000).toString(16).padStart(8, '0');
    return `obMatJos2AAAD${t}${this.mac(clientAddress, t)}`;
  }

  /** @returns 'ok', 'stale' (well-formed, ours, expired) or 'invalid' */
  check(nonce: string, clientAddress: string, now: number): 'ok' | 'stale' | 'invalid' {
    const m = /^obMatJos2AAAD([0-9a-f]{8})([A-Za-z0-9_-]{22})$/.exec(nonce);
    if (!m) return 'invalid';
    const [, t, mac] = m as unknown as [string, string, string];
    if (this.mac(clientAddress, t) !== mac) return 'invalid';
    const ageS = Math.floor(now / 1000) - parseInt(t, 16);
    return ageS >= 0 && ageS < this.lifetimeS ? 'ok' : 'stale';
  }

  private mac(clientAddress: string, t: string): string {
    return createHmac('sha256', this.key).update(`${clientAddress}|${t}`).digest('base64url').slice(0, 22);
  }
}
