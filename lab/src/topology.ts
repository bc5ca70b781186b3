/**
 * The standard lab topology: a "public" network (TEST-NET-3, 203.0.113.0/24, RFC 5737) on a
 * bridge, holding the Dari server (two addresses, for RFC 5780), a public host, and the WAN
 * sides of NAT routers; behind each router a private LAN (10.1.N.0/24) with one or two clients.
 * Nothing leaves the namespaces: the public network is a bridge inside one of them.
 *
 * NAT kinds, all Linux nftables on conntrack:
 * - `cone`: masquerade. Linux keeps the source port when it can, so the mapping is
 *   endpoint-independent; conntrack admits only replies from the exact remote address and port,
 *   so filtering is address-and-port-dependent: a port-restricted cone NAT.
 * - `symmetric`: masquerade fully-random: a new random port for every remote endpoint
 *   (address-and-port-dependent mapping).
 * - `udp-blocked`: a NAT whose firewall drops all UDP and lets TCP through only to the
 *   server's HTTP port and its TURN TCP/TLS ports.
 * - `tcp443-only`: a NAT whose firewall lets nothing out but TCP to the server's port 443 (the
 *   corporate network of coturn#508): HTTPS and TURN over TLS must share that port.
 */
import { Lab } from './netns.js';

export const SERVER_IP = '203.0.113.10';
/** The server's second address (RFC 5780 OTHER-ADDRESS). */
export const SERVER_ALT_IP = '203.0.113.11';
export const PUBLIC_HOST_IP = '203.0.113.20';
export const HTTP_PORT = 7880;
export const TURN_PORT = 3478;
export const TURN_TLS_PORT = 5349;
export const HTTPS_PORT = 443;

export type NatKind = 'cone' | 'symmetric' | 'udp-blocked' | 'tcp443-only';

export interface Host {
  name: string;
  ns: string;
  ip: string;
  /** The NAT in front of it, if any. */
  nat?: NatKind;
  /** The router's public address, for NATed hosts. */
  publicIp?: string;
  /** The router's namespace and its LAN address (the host's default gateway), for NATed hosts. */
  router?: { ns: string; lanIp: string };
}

export interface Topology {
  lab: Lab;
  server: Host;
  hosts: Record<string, Host>;
}

function natRules(kind: NatKind): string {
  const masquerade = kind === 'symmetric' ? 'masquerade fully-random' : 'masquerade';
  const outbound =
    kind === 'udp-blocked'
      ? `iifname "lan" oifname "wan" ip daddr ${SERVER_IP} tcp dport { ${HTTP_PORT}, ${TURN_PORT}, ${TURN_TLS_PORT} } accept`
      : kind === 'tcp443-only'
        ? `iifname "lan" oifname "wan" ip daddr ${SERVER_IP} tcp dport ${HTTPS_PORT} accept`
        : `iifname "lan" oifname "wan" accept`;
  return `
table ip nat {
  chain postrouting { type nat hook postrouting priority srcnat; policy accept; oifname "wan" ${masquerade}; }
}
table inet filter {
  # Unsolicited packets to the router itself are dropped, as home routers do. Besides, an
  # accepted one would leave a confirmed conntrack entry that steals the port the NAT mapping
  # needs, and hole punching (two clients sending to each other at once) would fail.
  chain input {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    iifname { "lo", "lan" } accept
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    ${outbound}
  }
}
`;
}

/**
 * Builds the topology. Routers and clients (name → NAT kind and client count):
 *   pub (public host), coneA, coneB, symA, symB, fw (UDP blocked), lan (two clients lanA, lanB behind one cone NAT),
 *   fw443 (only TCP 443 to the server).
 * @throws Error when a command fails; the caller must still call `lab.destroy()`
 */
export function buildTopology(lab: Lab = new Lab()): Topology {
  const inet = lab.addNamespace('inet');
  lab.bridge(inet, 'br0');
  const hosts: Record<string, Host> = {};
  let port = 0;
  const onInternet = (ns: string, iface: string, ip: string) => {
    const bridgePort = `p${port++}`;
    lab.link(ns, iface, inet, bridgePort);
    lab.attach(inet, bridgePort, 'br0');
    lab.addr(ns, iface, `${ip}/24`);
  };

  const srv = lab.addNamespace('srv');
  onInternet(srv, 'eth0', SERVER_IP);
  lab.addr(srv, 'eth0', `${SERVER_ALT_IP}/24`);
  const server: Host = { name: 'server', ns: srv, ip: SERVER_IP };

  const pub = lab.addNamespace('pub');
  onInternet(pub, 'eth0', PUBLIC_HOST_IP);
  hosts['pub'] = { name: 'pub', ns: pub, ip: PUBLIC_HOST_IP };

  const routers: [string, NatKind, string[]][] = [
    ['coneA', 'cone', ['coneA']],
    ['coneB', 'cone', ['coneB']],
    ['symA', 'symmetric', ['symA']],
    ['symB', 'symmetric', ['symB']],
    ['fw', 'udp-blocked', ['fw']],
    ['lan', 'cone', ['lanA', 'lanB']],
    ['fw443', 'tcp443-only', ['fw443']],
  ];
  routers.forEach(([name, kind, clients], i) => {
    const wanIp = `203.0.113.${101 + i}`;
    const r = lab.addNamespace(`r${name}`);
    onInternet(r, 'wan', wanIp);
    lab.bridge(r, 'lan');
    lab.addr(r, 'lan', `10.1.${i + 1}.1/24`);
    lab.exec(r, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    lab.nft(r, natRules(kind));
    clients.forEach((client, j) => {
      const ns = lab.addNamespace(client);
      const ip = `10.1.${i + 1}.${2 + j}`;
      lab.link(ns, 'eth0', r, `c${j}`);
      lab.attach(r, `c${j}`, 'lan');
      lab.addr(ns, 'eth0', `${ip}/24`);
      lab.defaultRoute(ns, `10.1.${i + 1}.1`);
      hosts[client] = { name: client, ns, ip, nat: kind, publicIp: wanIp, router: { ns: r, lanIp: `10.1.${i + 1}.1` } };
    });
  });
  return { lab, server, hosts };
}
