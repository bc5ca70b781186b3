/**
 * The native TURN/STUN fast path (an N-API addon in C, built at install time): UDP listeners and
 * relay sockets read and written in batches (recvmmsg/sendmmsg), relaying ChannelData, Send and
 * Data indications for the allocations, permissions and channel bindings that the sans-I/O
 * TypeScript core (@dari/stun TurnServer) installs, and answering Binding requests. Every other
 * datagram goes to the core, in one batch per event-loop iteration.
 *
 * {@link loadFastPath} tells whether the addon is there; without it Dari runs the TypeScript path.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** A datagram the fast path left to the TypeScript core. */
export interface DeferredDatagram {
  /** Index of the listener it arrived on (from {@link FastPathEngine.listen}). */
  listener: number;
  /** Client address as Node's dgram spells it (a udp6 listener sees IPv4 clients as ::ffff:a.b.c.d). */
  address: string;
  port: number;
  data: Buffer;
}

/** Ignore reasons the fast path decides by itself (names as @dari/stun's IGNORE_REASONS). */
export type FastPathIgnoreReason = 'not-stun' | 'no-allocation' | 'unknown-channel' | 'no-permission' | 'bandwidth-limit' | 'too-large';

/** Totals since the engine was made. Bytes are payload bytes (without TURN framing). */
export interface NativeCounters {
  toPeerPackets: number;
  toPeerBytes: number;
  toClientPackets: number;
  toClientBytes: number;
  /** Binding success responses sent by the fast path. */
  bindings: number;
  /** Datagrams handed to the TypeScript core. */
  deferred: number;
  ignored: Record<FastPathIgnoreReason, number>;
  /** recvmmsg calls and the datagrams they returned (their ratio is the receive batch size). */
  recvCalls: number;
  recvDatagrams: number;
  /** sendmmsg calls and the datagrams they sent. */
  sendCalls: number;
  sendDatagrams: number;
  /** Datagrams the kernel refused (full send buffer, EMSGSIZE, …): lost, as UDP may. */
  sendErrors: number;
  /** Calls into JavaScript with deferred datagrams. */
  dispatches: number;
  /** Allocations the engine holds (relay socket bound). */
  allocations: number;
}

/** The verdict of {@link FastPathEngine.processClient} / {@link FastPathEngine.processPeer}. */
export type FastPathVerdict =
  /** Relay `data` from the allocation's relayed transport address to the peer. */
  | { verdict: 'relay'; allocation: number; peerAddress: string; peerPort: number; data: Buffer }
  /** Send `data` to the client (a Binding success response; ChannelData or a Data indication from a peer). */
  | { verdict: 'reply'; data: Buffer }
  | { verdict: 'drop'; reason: FastPathIgnoreReason }
  /** Not for the fast path: the TypeScript core decides. */
  | { verdict: 'defer' };

/** The addon's class, as the C code defines it (native/addon_*.c). */
interface NativeEngine {
  listen(address: string, port: number, reusePort: boolean, bufferBytes: number): [number, number];
  bindRelay(allocation: number, address: string, port: number, bufferBytes: number): string | null;
  closeRelay(allocation: number): void;
  allocation(id: number, listener: number, clientAddress: string, clientPort: number, family: 4 | 6, expiresAtMs: number, maxBps: number): void;
  permission(allocation: number, peerAddress: string, expiresAtMs: number): void;
  channel(allocation: number, number: number, peerAddress: string, peerPort: number, expiresAtMs: number): void;
  send(listener: number, address: string, port: number, data: Uint8Array): void;
  relay(allocation: number, address: string, port: number, data: Uint8Array): number;
  counters(): NativeCounters;
  close(onClosed: () => void): void;
  processClient(listener: number, listenerFamily: 4 | 6, address: string, port: number, data: Uint8Array, nowMs: number): FastPathVerdict;
  processPeer(allocation: number, address: string, port: number, data: Uint8Array, nowMs: number): FastPathVerdict;
}

type NativeEngineClass = new (onBatch: (batch: DeferredDatagram[]) => void, software: string | null, answerBinding: boolean) => NativeEngine;

export interface FastPathOptions {
  /** SOFTWARE attribute of Binding responses, or null for none (as TurnServerOptions.software). */
  software: string | null;
  /**
   * Answer Binding requests in the fast path. Turn it off when RFC 5780 other addresses are
   * configured (their responses carry RESPONSE-ORIGIN and OTHER-ADDRESS: the core answers).
   */
  answerBinding: boolean;
  /** Receives the datagrams the fast path leaves to the core, once per event-loop iteration. */
  onBatch: (batch: DeferredDatagram[]) => void;
}

/**
 * One fast-path engine: it runs on the event loop of the thread that made it (one per worker).
 * Address arguments are IPv4 or IPv6 text; times are ms since the epoch (Date.now()).
 * @throws TypeError (code ERR_INVALID_ARG_TYPE) for malformed arguments, Error (code ERR_CLOSED)
 *   after {@link close}
 */
export class FastPathEngine {
  private readonly native: NativeEngine;
  private closed: Promise<void> | undefined;

  constructor(Engine: NativeEngineClass, options: FastPathOptions) {
    this.native = new Engine(options.onBatch, options.software, options.answerBinding);
  }

