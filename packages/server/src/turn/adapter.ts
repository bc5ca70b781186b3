/**
 * Node I/O for the sans-I/O {@link TurnServer}: UDP listeners and relay sockets through a data
 * plane (udp-node.ts on node:dgram, or udp-native.ts, the C fast path), TCP and TLS listeners,
 * RFC 5780 alternate sockets, the expiry tick, counts for metrics, and logs. Protocol decisions
 * all live in the core; this file moves bytes and carries out actions. One adapter runs per
 * worker of a sharded server (workers.ts), each with its own SO_REUSEPORT listeners.
 */
import { createServer as createTcpServer, isIPv6, type Server as TcpServer, type Socket as TcpSocket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { createServer as createTlsServer } from 'node:tls';
import { TurnServer, frameLength, tupleKey, type ClientTuple, type Protocol, type TurnAction, type TurnEvent } from '@dari/stun';
import type { FastPathLoad } from '@dari/turn-native';
import type { Logger } from '../logger.js';
import { addNative, emptySnapshot, type TurnSnapshot } from './turn-metrics.js';
import { NativeUdp } from './udp-native.js';
import { NodeUdp, type UdpSink } from './udp-node.js';

/** Where the adapter listens. Every address gets UDP and/or TCP on `port`; TLS on `tlsPort`. */
export interface TurnListenOptions {
  addresses: string[];
  /** UDP/TCP port; 0 = any free port (tests). */
  port: number;
  udp: boolean;
  tcp: boolean;
  /** TLS on `tlsPort` when a certificate and key (PEM contents) are given. */
  tls?: { port: number; cert: Buffer; key: Buffer } | undefined;
  /** RFC 5780: second IP and port; UDP sockets are bound on every IP × port combination. */
  alternate?: { address: string; port: number } | undefined;
}

/**
 * The first non-internal address of this host in a family (IPv6: not link-local): the relay
 * address when listening on a wildcard (turn-config.ts, chooseRelayAddresses).
 */
export function firstHostAddress(family: 4 | 6): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) {
      if (i.internal || i.family !== (family === 4 ? 'IPv4' : 'IPv6')) continue;
      if (family === 6 && (i.scopeid ?? 0) !== 0) continue;
      return i.address;
    }
  }
  return undefined;
}

/** One bound listener, for the ready line and tests. */
export interface TurnEndpoint {
  protocol: Protocol;
  address: string;
  port: number;
}

/** How the adapter runs. */
export interface AdapterOptions {
  /** Bind every listener with SO_REUSEPORT (each worker of a sharded server binds the same ports). */
  reusePort: boolean;
  /** The loaded addon: UDP runs on the native fast path; undefined = the TypeScript path. */
  fastPath?: Extract<FastPathLoad, { ok: true }> | undefined;
}

export class TurnAdapter implements UdpSink {
  readonly endpoints: TurnEndpoint[] = [];
  private readonly node: NodeUdp;
  private readonly native: NativeUdp | undefined;
  /** Allocations whose relay socket is in the addon (UDP clients on the native path). */
  private readonly nativeRelays = new Set<number>();
  private readonly streams = new Map<string, TcpSocket>();
  private readonly servers: TcpServer[] = [];
  private tickTimer: NodeJS.Timeout | undefined;
  private readonly counts = { authFailures: {} as Record<string, number>, quotaRejections: {} as Record<string, number>, peerDenied: 0, allocationsCreated: 0 };
  private lastNative: ReturnType<NativeUdp['counters']> | undefined;
  private closed = false;

  /** @param log the `turn` child logger (start.ts makes it) */
  constructor(
    readonly core: TurnServer,
    private readonly listen: TurnListenOptions,
    private readonly log: Logger,
    private readonly options: AdapterOptions = { reusePort: false },
  ) {
    this.node = new NodeUdp(this, log);
    // RFC 5780 answers carry RESPONSE-ORIGIN and OTHER-ADDRESS: with other addresses, the core answers Binding.
    this.native = options.fastPath ? new NativeUdp(options.fastPath, core.options.software, listen.alternate === undefined, this, log) : undefined;
  }

  /** The data path of UDP clients. */
  get fastPath(): 'native' | 'typescript' {
    return this.native ? 'native' : 'typescript';
  }

