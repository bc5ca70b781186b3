/**
 * What goes into and comes out of the sans-I/O {@link TurnServer}: the client 5-tuple it is
 * fed with, and the actions, events and ignore reasons it returns. The adapter carries the
 * actions out; nothing here does I/O.
 */

/** Transport of a client 5-tuple. */
export type Protocol = 'udp' | 'tcp' | 'tls';

/**
 * A client 5-tuple (RFC 8656 §2): client address and port, server address and port, protocol.
 * `key` identifies it and is computed once by the adapter (see {@link tupleKey}).
 */
export interface ClientTuple {
  key: string;
  protocol: Protocol;
  address: string;
  port: number;
  family: 4 | 6;
  localAddress: string;
  localPort: number;
}

/** The identifying string of a client 5-tuple (RFC 8656 §2), computed once per tuple by the adapter. */
export const tupleKey = (protocol: Protocol, address: string, port: number, localAddress: string, localPort: number): string =>
  `${protocol}|${address}|${port}|${localAddress}|${localPort}`;

/**
 * Why an input was dropped without an answer (no STUN response is due, RFC 8489 §6.3 and
 * RFC 8656 §11-12, or none may be sent). Every drop returns one `ignore` action with one of these,
 * and {@link TurnCounters.ignored} counts them.
 */
export const IGNORE_REASONS = [
  /** Neither STUN (RFC 8489 §5: top bits 00 and the magic cookie) nor ChannelData (RFC 8656 §12.4). */
  'not-stun',
  /** Looks like STUN or ChannelData but does not decode (lengths, attribute sizes, padding). */
  'malformed',
  /** FINGERPRINT does not match: "not STUN" (RFC 8489 §14.7). */
  'bad-fingerprint',
  /** A Binding indication: a keepalive, answered by nothing (RFC 8489 §6.3.2). */
  'binding-indication',
  /** An indication other than Send and Binding (RFC 8489 §6.3.2: unknown indications are discarded). */
  'unsupported-indication',
  /** A success or error response sent to the server. */
  'response',
  /** A retransmitted Allocate while its relay socket is still being bound; the answer follows the bind. */
  'allocate-pending',
  /** Send indication or ChannelData from a 5-tuple without a live allocation; peer data or a relay bind for one that is gone. */
  'no-allocation',
  /** A Send indication without XOR-PEER-ADDRESS or DATA, or with one that does not decode (RFC 8656 §11.2). */
  'bad-send-indication',
  /** A Send indication with DONT-FRAGMENT, which Node.js cannot honour (RFC 8656 §11.2). */
  'dont-fragment',
  /** ChannelData on a channel number with no live channel binding (RFC 8656 §12.6). */
  'unknown-channel',
  /** To or from a peer IP address without a live permission (RFC 8656 §9, §11.2, §11.3, §12.6). */
  'no-permission',
  /** Over the allocation's relayed bytes per second (`maxBps`). */
  'bandwidth-limit',
  /** A peer datagram too large for a Data indication (over STUN's 65,535-byte length; IPv6 relays only) and no channel to carry it. */
  'too-large',
] as const;

export type IgnoreReason = (typeof IGNORE_REASONS)[number];

export type TurnAction =
  /** Send bytes to a client over its 5-tuple; `from` asks a UDP send from another local address (RFC 5780 CHANGE-REQUEST). */
  | { kind: 'send'; to: ClientTuple; data: Uint8Array; from?: { address: string; port: number }; toPort?: number }
  /** Send bytes from an allocation's relayed transport address to a peer. */
  | { kind: 'relay'; allocation: number; peer: { address: string; port: number }; data: Uint8Array }
  /** Bind a UDP socket for an allocation of client 5-tuple `client`; answer with {@link TurnServer.relayBound}. */
  | { kind: 'bind-relay'; allocation: number; family: 4 | 6; address: string; port: number; client: ClientTuple }
  /** Close an allocation's relay socket (also one whose bind is still under way: close it once bound). */
  | { kind: 'close-relay'; allocation: number }
  /** The input was dropped on purpose, for this reason; nothing is sent. */
  | { kind: 'ignore'; reason: IgnoreReason }
  /** What an offloaded data plane may relay, and until when (only with `TurnServerOptions.offload`). */
  | { kind: 'install'; entry: DataPlaneEntry }
  | { kind: 'event'; event: TurnEvent };

/**
 * State for a data plane that relays on the core's behalf (the native fast path, which relays
 * ChannelData, Send and Data indications itself). Times are ms on the core's clock (`now`). An
 * entry replaces the one before it with the same key (allocation; allocation + peer IP;
 * allocation + channel number); `close-relay` removes an allocation and everything under it.
 */
export type DataPlaneEntry =
  /** An allocation that is bound and answered (RFC 8656 §7), or refreshed (§8): relay for `tuple` until `expiresAt`; `maxBps` bytes/s, 0 = no limit. */
  | { type: 'allocation'; allocation: number; tuple: ClientTuple; family: 4 | 6; expiresAt: number; maxBps: number }
  /** A permission for a peer IP address (RFC 8656 §9), created or refreshed. */
  | { type: 'permission'; allocation: number; peerAddress: string; expiresAt: number }
  /** A channel binding (RFC 8656 §12), created or refreshed; it implies a permission, installed with it. */
  | { type: 'channel'; allocation: number; channel: number; peer: { address: string; port: number }; expiresAt: number };

/** Facts for logs and metrics (no secrets). */
export type TurnEvent =
  | { type: 'allocation-created'; allocation: number; username: string; tuple: string; relay: string; lifetimeS: number }
  | { type: 'allocation-deleted'; allocation: number; username: string; reason: 'refresh' | 'expired' | 'closed' }
  | { type: 'auth-failure'; reason: AuthFailure; tuple: string }
  | { type: 'quota-rejection'; scope: 'user' | 'total' | 'permissions' }
  | { type: 'peer-denied'; peer: string; reason: string; tuple: string };

export type AuthFailure = 'no-credentials' | 'bad-request' | 'stale-nonce' | 'unknown-user' | 'expired' | 'bad-integrity' | 'wrong-credentials';

/** Totals since the server was made, for metrics. Bytes are payload bytes (without TURN framing). */
export interface TurnCounters {
  toPeerPackets: number;
  toPeerBytes: number;
  toClientPackets: number;
  toClientBytes: number;
  /** Inputs dropped, by reason (every reason present, from 0). */
  ignored: Record<IgnoreReason, number>;
}

/** Fresh counters, all 0. */
export function newTurnCounters(): TurnCounters {
  const ignored = {} as Record<IgnoreReason, number>;
  for (const r of IGNORE_REASONS) ignored[r] = 0;
  return { toPeerPackets: 0, toPeerBytes: 0, toClientPackets: 0, toClientBytes: 0, ignored };
}
