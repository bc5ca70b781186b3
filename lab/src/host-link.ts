/**
 * A namespace hanging off the host: a veth pair from the host (the root network namespace) into
 * a fresh namespace, for a program that must not see the host's loopback (Firefox never uses
 * 127.0.0.1 for ICE) yet must reach servers on the host. Both ends get addresses in a /30 of
 * 198.18.0.0/15 (RFC 2544's benchmarking range, never routed on the Internet); the namespace's
 * default route points at the host end, and an nftables filter in the namespace lets packets
 * out only to that /30, so nothing it sends can leave the machine.
 */
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import type { Lab } from './netns.js';

export interface HostLink {
  /** The namespace's full name (for `ip netns exec`). */
  ns: string;
  /** The host end's address: servers on the host bind here to be reachable from the namespace. */
  hostIp: string;
  /** The namespace end's address. */
  nsIp: string;
  /** The host end's interface name. */
  hostIface: string;
}

/** Interface name of the namespace end. */
const NS_IFACE = 'uplink';

/** A /30 of 198.18.0.0/15 that no interface of the host uses yet; returns its base address. */
function freeSubnet(): string {
  const used = execFileSync('ip', ['-4', '-o', 'addr', 'show'], { encoding: 'utf8' });
  for (let attempt = 0; attempt < 64; attempt++) {
    const n = randomInt(0, 1 << 15) * 4; // offset in 198.18.0.0/15 (131,072 addresses)
    const base = `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
    const prefix = base.slice(0, base.lastIndexOf('.') + 1);
    const taken = [1, 2].some((host) => used.includes(` ${prefix}${(n & 255) + host}/`));
    if (!taken) return base;
  }
  throw new Error('no free /30 in 198.18.0.0/15');
}

/**
 * Creates namespace `<lab id>-<name>` linked to the host (see the module doc). Needs root; the
 * lab's `destroy()` removes the namespace and with it both ends of the veth pair.
 * @throws Error from `ip`/`nft` when the kernel refuses (not root, no veth support)
 */
export function linkNamespaceToHost(lab: Lab, name: string): HostLink {
  const ns = lab.addNamespace(name);
  const hostIface = lab.linkHost(ns, NS_IFACE);
  const base = freeSubnet();
  const octets = base.split('.').map(Number);
  const at = (k: number) => `${octets[0]}.${octets[1]}.${octets[2]}.${octets[3]! + k}`;
  const hostIp = at(1);
  const nsIp = at(2);
  lab.hostAddr(hostIface, `${hostIp}/30`);
  lab.addr(ns, NS_IFACE, `${nsIp}/30`);
  lab.defaultRoute(ns, hostIp);
  lab.nft(
    ns,
    `
table inet dari_guard {
  chain output {
    type filter hook output priority filter; policy drop;
    oifname "lo" accept
    ip daddr ${base}/30 accept
  }
}
`,
  );
  return { ns, hostIp, nsIp, hostIface };
}
