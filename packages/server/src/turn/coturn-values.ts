/**
 * Values of coturn options (coturn-options.ts): booleans, integers in a range, ports, IP
 * addresses (`@dari/stun`'s addressBytes), peer ranges (`@dari/stun`'s parseRange), external
 * IP mappings and static users. Each failure throws a TurnOptionError naming the option and, for
 * a config file, its line.
 */
import { isIP } from 'node:net';
import { addressBytes, isUnspecifiedAddress, parseRange } from '@dari/stun';
import type { Entry } from './coturn-argv.js';
import { TurnOptionError, display } from './coturn-option-table.js';

const BOOL_TRUE = new Set(['1', 'yes', 'y', 'true', 't', 'on']);
const BOOL_FALSE = new Set(['0', 'no', 'n', 'false', 'f', 'off']);

export function fail(e: Entry, message: string): never {
  throw new TurnOptionError(display(e.spec), `${e.at}${display(e.spec)}: ${message}`);
}

/** coturn's boolean values: none = true, 1/yes/true/on, 0/no/false/off (any case). */
export function bool(e: Entry): boolean {
  if (e.value === undefined || e.value === '') return true;
  const v = e.value.toLowerCase();
  if (BOOL_TRUE.has(v)) return true;
  if (BOOL_FALSE.has(v)) return false;
  return fail(e, `expected a boolean (on/off, yes/no, 1/0, true/false), got ${JSON.stringify(e.value)}`);
}

export function str(e: Entry): string {
  if (e.value === undefined || e.value === '') return fail(e, 'needs a value');
  return e.value;
}

export function int(e: Entry, min: number, max: number, what: string, defaultValue?: number): number {
  if ((e.value === undefined || e.value === '') && defaultValue !== undefined) return defaultValue;
  const v = str(e);
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) return fail(e, `expected ${what}, got ${JSON.stringify(v)}`);
  return n;
}

export const port = (e: Entry, min = 0) => int(e, min, 65535, `a port ${min}-65535`);

/** An IP address (`@dari/stun`'s addressBytes, and one Node.js can bind); `concrete` refuses 0.0.0.0 and ::. */
export function ip(e: Entry, text: string, concrete: boolean): string {
  if (isIP(text) === 0 || addressBytes(text) === undefined) return fail(e, `${JSON.stringify(text)} is not an IPv4 or IPv6 address`);
  if (concrete && isUnspecifiedAddress(text)) return fail(e, `${JSON.stringify(text)} is the unspecified address; give a concrete address`);
  return text;
}

/** An IP, coturn's `ip1-ip2` (same family, ip1 ≤ ip2), or CIDR `ip/prefix` (`@dari/stun`'s parseRange). Returns the trimmed text. */
export function peerRange(e: Entry): string {
  const text = str(e).trim();
  try {
    parseRange(text);
  } catch (err) {
    return fail(e, (err as Error).message);
  }
  return text;
}

export function externalIp(e: Entry): { public: string; private?: string } {
  const text = str(e).trim();
  const slash = text.indexOf('/');
  if (slash < 0) return { public: ip(e, text, true) };
  const pub = ip(e, text.slice(0, slash).trim(), true);
  const priv = ip(e, text.slice(slash + 1).trim(), true);
  if (isIP(pub) !== isIP(priv)) return fail(e, `${JSON.stringify(text)} maps between IPv4 and IPv6`);
  return { public: pub, private: priv };
}

/** coturn's `name:password` or `name:0x<hex key>` (split at the first ':', blanks after it skipped). */
export function user(e: Entry): { name: string; password?: string; key?: string } {
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