  /**
   * Binds a UDP listener (SO_RCVBUF/SO_SNDBUF `bufferBytes`, capped by the kernel).
   * @param reusePort SO_REUSEPORT: every worker binds the same address and port, and the kernel
   *   spreads client 5-tuples over them by hash
   * @returns the listener's index and its port (the one given, or the one the kernel chose for 0)
   * @throws Error with `code` EADDRINUSE, EADDRNOTAVAIL, EACCES, …
   */
  listen(address: string, port: number, reusePort: boolean, bufferBytes: number): { index: number; port: number } {
    const [index, bound] = this.native.listen(address, port, reusePort, bufferBytes);
    return { index, port: bound };
  }

  /** Binds allocation `id`'s relay socket. @returns null, or the errno name (EADDRINUSE: try another port) */
  bindRelay(id: number, address: string, port: number, bufferBytes: number): string | null {
    return this.native.bindRelay(id, address, port, bufferBytes);
  }

  /** Closes the allocation's relay socket and forgets its permissions and channels. */
  closeRelay(id: number): void {
    this.native.closeRelay(id);
  }

  /**
   * Installs (or refreshes) the allocation `id`: its client 5-tuple (listener, address, port),
   * relay family, lifetime end and bandwidth limit (bytes/s, both directions, 0 = none).
   */
  allocation(id: number, listener: number, clientAddress: string, clientPort: number, family: 4 | 6, expiresAtMs: number, maxBps: number): void {
    this.native.allocation(id, listener, clientAddress, clientPort, family, expiresAtMs, maxBps);
  }

  /** A permission for a peer IP address until `expiresAtMs` (RFC 8656 §9). */
  permission(id: number, peerAddress: string, expiresAtMs: number): void {
    this.native.permission(id, peerAddress, expiresAtMs);
  }

  /** A channel binding (0x4000–0x7FFF ↔ peer transport address) until `expiresAtMs` (RFC 8656 §12). */
  channel(id: number, channel: number, peerAddress: string, peerPort: number, expiresAtMs: number): void {
    this.native.channel(id, channel, peerAddress, peerPort, expiresAtMs);
  }

  /** Sends to a client from a listener (batched with the fast path's own sends during a batch callback). */
  send(listener: number, address: string, port: number, data: Uint8Array): void {
    this.native.send(listener, address, port, data);
  }

  /**
   * Sends from allocation `id`'s relayed transport address to a peer, charging its bandwidth bucket.
   * @returns 'sent', 'bandwidth-limit', or 'no-relay' (no such relay socket)
   */
  relay(id: number, peerAddress: string, peerPort: number, data: Uint8Array): 'sent' | 'bandwidth-limit' | 'no-relay' {
    const r = this.native.relay(id, peerAddress, peerPort, data);
    return r === 0 ? 'sent' : r === 1 ? 'bandwidth-limit' : 'no-relay';
  }

  counters(): NativeCounters {
    return this.native.counters();
  }

  /**
   * The fast path's verdict on a client datagram, on the installed state, without sockets (the
   * decision the listener path takes). For the differential fuzz harness and tests.
   */
  processClient(listener: number, listenerFamily: 4 | 6, address: string, port: number, data: Uint8Array, nowMs: number): FastPathVerdict {
    return this.native.processClient(listener, listenerFamily, address, port, data, nowMs);
  }

  /** The fast path's verdict on a datagram from a peer at allocation `id`'s relay, without sockets. */
  processPeer(id: number, address: string, port: number, data: Uint8Array, nowMs: number): FastPathVerdict {
    return this.native.processPeer(id, address, port, data, nowMs);
  }

  /** Closes every socket. Idempotent. */
  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => this.native.close(resolve));
    return this.closed;
  }
}

/** Whether the addon loaded, and why not. */
export type FastPathLoad = { ok: true; Engine: NativeEngineClass; path: string } | { ok: false; reason: string };

const ADDON = fileURLToPath(new URL('../../build/Release/dari_turn_native.node', import.meta.url));
const BUILD_LOG = fileURLToPath(new URL('../../build/install.log', import.meta.url));

let loaded: FastPathLoad | undefined;

/**
 * Loads the addon once per thread. It is built by `npm ci` (the package's install script; needs a
 * C compiler, make and python3 for node-gyp); without it, the reason names what to do.
 */
export function loadFastPath(): FastPathLoad {
  if (loaded) return loaded;
  if (process.platform !== 'linux') return (loaded = { ok: false, reason: `the native fast path is Linux-only (recvmmsg/sendmmsg); this is ${process.platform}` });
  if (!existsSync(ADDON)) {
    let why = 'it was not built';
    try {
      const log = readFileSync(BUILD_LOG, 'utf8').trim().split('\n');
      why = log.find((l) => l.startsWith('dari turn-native:')) ?? why;
    } catch {
      /* no install log: the install script did not run */
    }
    return (loaded = { ok: false, reason: `${why}; to build it: npm rebuild @dari/turn-native (needs gcc, make and python3)` });
  }
  try {
    const Engine = (createRequire(import.meta.url)(ADDON) as { Engine: NativeEngineClass }).Engine;
    return (loaded = { ok: true, Engine, path: ADDON });
  } catch (err) {
    return (loaded = { ok: false, reason: `${ADDON} did not load: ${(err as Error).message}` });
  }
}
