/**
 * The native data plane (@dari/turn-native): UDP listeners and the relay sockets of UDP clients'
 * allocations live in the addon, which relays ChannelData, Send and Data indications and answers
 * Binding requests by itself, in batches (recvmmsg/sendmmsg), for the state the core installs
 * (`install` actions). Every other datagram comes back here, once per event-loop iteration, and
 * goes to the core like a TypeScript-path datagram.
 */
import { isIPv6 } from 'node:net';
import { tupleKey, type ClientTuple, type DataPlaneEntry } from '@dari/stun';
import { FastPathEngine, type FastPathLoad, type NativeCounters } from '@dari/turn-native';
import type { Logger } from '../logger.js';
import { LISTENER_BUFFER_BYTES, RELAY_BUFFER_BYTES, TUPLE_CACHE_MAX, type UdpSink } from './udp-node.js';

interface Listener {
  address: string;
  port: number;
  family: 4 | 6;
  /** One ClientTuple per remote endpoint, reused for each of its datagrams. */
  tuples: Map<string, ClientTuple>;
}

export class NativeUdp {
  private readonly engine: FastPathEngine;
  private readonly listeners: Listener[] = [];
  private readonly indexOf = new Map<string, number>();

  /**
   * @param software SOFTWARE of Binding responses (the core's option)
   * @param answerBinding false when RFC 5780 other addresses are configured (the core answers those)
   */
  constructor(
    load: Extract<FastPathLoad, { ok: true }>,
    software: string | null,
    answerBinding: boolean,
    private readonly sink: UdpSink,
    private readonly log: Logger,
  ) {
    this.engine = new FastPathEngine(load.Engine, {
      software,
      answerBinding,
      onBatch: (batch) => {
        for (const d of batch) {
          try {
            this.sink.client(this.tuple(d.listener, d.address, d.port), d.data);
          } catch (err) {
            this.log.error({ err: (err as Error).message }, 'turn: a deferred datagram failed');
          }
        }
      },
    });
  }

  /**
   * Binds a UDP listener in the addon.
   * @returns the bound port
   * @throws Error (code EADDRINUSE, EADDRNOTAVAIL, …)
   */
  async listen(address: string, port: number, reusePort: boolean): Promise<number> {
    const { index, port: bound } = this.engine.listen(address, port, reusePort, LISTENER_BUFFER_BYTES);
    this.listeners[index] = { address, port: bound, family: isIPv6(address) ? 6 : 4, tuples: new Map() };
    this.indexOf.set(`${address}|${bound}`, index);
    return bound;
  }

  has(address: string, port: number): boolean {
    return this.indexOf.has(`${address}|${port}`);
  }

  private tuple(index: number, address: string, port: number): ClientTuple {
    const l = this.listeners[index]!;
    const remote = `${address}|${port}`;
    let t = l.tuples.get(remote);
    if (!t) {
      if (l.tuples.size >= TUPLE_CACHE_MAX) l.tuples.clear();
      t = { key: tupleKey('udp', address, port, l.address, l.port), protocol: 'udp', address, port, family: l.family, localAddress: l.address, localPort: l.port };
      l.tuples.set(remote, t);
    }
    return t;
  }

  send(to: ClientTuple, data: Uint8Array, from?: { address: string; port: number }, toPort?: number): void {
    const index = this.indexOf.get(from ? `${from.address}|${from.port}` : `${to.localAddress}|${to.localPort}`);
    if (index !== undefined) this.engine.send(index, to.address, toPort ?? to.port, data);
  }

  /** Binds at once: the result reaches the sink before this returns. */
  bindRelay(id: number, _family: 4 | 6, address: string, port: number): void {
    const err = this.engine.bindRelay(id, address, port, RELAY_BUFFER_BYTES);
    this.sink.relayBound(id, err === null ? { ok: true } : { ok: false, retry: err === 'EADDRINUSE' || err === 'EACCES' });
  }

  relay(id: number, peer: { address: string; port: number }, data: Uint8Array): void {
    this.engine.relay(id, peer.address, peer.port, data);
  }

  closeRelay(id: number): void {
    this.engine.closeRelay(id);
  }

  /** What the core allows the addon to relay (DataPlaneEntry), for an allocation whose relay is here. */
  install(e: DataPlaneEntry): void {
    if (e.type === 'allocation') {
      const index = this.indexOf.get(`${e.tuple.localAddress}|${e.tuple.localPort}`);
      if (index !== undefined) this.engine.allocation(e.allocation, index, e.tuple.address, e.tuple.port, e.family, e.expiresAt, e.maxBps);
    } else if (e.type === 'permission') {
      this.engine.permission(e.allocation, e.peerAddress, e.expiresAt);
    } else {
      this.engine.channel(e.allocation, e.channel, e.peer.address, e.peer.port, e.expiresAt);
    }
  }

  counters(): NativeCounters {
    return this.engine.counters();
  }

  close(): Promise<void> {
    return this.engine.close();
  }
}