  /** Counts for metrics: the core's, the addon's, and events. */
  snapshot(): TurnSnapshot {
    const s = emptySnapshot();
    s.workers[this.fastPath] = 1;
    Object.assign(s, this.core.stats());
    s.counters.toPeerPackets = this.core.counters.toPeerPackets;
    s.counters.toPeerBytes = this.core.counters.toPeerBytes;
    s.counters.toClientPackets = this.core.counters.toClientPackets;
    s.counters.toClientBytes = this.core.counters.toClientBytes;
    s.counters.ignored = { ...this.core.counters.ignored };
    s.authFailures = { ...this.counts.authFailures };
    s.quotaRejections = { ...this.counts.quotaRejections };
    s.peerDenied = this.counts.peerDenied;
    s.allocationsCreated = this.counts.allocationsCreated;
    const native = this.native && !this.closed ? (this.lastNative = this.native.counters()) : this.lastNative;
    if (native) addNative(s, native);
    return s;
  }

  private get udp(): NodeUdp | NativeUdp {
    return this.native ?? this.node;
  }

  /**
   * Binds every listener.
   * @throws Error (EADDRINUSE, EADDRNOTAVAIL, …) when a listener cannot bind
   */
  async start(): Promise<void> {
    const { addresses, port, alternate } = this.listen;
    let udpPort = port;
    let tcpPort = port;
    for (const address of addresses) {
      if (this.listen.udp) {
        udpPort = await this.udp.listen(address, udpPort, this.options.reusePort);
        this.endpoints.push({ protocol: 'udp', address, port: udpPort });
      }
      // With port 0 (tests), TCP takes the port UDP got, so one number serves both as usual.
      if (this.listen.tcp) tcpPort = await this.bindStream('tcp', address, this.listen.udp ? udpPort : tcpPort);
      if (this.listen.tls) await this.bindStream('tls', address, this.listen.tls.port);
    }
    if (alternate && this.listen.udp) {
      // RFC 5780 §4.1: answer from (primary|other IP) × (primary|other port).
      const primary = addresses[0]!;
      for (const [address, p] of [[primary, alternate.port], [alternate.address, udpPort], [alternate.address, alternate.port]] as const) {
        if (!this.udp.has(address, p)) {
          await this.udp.listen(address, p, this.options.reusePort);
          this.endpoints.push({ protocol: 'udp', address, port: p });
        }
      }
    }
    this.tickTimer = setInterval(() => this.apply(this.core.tick(Date.now())), 1000);
    this.tickTimer.unref();
  }

  /**
   * TURN over TLS on a port another listener owns (HTTPS on the same port, http/tls-share.ts):
   * lists `endpoint` (for the ICE server URLs) and returns what takes each TLS connection that
   * listener hands over.
   */
  acceptSharedTls(endpoint: TurnEndpoint): (socket: TcpSocket) => void {
    this.endpoints.push({ ...endpoint, protocol: 'tls' });
    return (socket) => this.onStream('tls', socket);
  }

  /** Closes every allocation and listener. */
  async close(): Promise<void> {
    clearInterval(this.tickTimer);
    this.apply(this.core.closeAll());
    if (this.native) this.lastNative = this.native.counters();
    this.closed = true;
    for (const s of this.streams.values()) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    await Promise.all([this.node.close(), this.native?.close()]);
  }

  // ------------------------------------------------------------------ UdpSink

  client(tuple: ClientTuple, data: Uint8Array): void {
    this.apply(this.core.handleClient(tuple, data, Date.now()));
  }

  peer(allocation: number, peer: { address: string; port: number }, data: Uint8Array): void {
    this.apply(this.core.handlePeer(allocation, peer, data, Date.now()));
  }

  relayBound(allocation: number, result: { ok: true } | { ok: false; retry: boolean }): void {
    if (!result.ok) this.nativeRelays.delete(allocation);
    this.apply(this.core.relayBound(allocation, result, Date.now()));
  }

  // ------------------------------------------------------------------ streams

