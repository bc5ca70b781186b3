/**
 * Network faults on a lab host, as users meet them: the link to the Internet goes silent (Wi-Fi
 * drops, a train enters a tunnel), or the host gets a new address on its LAN (DHCP, a roam
 * between access points). Needs root, like the rest of the lab.
 *
 * A cut is an nftables table in the host's router that drops everything the host sends or is
 * sent, in both directions: packets vanish, nothing answers with an error, and the host's own
 * interface stays up, so neither the browser nor the server learns of the cut except by silence.
 */
import type { Lab } from './netns.js';
import type { Host } from './topology.js';

function routerOf(host: Host): { ns: string; lanIp: string } {
  if (!host.router) throw new Error(`${host.name} has no router (only NATed lab hosts can be cut)`);
  return host.router;
}

const cutTable = (host: Host) => `dari_cut_${host.name.replace(/[^A-Za-z0-9]/g, '_')}`;

/**
 * Silences `host`'s link: its router drops every packet from or to it (forwarded or to the
 * router itself), until {@link restoreLink}.
 * @returns the time of the cut, ms since the epoch
 */
export function cutLink(lab: Lab, host: Host): number {
  const r = routerOf(host);
  lab.nft(r.ns, `
table inet ${cutTable(host)} {
  chain forward { type filter hook forward priority filter - 10; policy accept; ip saddr ${host.ip} drop; ip daddr ${host.ip} drop; }
  chain input { type filter hook input priority filter - 10; policy accept; ip saddr ${host.ip} drop; }
  chain output { type filter hook output priority filter - 10; policy accept; ip daddr ${host.ip} drop; }
}
`);
  return Date.now();
}

/**
 * Ends a {@link cutLink}: packets flow again (conntrack and the NAT's mappings were kept meanwhile).
 * @returns the time of the return, ms since the epoch
 */
export function restoreLink(lab: Lab, host: Host): number {
  lab.exec(routerOf(host).ns, 'nft', ['delete', 'table', 'inet', cutTable(host)]);
  return Date.now();
}

/**
 * Moves `host` to another address on its LAN, as a DHCP lease change would: the old address is
 * removed (sockets bound to it can no longer send), the new one added, the default route put
 * back. `host.ip` is updated.
 * @param newIp an unused address of the host's LAN (10.1.N.x)
 * @returns the time of the change, ms since the epoch
 */
export function changeAddress(lab: Lab, host: Host, newIp: string): number {
  const r = routerOf(host);
  const old = host.ip;
  lab.exec(host.ns, 'ip', ['addr', 'del', `${old}/24`, 'dev', 'eth0']);
  lab.exec(host.ns, 'ip', ['addr', 'add', `${newIp}/24`, 'dev', 'eth0']);
  lab.exec(host.ns, 'ip', ['route', 'replace', 'default', 'via', r.lanIp]);
  host.ip = newIp;
  return Date.now();
}
