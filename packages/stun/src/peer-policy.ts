/**
 * Which peer addresses a TURN allocation may relay to (RFC 8656 §21.2.2 leaves it to policy).
 * Safe by default: loopback, "this network" 0.0.0.0/8, unspecified, link-local (including the
 * cloud metadata address 169.254.169.254), multicast, reserved, private (RFC 1918), CGNAT and
 * IPv6 ULA ranges are denied — in every spelling: an IPv4-mapped (`::ffff:127.0.0.1`),
 * IPv4-compatible (`::127.0.0.1`), NAT64 (`64:ff9b::7f00:1`) or 6to4 (`2002:7f00:1::`) IPv6
 * address is judged by the IPv4 address inside it. These are the classes of CVE-2020-26262
 * (coturn relaying to 0.0.0.0/::) and CVE-2026-27624.
 */
import { addressBytes } from './attributes.js';

/** An inclusive address range on 4- or 16-byte addresses. */
export interface Range {
  family: 4 | 6;
  from: Uint8Array;
  to: Uint8Array;
  text: string;
}

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/**
 * Parses `ip`, `ip/prefix` (CIDR) or coturn's `ip1-ip2` (same family, ip1 ≤ ip2), IPv4 or IPv6
 * (see {@link addressBytes}); blanks around the text and the dash are ignored.
 * @throws RangeError whose message quotes the text and says what is wrong (not an address, mixed
 *   families, first address above the second, prefix length out of range)
 */
export function parseRange(text: string): Range {
  const t = text.trim();
  const q = JSON.stringify(t);
  const dash = t.indexOf('-');
  if (dash > 0) {
    const from = addressBytes(t.slice(0, dash).trim());
    const to = addressBytes(t.slice(dash + 1).trim());
    if (!from || !to) throw new RangeError(`${q} is not an address range ip1-ip2`);
    if (from.length !== to.length) throw new RangeError(`${q} mixes IPv4 and IPv6`);
    if (compare(from, to) > 0) throw new RangeError(`${q}: the first address is above the second`);
    return { family: from.length === 4 ? 4 : 6, from, to, text: t };
  }
  const slash = t.indexOf('/');
  const base = addressBytes(slash >= 0 ? t.slice(0, slash) : t);
  if (!base) throw new RangeError(`${q} is not an IP address, ip1-ip2 range or CIDR`);
  const bits = base.length * 8;
  const prefix = slash >= 0 ? Number(t.slice(slash + 1)) : bits;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bits || (slash >= 0 && !/^\d{1,3}$/.test(t.slice(slash + 1)))) {
    throw new RangeError(`${q}: the prefix length must be 0-${bits}`);
  }
  const from = base.slice();
  const to = base.slice();
  for (let i = 0; i < base.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    const mask = keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
    from[i] = from[i]! & mask;
    to[i] = (to[i]! & mask) | (~mask & 0xff);
  }
  return { family: base.length === 4 ? 4 : 6, from, to, text: t };
}

/** True for 0.0.0.0 and :: in any spelling (RFC 8200 / RFC 1122 "unspecified"): never a relay or peer address. */
export function isUnspecifiedAddress(text: string): boolean {
  const b = addressBytes(text);
  return b !== undefined && b.every((x) => x === 0);
}

const inRange = (r: Range, a: Uint8Array): boolean => r.from.length === a.length && compare(r.from, a) <= 0 && compare(a, r.to) <= 0;

/** IPv4 ranges denied by default (IANA special-purpose registry, RFC 6890). */
const DENIED_V4 = [
  '0.0.0.0/8', // "this network", includes 0.0.0.0
  '10.0.0.0/8', // RFC 1918
  '100.64.0.0/10', // CGNAT, RFC 6598
  '127.0.0.0/8', // loopback
  '169.254.0.0/16', // link-local, includes 169.254.169.254 (cloud metadata)
  '172.16.0.0/12', // RFC 1918
  '192.0.0.0/24', // IETF protocol assignments
  '192.168.0.0/16', // RFC 1918
  '198.18.0.0/15', // benchmarking
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, includes 255.255.255.255
].map(parseRange);

/** IPv6 ranges denied by default. */
const DENIED_V6 = [
  '::/128', // unspecified
  '::1/128', // loopback
  'fc00::/7', // unique local
  'fe80::/10', // link-local
  'fec0::/10', // site-local (deprecated)
  'ff00::/8', // multicast
  '100::/64', // discard-only
].map(parseRange);

const LOOPBACK = [parseRange('127.0.0.0/8'), parseRange('::1/128')];

/**
 * The IPv4 address an IPv6 address stands for, if it embeds one: IPv4-mapped ::ffff:0:0/96,
 * IPv4-compatible ::/96 (except :: and ::1), NAT64 64:ff9b::/96, 6to4 2002::/16.
 */
export function embeddedIpv4(a: Uint8Array): Uint8Array | undefined {
  if (a.length !== 16) return undefined;
  const zeros = (from: number, to: number) => a.subarray(from, to).every((b) => b === 0);
  if (zeros(0, 10) && a[10] === 0xff && a[11] === 0xff) return a.subarray(12, 16);
  if (zeros(0, 12) && !(a[12] === 0 && a[13] === 0 && a[14] === 0 && (a[15] === 0 || a[15] === 1))) return a.subarray(12, 16);
  if (a[0] === 0x00 && a[1] === 0x64 && a[2] === 0xff && a[3] === 0x9b && zeros(4, 12)) return a.subarray(12, 16);
  if (a[0] === 0x20 && a[1] === 0x02) return a.subarray(2, 6);
  return undefined;
}

export interface PeerPolicyOptions {
  /** Allow 127.0.0.0/8 and ::1 (labs, dev mode on loopback). Default false. */
  allowLoopback?: boolean;
  /** Ranges always allowed, even inside a denied class (coturn `allowed-peer-ip`). */
  allowed?: string[];
  /** Ranges denied in addition to the defaults (coturn `denied-peer-ip`). */
  denied?: string[];
}

export class PeerPolicy {
  private readonly allowed: Range[];
  private readonly denied: Range[];

  /** @throws RangeError for a malformed range */
  constructor(private readonly options: PeerPolicyOptions = {}) {
    this.allowed = (options.allowed ?? []).map(parseRange);
    this.denied = (options.denied ?? []).map(parseRange);
  }

  /** True when relaying to `address` (IPv4 or IPv6 text) is permitted. Unparsable addresses are denied. */
  allows(address: string): boolean {
    return this.denyReason(address) === undefined;
  }

  /** Why `address` is denied, or undefined when it is allowed. */
  denyReason(address: string): string | undefined {
    const raw = addressBytes(address);
    if (!raw) return 'not an IP address';
    const v4 = embeddedIpv4(raw);
    // Judge an embedded IPv4 address as the IPv4 address it is, and the IPv6 spelling too.
    const forms = v4 ? [v4, raw] : [raw];
    for (const a of forms) if (this.allowed.some((r) => inRange(r, a))) return undefined;
    for (const a of forms) {
      const explicit = this.denied.find((r) => inRange(r, a));
      if (explicit) return `denied by denied-peer-ip ${explicit.text}`;
    }
    if (this.options.allowLoopback && forms.some((a) => LOOPBACK.some((r) => inRange(r, a)))) return undefined;
    for (const a of forms) {
      const builtin = (a.length === 4 ? DENIED_V4 : DENIED_V6).find((r) => inRange(r, a));
      if (builtin) return `in reserved range ${builtin.text}`;
    }
    return undefined;
  }
}
