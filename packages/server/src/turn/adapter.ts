/**
 * Node I/O for the sans-I/O {@link TurnServer}: UDP, TCP and TLS listeners, one UDP relay socket
 * per allocation, RFC 5780 alternate sockets, the expiry tick, metrics and logs. Protocol
 * decisions all live in the core; this file moves bytes and carries out actions.
 */
import { createSocket, type Socket as UdpSocket, type RemoteInfo } from 'node:dgram';
import { createServer as createTcpServer, isIPv6, type Server as TcpServer, type Socket as TcpSocket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { createServer as createTlsServer } from 'node:tls';
import { Counter, Gauge, type Registry } from 'prom-client';
import { IGNORE_REASONS, TurnServer, frameLength, tupleKey, type ClientTuple, type Protocol, type TurnAction } from '@dari/stun';
import type { Logger } from '../logger.js';

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

interface BoundUdp {
  socket: UdpSocket;
  address: string;
  port: number;
}

/** Kernel socket buffers, bytes: listeners take bursts from many clients (coturn uses 4 MiB too). */
const LISTENER_BUFFER_BYTES = 4 * 1024 * 1024;
const RELAY_BUFFER_BYTES = 512 * 1024;
/** Cached client 5-tuples per listener before the cache is cleared (bounds memory under floods). */
const TUPLE_CACHE_MAX = 50_000;

/**
 * dgram resolves the destination of every send, even an IP literal, through dns.lookup and a
 * process.nextTick; a synchronous lookup for the literals we always pass saves that per packet.
 */
function literalLookup(address: string, _options: unknown, callback: (err: Error | null, address: string, family: number) => void): void {
  callback(null, address, isIPv6(address) ? 6 : 4);
}

function createUdp(type: 'udp4' | 'udp6'): UdpSocket {
  return createSocket({ type, lookup: literalLookup as never });
}

function setBuffers(socket: UdpSocket, bytes: number): void {
  try {
    socket.setRecvBufferSize(bytes);
    socket.setSendBufferSize(bytes);
  } catch {
    /* capped by net.core.rmem_max / wmem_max: keep what the kernel allows */
  }
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

export class TurnAdapter {
  readonly endpoints: TurnEndpoint[] = [];
  private readonly udp = new Map<string, BoundUdp>();
  private readonly streams = new Map<string, TcpSocket>();
  private readonly servers: TcpServer[] = [];
  private readonly relays = new Map<number, UdpSocket>();
  /** The listener each cached UDP tuple arrived on, so replies need no address lookup. */
  private readonly listenerOf = new WeakMap<ClientTuple, UdpSocket>();
  private tickTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  private events: ((a: Extract<TurnAction, { kind: 'event' }>['event']) => void) | undefined;

  /** @param log the `turn` child logger (start.ts makes it) */
  constructor(
    readonly core: TurnServer,
    private readonly listen: TurnListenOptions,
    log: Logger,
  ) {
    this.log = log;
  }

  /** Registers prom-client metrics for this server in `registry`. */
  registerMetrics(registry: Registry): void {
    const core = this.core;
    const gauge = (name: string, help: string, key: 'allocations' | 'permissions' | 'channels') =>
      new Gauge({ name, help, registers: [registry], collect() { this.set(core.stats()[key]); } });
    gauge('dari_turn_allocations', 'Live TURN allocations', 'allocations');
    gauge('dari_turn_permissions', 'Live TURN permissions', 'permissions');
    gauge('dari_turn_channels', 'Live TURN channel bindings', 'channels');
    const mirrored = (name: string, help: string, pick: (d: 'to_peer' | 'to_client') => number) =>
      new Counter({
        name,
        help,
        labelNames: ['direction'],
        registers: [registry],
        collect() {
          this.reset();
          this.inc({ direction: 'to_peer' }, pick('to_peer'));
          this.inc({ direction: 'to_client' }, pick('to_client'));
        },
      });
    mirrored('dari_turn_relayed_packets_total', 'Packets relayed, by direction', (d) => (d === 'to_peer' ? core.counters.toPeerPackets : core.counters.toClientPackets));
    mirrored('dari_turn_relayed_bytes_total', 'Payload bytes relayed, by direction', (d) => (d === 'to_peer' ? core.counters.toPeerBytes : core.counters.toClientBytes));
    new Counter({
      name: 'dari_turn_ignored_total',
      help: 'Inputs dropped without an answer, by reason (docs/turn.md, "Logs and metrics")',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        this.reset();
        for (const reason of IGNORE_REASONS) this.inc({ reason }, core.counters.ignored[reason]);
      },
    });
    const authFailures = new Counter({ name: 'dari_turn_auth_failures_total', help: 'Authentication failures, by reason', labelNames: ['reason'], registers: [registry] });
    const quota = new Counter({ name: 'dari_turn_quota_rejections_total', help: 'Requests refused by a quota, by scope', labelNames: ['scope'], registers: [registry] });
    const denied = new Counter({ name: 'dari_turn_peer_denied_total', help: 'Permissions or channels refused by the peer address policy', registers: [registry] });
    const created = new Counter({ name: 'dari_turn_allocations_total', help: 'Allocations created', registers: [registry] });
    this.events = (e) => {
      if (e.type === 'auth-failure') authFailures.inc({ reason: e.reason });
      else if (e.type === 'quota-rejection') quota.inc({ scope: e.scope });
      else if (e.type === 'peer-denied') denied.inc();
      else if (e.type === 'allocation-created') created.inc();
    };
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
      if (this.listen.udp) udpPort = (await this.bindUdp(address, udpPort)).port;
      // With port 0 (tests), TCP takes the port UDP got, so one number serves both as usual.
      if (this.listen.tcp) tcpPort = await this.bindStream('tcp', address, this.listen.udp ? udpPort : tcpPort);
      if (this.listen.tls) await this.bindStream('tls', address, this.listen.tls.port);
    }
    if (alternate && this.listen.udp) {
      // RFC 5780 §4.1: answer from (primary|other IP) × (primary|other port).
      const primary = addresses[0]!;
      for (const [address, p] of [[primary, alternate.port], [alternate.address, udpPort], [alternate.address, alternate.port]] as const) {
        if (!this.udp.has(`${address}|${p}`)) await this.bindUdp(address, p);
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
    for (const s of this.streams.values()) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    await Promise.all([...this.udp.values()].map((u) => new Promise<void>((r) => u.socket.close(() => r()))));
    this.udp.clear();
  }

  private bindUdp(address: string, port: number): Promise<BoundUdp> {
    const socket = createUdp(isIPv6(address) ? 'udp6' : 'udp4');
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, address, () => {
        socket.off('error', reject);
        setBuffers(socket, LISTENER_BUFFER_BYTES);
        const bound = { socket, address, port: socket.address().port };
        this.udp.set(`${address}|${bound.port}`, bound);
        this.endpoints.push({ protocol: 'udp', address, port: bound.port });
        const family = isIPv6(address) ? 6 : 4;
        // One ClientTuple per remote endpoint, reused for each of its datagrams.
        const tuples = new Map<string, ClientTuple>();
        socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
          const remote = `${rinfo.address}|${rinfo.port}`;
          let tuple = tuples.get(remote);
          if (!tuple) {
            if (tuples.size >= TUPLE_CACHE_MAX) tuples.clear();
            tuple = {
              key: tupleKey('udp', rinfo.address, rinfo.port, address, bound.port),
              protocol: 'udp',
              address: rinfo.address,
              port: rinfo.port,
              family,
              localAddress: address,
              localPort: bound.port,
            };
            tuples.set(remote, tuple);
            this.listenerOf.set(tuple, socket);
          }
          this.apply(this.core.handleClient(tuple, msg, Date.now()));
        });
        socket.on('error', (err) => this.log.warn({ err: err.message, address }, 'udp listener error'));
        resolve(bound);
      });
    });
  }

  private bindStream(protocol: 'tcp' | 'tls', address: string, port: number): Promise<number> {
    const onConnection = (sock: TcpSocket) => this.onStream(protocol, sock);
    const server = protocol === 'tls' ? createTlsServer({ cert: this.listen.tls!.cert, key: this.listen.tls!.key }, onConnection) : createTcpServer(onConnection);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => {
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

  private bindRelay(id: number, family: 4 | 6, address: string, port: number): void {
    const socket = createUdp(family === 6 ? 'udp6' : 'udp4');
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.close();
      this.apply(this.core.relayBound(id, { ok: false, retry: err.code === 'EADDRINUSE' || err.code === 'EACCES' }, Date.now()));
    });
    socket.bind(port, address, () => {
      socket.removeAllListeners('error');
      setBuffers(socket, RELAY_BUFFER_BYTES);
      socket.on('error', (err) => this.log.debug({ err: err.message, allocation: id }, 'relay socket error'));
      this.relays.set(id, socket);
      socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
        this.apply(this.core.handlePeer(id, { address: rinfo.address, port: rinfo.port }, msg, Date.now()));
      });
      this.apply(this.core.relayBound(id, { ok: true }, Date.now()));
    });
  }

  private apply(actions: TurnAction[]): void {
    for (const a of actions) {
      switch (a.kind) {
        case 'send': {
          if (a.to.protocol === 'udp') {
            const sock = a.from ? this.udp.get(`${a.from.address}|${a.from.port}`)?.socket : (this.listenerOf.get(a.to) ?? this.udp.get(`${a.to.localAddress}|${a.to.localPort}`)?.socket);
            sock?.send(a.data, a.toPort ?? a.to.port, a.to.address);
          } else {
            const s = this.streams.get(a.to.key);
            if (s && !s.destroyed) s.write(a.data);
          }
          break;
        }
        case 'relay':
          this.relays.get(a.allocation)?.send(a.data, a.peer.port, a.peer.address);
          break;
        case 'bind-relay':
          this.bindRelay(a.allocation, a.family, a.address, a.port);
          break;
        case 'close-relay': {
          const s = this.relays.get(a.allocation);
          this.relays.delete(a.allocation);
          s?.close();
          break;
        }
        case 'ignore':
          break; // counted by the core (dari_turn_ignored_total)
        case 'event': {
          this.events?.(a.event);
          const e = a.event;
          if (e.type === 'allocation-created') this.log.info({ allocation: e.allocation, username: e.username, tuple: e.tuple, relay: e.relay, lifetimeS: e.lifetimeS }, 'allocation created');
          else if (e.type === 'allocation-deleted') this.log.info({ allocation: e.allocation, username: e.username, reason: e.reason }, 'allocation deleted');
          else if (e.type === 'peer-denied') this.log.debug({ peer: e.peer, reason: e.reason, tuple: e.tuple }, 'peer address denied');
          else this.log.debug(e, e.type);
          break;
        }
      }
    }
  }
}
