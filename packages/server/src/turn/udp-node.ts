/**
 * The TypeScript data plane on node:dgram: UDP listeners (optionally SO_REUSEPORT, one per worker)
 * and one UDP relay socket per allocation. Datagrams go to the adapter's sink one by one. Also
 * carries the relays of TCP/TLS clients' allocations when the native fast path runs the rest.
 */
import { createSocket, type Socket as UdpSocket, type RemoteInfo } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { tupleKey, type ClientTuple } from '@dari/stun';
import type { Logger } from '../logger.js';

/** Where a data plane hands the datagrams it does not handle itself. */
export interface UdpSink {
  /** A datagram from a client 5-tuple on a UDP listener. */
  client(tuple: ClientTuple, data: Uint8Array): void;
  /** A datagram from a peer at an allocation's relayed transport address. */
  peer(allocation: number, peer: { address: string; port: number }, data: Uint8Array): void;
  /** An allocation's relay socket is bound, or could not be (retry: the port was taken). */
  relayBound(allocation: number, result: { ok: true } | { ok: false; retry: boolean }): void;
}

/** Kernel socket buffers, bytes: listeners take bursts from many clients (coturn uses 4 MiB too). */
export const LISTENER_BUFFER_BYTES = 4 * 1024 * 1024;
export const RELAY_BUFFER_BYTES = 512 * 1024;
/** Cached client 5-tuples per listener before the cache is cleared (bounds memory under floods). */
export const TUPLE_CACHE_MAX = 50_000;

/**
 * dgram resolves the destination of every send, even an IP literal, through dns.lookup and a
 * process.nextTick; a synchronous lookup for the literals we always pass saves that per packet.
 */
function literalLookup(address: string, _options: unknown, callback: (err: Error | null, address: string, family: number) => void): void {
  callback(null, address, isIPv6(address) ? 6 : 4);
}

function createUdp(type: 'udp4' | 'udp6', reusePort = false): UdpSocket {
  return createSocket({ type, lookup: literalLookup as never, reusePort });
}

function setBuffers(socket: UdpSocket, bytes: number): void {
  try {
    socket.setRecvBufferSize(bytes);
    socket.setSendBufferSize(bytes);
  } catch {
    /* capped by net.core.rmem_max / wmem_max: keep what the kernel allows */
  }
}

export class NodeUdp {
  private readonly listeners = new Map<string, UdpSocket>();
  private readonly relays = new Map<number, UdpSocket>();
  /** The listener each cached tuple arrived on, so replies need no address lookup. */
  private readonly listenerOf = new WeakMap<ClientTuple, UdpSocket>();

  constructor(
    private readonly sink: UdpSink,
    private readonly log: Logger,
  ) {}

  /**
   * Binds a UDP listener.
   * @param reusePort SO_REUSEPORT: the workers of a sharded server each bind the same address
   * @returns the bound port
   * @throws Error (EADDRINUSE, EADDRNOTAVAIL, …)
   */
  listen(address: string, port: number, reusePort: boolean): Promise<number> {
    const socket = createUdp(isIPv6(address) ? 'udp6' : 'udp4', reusePort);
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, address, () => {
        socket.off('error', reject);
        setBuffers(socket, LISTENER_BUFFER_BYTES);
        const bound = socket.address().port;
        this.listeners.set(`${address}|${bound}`, socket);
        const family = isIPv6(address) ? 6 : 4;
        // One ClientTuple per remote endpoint, reused for each of its datagrams.
        const tuples = new Map<string, ClientTuple>();
        socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
          const remote = `${rinfo.address}|${rinfo.port}`;
          let tuple = tuples.get(remote);
          if (!tuple) {
            if (tuples.size >= TUPLE_CACHE_MAX) tuples.clear();
            tuple = { key: tupleKey('udp', rinfo.address, rinfo.port, address, bound), protocol: 'udp', address: rinfo.address, port: rinfo.port, family, localAddress: address, localPort: bound };
            tuples.set(remote, tuple);
            this.listenerOf.set(tuple, socket);
          }
          this.sink.client(tuple, msg);
        });
        socket.on('error', (err) => this.log.warn({ err: err.message, address }, 'udp listener error'));
        resolve(bound);
      });
    });
  }

  /** Whether a listener is bound on address|port. */
  has(address: string, port: number): boolean {
    return this.listeners.has(`${address}|${port}`);
  }

  /** To a client, from its listener, or from another local address (RFC 5780 CHANGE-REQUEST), or to another port (RESPONSE-PORT). */
  send(to: ClientTuple, data: Uint8Array, from?: { address: string; port: number }, toPort?: number): void {
    const sock = from ? this.listeners.get(`${from.address}|${from.port}`) : (this.listenerOf.get(to) ?? this.listeners.get(`${to.localAddress}|${to.localPort}`));
    sock?.send(data, toPort ?? to.port, to.address);
  }

  bindRelay(id: number, family: 4 | 6, address: string, port: number): void {
    const socket = createUdp(family === 6 ? 'udp6' : 'udp4');
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.close();
      this.sink.relayBound(id, { ok: false, retry: err.code === 'EADDRINUSE' || err.code === 'EACCES' });
    });
    socket.bind(port, address, () => {
      socket.removeAllListeners('error');
      setBuffers(socket, RELAY_BUFFER_BYTES);
      socket.on('error', (err) => this.log.debug({ err: err.message, allocation: id }, 'relay socket error'));
      this.relays.set(id, socket);
      socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => this.sink.peer(id, { address: rinfo.address, port: rinfo.port }, msg));
      this.sink.relayBound(id, { ok: true });
    });
  }

  relay(id: number, peer: { address: string; port: number }, data: Uint8Array): void {
    this.relays.get(id)?.send(data, peer.port, peer.address);
  }

  closeRelay(id: number): void {
    const s = this.relays.get(id);
    this.relays.delete(id);
    s?.close();
  }

  async close(): Promise<void> {
    for (const id of [...this.relays.keys()]) this.closeRelay(id);
    await Promise.all([...this.listeners.values()].map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.listeners.clear();
  }
}
