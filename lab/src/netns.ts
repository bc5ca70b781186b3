/**
 * Network namespaces as throw-away hosts (iproute2 `ip netns`, veth pairs, bridges, nftables).
 * Every name starts with the lab's run id, so a run only ever touches what it created, and
 * {@link sweepStaleLabs} can remove what a crashed run left behind. Needs root.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/** Prefix of every lab namespace: `dl` + 4 hex digits of the run id. */
export const LAB_PREFIX = 'dl';

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], ...(input !== undefined ? { input } : {}) });
}

/** Why the lab cannot run here, or undefined when it can (root, `ip`, `nft`). */
export function labUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'the NAT lab needs root (network namespaces and nftables)';
  for (const tool of ['ip', 'nft', 'sysctl']) {
    try {
      sh('which', [tool]);
    } catch {
      return `the NAT lab needs \`${tool}\` (Debian packages iproute2, nftables, procps)`;
    }
  }
  return undefined;
}

/** Namespaces currently present whose name starts with `prefix`. */
export function listNamespaces(prefix = LAB_PREFIX): string[] {
  return sh('ip', ['netns', 'list'])
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(prefix));
}

/** Deletes lab namespaces left by earlier runs (and the processes inside them). */
export function sweepStaleLabs(): string[] {
  const stale = listNamespaces().filter((n) => /^dl[0-9a-f]{4}-/.test(n));
  for (const ns of stale) deleteNamespace(ns);
  return stale;
}

function deleteNamespace(ns: string): void {
  try {
    const pids = sh('ip', ['netns', 'pids', ns]).split('\n').filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  } catch {
    /* namespace vanished */
  }
  try {
    sh('ip', ['netns', 'del', ns]);
  } catch {
    /* already deleted */
  }
}

export class Lab {
  readonly id = `${LAB_PREFIX}${randomBytes(2).toString('hex')}`;
  private readonly namespaces: string[] = [];
  private readonly processes: ChildProcess[] = [];
  private links = 0;

  /** Creates a namespace `<id>-<name>` with loopback up; returns its full name. */
  addNamespace(name: string): string {
    const ns = `${this.id}-${name}`;
    sh('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    this.exec(ns, 'ip', ['link', 'set', 'lo', 'up']);
    return ns;
  }

  /** Runs a command inside a namespace and returns its stdout. @throws Error with stderr on failure */
  exec(ns: string, cmd: string, args: string[], input?: string): string {
    return sh('ip', ['netns', 'exec', ns, cmd, ...args], input);
  }

  /** Starts a long-running process inside a namespace; it is killed by {@link destroy}. */
  spawn(ns: string, cmd: string, args: string[], options: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    this.processes.push(child);
    return child;
  }

  /**
   * Connects two namespaces with a veth pair; the ends are renamed `nameA` in `a` and `nameB` in `b`.
   * Interface names must be at most 15 characters.
   */
  link(a: string, nameA: string, b: string, nameB: string): void {
    const n = this.links++;
    const ea = `${this.id}a${n}`;
    const eb = `${this.id}b${n}`;
    sh('ip', ['link', 'add', ea, 'type', 'veth', 'peer', 'name', eb]);
    sh('ip', ['link', 'set', ea, 'netns', a]);
    sh('ip', ['link', 'set', eb, 'netns', b]);
    this.exec(a, 'ip', ['link', 'set', ea, 'name', nameA]);
    this.exec(b, 'ip', ['link', 'set', eb, 'name', nameB]);
    this.exec(a, 'ip', ['link', 'set', nameA, 'up']);
    this.exec(b, 'ip', ['link', 'set', nameB, 'up']);
  }

  /**
   * Connects a namespace to the host (the root network namespace) with a veth pair: the end in
   * `ns` is renamed `nsName`; the host end keeps its generated name (`<id>h<n>`, 15 characters at
   * most), which is returned. Deleting the namespace deletes both ends.
   */
  linkHost(ns: string, nsName: string): string {
    const n = this.links++;
    const hostEnd = `${this.id}h${n}`;
    const nsEnd = `${this.id}n${n}`;
    sh('ip', ['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', nsEnd]);
    sh('ip', ['link', 'set', nsEnd, 'netns', ns]);
    this.exec(ns, 'ip', ['link', 'set', nsEnd, 'name', nsName]);
    this.exec(ns, 'ip', ['link', 'set', nsName, 'up']);
    sh('ip', ['link', 'set', hostEnd, 'up']);
    return hostEnd;
  }

  /** Adds an address to an interface of the host (the root network namespace). */
  hostAddr(iface: string, cidr: string): void {
    sh('ip', ['addr', 'add', cidr, 'dev', iface]);
  }

  /**
   * Creates a bridge in a namespace. When the host has br_netfilter loaded (Docker does), bridged
   * frames would also traverse the namespace's IP firewall hooks: a NAT router would then drop
   * traffic between two hosts of its own LAN. The lab turns that off per namespace.
   */
  bridge(ns: string, name: string): void {
    this.exec(ns, 'ip', ['link', 'add', name, 'type', 'bridge']);
    this.exec(ns, 'ip', ['link', 'set', name, 'up']);
    for (const key of ['bridge-nf-call-iptables', 'bridge-nf-call-ip6tables', 'bridge-nf-call-arptables']) {
      try {
        this.exec(ns, 'sysctl', ['-qw', `net.bridge.${key}=0`]);
      } catch {
        /* br_netfilter not loaded: nothing to turn off */
      }
    }
  }

  /** Enslaves an interface to a bridge. */
  attach(ns: string, iface: string, bridge: string): void {
    this.exec(ns, 'ip', ['link', 'set', iface, 'master', bridge]);
  }

  addr(ns: string, iface: string, cidr: string): void {
    this.exec(ns, 'ip', ['addr', 'add', cidr, 'dev', iface]);
  }

  defaultRoute(ns: string, via: string): void {
    this.exec(ns, 'ip', ['route', 'add', 'default', 'via', via]);
  }

  /** Loads an nftables ruleset (nft -f -) into a namespace. */
  nft(ns: string, ruleset: string): void {
    this.exec(ns, 'nft', ['-f', '-'], ruleset);
  }

  /** Kills every process the lab started and deletes every namespace it created. Idempotent. */
  destroy(): void {
    for (const p of this.processes) if (p.exitCode === null) p.kill('SIGKILL');
    for (const ns of this.namespaces.splice(0).reverse()) deleteNamespace(ns);
  }
}