  private bindStream(protocol: 'tcp' | 'tls', address: string, port: number): Promise<number> {
    const onConnection = (sock: TcpSocket) => this.onStream(protocol, sock);
    const server = protocol === 'tls' ? createTlsServer({ cert: this.listen.tls!.cert, key: this.listen.tls!.key }, onConnection) : createTcpServer(onConnection);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host: address, reusePort: this.options.reusePort }, () => {
        server.off('error', reject);
        const bound = (server.address() as { port: number }).port;
        this.servers.push(server);
        this.endpoints.push({ protocol, address, port: bound });
        server.on('error', (err) => this.log.warn({ err: err.message, address }, `${protocol} listener error`));
        resolve(bound);
      });
    });
  }

  /** STUN over a stream: frames are cut by their length fields (RFC 8489 §6.2.2, RFC 8656 §12.5). */
  private onStream(protocol: 'tcp' | 'tls', sock: TcpSocket): void {
    const remoteAddress = sock.remoteAddress ?? '';
    const local = sock.localAddress ?? '';
    const tuple: ClientTuple = {
      key: tupleKey(protocol, remoteAddress, sock.remotePort ?? 0, local, sock.localPort ?? 0),
      protocol,
      address: remoteAddress.startsWith('::ffff:') ? remoteAddress.slice(7) : remoteAddress,
      port: sock.remotePort ?? 0,
      family: isIPv6(remoteAddress) && !remoteAddress.startsWith('::ffff:') ? 6 : 4,
      localAddress: local,
      localPort: sock.localPort ?? 0,
    };
    this.streams.set(tuple.key, sock);
    sock.setNoDelay(true);
    // A stream that does not deliver one whole frame within 10 s is not a TURN client
    // (e.g. an HTTP request whose first byte looks like ChannelData): close it.
    const firstFrame = setTimeout(() => sock.destroy(), 10_000);
    firstFrame.unref();
    let pending: Buffer = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length > 0) {
        const n = frameLength(pending);
        if (n < 0) {
          // Not STUN or ChannelData: nothing sensible can follow on this stream.
          sock.destroy();
          return;
        }
        if (n === 0 || pending.length < n) break;
        const frame = pending.subarray(0, n);
        pending = pending.subarray(n);
        clearTimeout(firstFrame);
        this.apply(this.core.handleClient(tuple, frame, Date.now()));
      }
      if (pending.length > 0) pending = Buffer.from(pending);
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => {
      clearTimeout(firstFrame);
      this.streams.delete(tuple.key);
      this.apply(this.core.clientClosed(tuple));
    });
  }

  private apply(actions: TurnAction[]): void {
    for (const a of actions) {
      switch (a.kind) {
        case 'send':
          if (a.to.protocol === 'udp') this.udp.send(a.to, a.data, a.from, a.toPort);
          else {
            const s = this.streams.get(a.to.key);
            if (s && !s.destroyed) s.write(a.data);
          }
          break;
        case 'relay':
          if (this.nativeRelays.has(a.allocation)) this.native!.relay(a.allocation, a.peer, a.data);
          else this.node.relay(a.allocation, a.peer, a.data);
          break;
        case 'bind-relay':
          // UDP clients' relays go to the addon with them; TCP/TLS clients' stay on node:dgram.
          if (this.native && a.client.protocol === 'udp') {
            this.nativeRelays.add(a.allocation);
            this.native.bindRelay(a.allocation, a.family, a.address, a.port);
          } else this.node.bindRelay(a.allocation, a.family, a.address, a.port);
          break;
        case 'close-relay':
          if (this.nativeRelays.delete(a.allocation)) this.native!.closeRelay(a.allocation);
          else this.node.closeRelay(a.allocation);
          break;
        case 'install':
          if (this.nativeRelays.has(a.entry.allocation)) this.native!.install(a.entry);
          break;
        case 'ignore':
          break; // counted by the core (dari_turn_ignored_total)
        case 'event':
          this.event(a.event);
          break;
      }
    }
  }

  private event(e: TurnEvent): void {
    if (e.type === 'auth-failure') this.counts.authFailures[e.reason] = (this.counts.authFailures[e.reason] ?? 0) + 1;
    else if (e.type === 'quota-rejection') this.counts.quotaRejections[e.scope] = (this.counts.quotaRejections[e.scope] ?? 0) + 1;
    else if (e.type === 'peer-denied') this.counts.peerDenied++;
    else if (e.type === 'allocation-created') this.counts.allocationsCreated++;
    if (e.type === 'allocation-created') this.log.info({ allocation: e.allocation, username: e.username, tuple: e.tuple, relay: e.relay, lifetimeS: e.lifetimeS }, 'allocation created');
    else if (e.type === 'allocation-deleted') this.log.info({ allocation: e.allocation, username: e.username, reason: e.reason }, 'allocation deleted');
    else if (e.type === 'peer-denied') this.log.debug({ peer: e.peer, reason: e.reason, tuple: e.tuple }, 'peer address denied');
    else this.log.debug(e, e.type);
  }
}
