/**
 * The STUN/TURN server as a sans-I/O state machine (RFC 8489 STUN, RFC 8656 TURN, RFC 5780
 * behaviour discovery). Inputs: bytes from a client 5-tuple, bytes from a peer to a relayed
 * transport address, relay-socket bind results, and the clock (`now`, ms). Output: actions
 * for the adapter (send to a client, send from a relay to a peer, bind or close a relay socket,
 * ignore with a reason, report an event; see turn-actions.ts). It owns allocations, permissions, channel bindings, nonces, quotas and counters; it owns no
 * socket and no timer.
 */
import { Attr, ErrorReason, FAMILY_IPV4, FAMILY_IPV6, Method, PasswordAlgorithm, TRANSPORT_UDP, isComprehensionRequired, KNOWN_ATTRIBUTES } from './constants.js';
import { MessageBuilder, decodeMessage, getAttribute, verifyFingerprint, verifyIntegrity, looksLikeStun, type StunMessage, type Hmac } from './message.js';
import {
  readAddressFamily,
  readChangeRequest,
  readChannelNumber,
  readEvenPort,
  readPasswordAlgorithm,
  readReservationToken,
  readRequestedTransport,
  readString,
  readUint32,
  readXorAddress,
  writeAddress,
  writeAddressErrorCode,
  writeErrorCode,
  writePasswordAlgorithms,
  writeString,
  writeUint32,
  writeUnknownAttributes,
  writeXorAddress,
  type TransportAddress,
} from './attributes.js';
import { decodeChannelData, encodeChannelData, isChannelNumber, looksLikeChannelData } from './channel-data.js';
import { NonceIssuer, longTermKey, restExpiry, restPassword, userHash, nodeHmac } from './credentials.js';
import { PeerPolicy } from './peer-policy.js';
import { LocalLedger, type AllocationLedger } from './allocation-ledger.js';
import { newTurnCounters, type DataPlaneEntry, type ClientTuple, type IgnoreReason, type TurnAction, type TurnCounters, type AuthFailure } from './turn-actions.js';

export interface TurnServerOptions {
  /** REALM (RFC 8489 §14.9). Default 'dari'. */
  realm: string;
  /** Long-term users: name → password (or a precomputed MD5 key as Uint8Array). */
  users: Map<string, string | Uint8Array>;
  /** TURN REST API shared secrets (coturn `static-auth-secret`); empty = off. */
  authSecrets: string[];
  /** Accept every request without authentication (coturn `--no-auth`). Default false. */
  noAuth: boolean;
  /** SOFTWARE attribute value, or null to omit. Default 'Dari'. */
  software: string | null;
  /** Default allocation lifetime, s (RFC 8656 §7.2: 600). */
  defaultLifetimeS: number;
  /** Largest allocation lifetime, s (RFC 8656 §7.2: 3600). */
  maxLifetimeS: number;
  /** Permission lifetime, s (RFC 8656 §9: 300, fixed by the RFC). */
  permissionLifetimeS: number;
  /** Channel binding lifetime, s (RFC 8656 §12: 600). */
  channelLifetimeS: number;
  /** Relay addresses by family; a family without one gets 440. */
  relayAddresses: { v4?: string; v6?: string };
  /** Advertised address for a relay address (1:1 NAT, coturn `external-ip public/private`). */
  externalAddresses: Map<string, string>;
  /** Relay port range, inclusive. Default 49152–65535. */
  minPort: number;
  maxPort: number;
  /** Allocations per username; 0 = unlimited. */
  userQuota: number;
  /** Allocations in total; 0 = unlimited. */
  totalQuota: number;
  /**
   * Counts allocations against the quotas and holds reservation tokens. Default: one of this
   * server's own; the workers of a sharded server share one.
   */
  ledger: AllocationLedger;
  /** Relayed bytes per second per allocation, both directions; 0 = unlimited. */
  maxBps: number;
  /** Permissions per allocation (memory bound). Default 1000. */
  maxPermissionsPerAllocation: number;
  /** Peer address policy. Default: safe defaults of {@link PeerPolicy}. */
  peerPolicy: PeerPolicy;
  /** Nonce issuer; its lifetime is the stale-nonce time. */
  nonces: NonceIssuer;
  /** RFC 5780: the other address and port, when a second IP is configured. */
  otherAddress?: { address: string; port: number } | undefined;
  hmac: Hmac;
  /**
   * Also emit `install` actions ({@link DataPlaneEntry}): allocations, permissions and channels as
   * they are created and refreshed, for a data plane that relays on the core's behalf (the native
   * fast path). Default false.
   */
  offload: boolean;
  /** Random source for ports and reservation tokens; default Math.random. */
  random: () => number;
}

export const DEFAULT_TURN_OPTIONS: TurnServerOptions = {
  realm: 'dari',
  users: new Map(),
  authSecrets: [],
  noAuth: false,
  software: 'Dari',
  defaultLifetimeS: 600,
  maxLifetimeS: 3600,
  permissionLifetimeS: 300,
  channelLifetimeS: 600,
  relayAddresses: { v4: '127.0.0.1' },
  externalAddresses: new Map(),
  minPort: 49152,
  maxPort: 65535,
  userQuota: 0,
  totalQuota: 0,
  ledger: new LocalLedger(),
  maxBps: 0,
  maxPermissionsPerAllocation: 1000,
  offload: false,
  peerPolicy: new PeerPolicy(),
  nonces: new NonceIssuer(),
  hmac: nodeHmac,
  random: Math.random,
};

interface Channel {
  number: number;
  peer: { address: string; port: number };
  peerKey: string;
  expiresAt: number;
}

interface Allocation {
  id: number;
  tuple: ClientTuple;
  username: string;
  key: Uint8Array | null;
  sha256: boolean;
  family: 4 | 6;
  /** Local address the relay socket binds to. */
  relayAddress: string;
  relay: { address: string; port: number } | null;
  /** Address advertised in XOR-RELAYED-ADDRESS. */
  advertised: string;
  expiresAt: number;
  lifetimeS: number;
  permissions: Map<string, number>;
  channels: Map<number, Channel>;
  channelByPeer: Map<string, Channel>;
  /** Allocate transaction id and cached success response (RFC 8656 §7.2: retransmissions). */
  transactionId: Uint8Array;
  response: Uint8Array | null;
  reservation: { token: Uint8Array } | null;
  /** EVEN-PORT asked (RFC 8656 §7.2): every relay port tried must be even. */
  even: boolean;
  /** Bind attempts so far (EADDRINUSE retries). */
  attempts: number;
  request: StunMessage;
  bucketBytes: number;
  bucketAt: number;
}

interface Auth {
  username: string;
  key: Uint8Array | null;
  sha256: boolean;
}

const MAX_BIND_ATTEMPTS = 16;
const RESERVATION_MS = 30_000;

export class TurnServer {
  readonly options: TurnServerOptions;
  readonly counters: TurnCounters = newTurnCounters();
  private readonly byTuple = new Map<string, Allocation>();
  private readonly byId = new Map<number, Allocation>();
  private readonly usedPorts = new Set<string>();
  private readonly reservations = new Map<string, { family: 4 | 6; address: string; port: number; expiresAt: number }>();
  private nextId = 1;

  constructor(options: Partial<TurnServerOptions> = {}) {
    // Stateful defaults are made per server, never shared between instances.
    this.options = { ...DEFAULT_TURN_OPTIONS, users: new Map(), peerPolicy: new PeerPolicy(), nonces: new NonceIssuer(), ledger: new LocalLedger(), ...options };
  }

  /** Current counts for gauges. */
  stats(): { allocations: number; permissions: number; channels: number } {
    let permissions = 0;
    let channels = 0;
    for (const a of this.byId.values()) {
      permissions += a.permissions.size;
      channels += a.channels.size;
    }
    return { allocations: this.byId.size, permissions, channels };
  }

  /**
   * Bytes arrived from a client 5-tuple (one UDP datagram, or one frame cut from a TCP/TLS
   * stream with frameLength()). Bad input is answered with a STUN error where the RFC asks for
   * one, else dropped with an `ignore` action naming the reason; never throws.
   */
  handleClient(tuple: ClientTuple, data: Uint8Array, now: number): TurnAction[] {
    if (looksLikeChannelData(data)) return this.channelData(tuple, data, now);
    if (!looksLikeStun(data)) return this.ignore('not-stun');
    const decoded = decodeMessage(data);
    if (!decoded.ok) return this.ignore('malformed');
    const msg = decoded.value;
    // RFC 8489 §14.7: a FINGERPRINT that does not match means "not STUN": discard.
    if (getAttribute(msg, Attr.FINGERPRINT) && verifyFingerprint(msg) !== 'ok') return this.ignore('bad-fingerprint');
    if (msg.cls === 'indication') {
      if (msg.method === Method.Send) return this.send(tuple, msg, now);
      return this.ignore(msg.method === Method.Binding ? 'binding-indication' : 'unsupported-indication');
    }
    if (msg.cls !== 'request') return this.ignore('response');
    const unknown = msg.attributes.filter((a) => isComprehensionRequired(a.type) && !KNOWN_ATTRIBUTES.has(a.type)).map((a) => a.type);
    if (unknown.length > 0) return [this.error(tuple, msg, 420, null, [[Attr.UNKNOWN_ATTRIBUTES, writeUnknownAttributes(unknown)]])];
    switch (msg.method) {
      case Method.Binding:
        return this.binding(tuple, msg);
      case Method.Allocate:
      case Method.Refresh:
      case Method.CreatePermission:
      case Method.ChannelBind:
        return this.authenticated(tuple, msg, now);
      default:
        return [this.error(tuple, msg, 400, null)];
    }
  }

  /**
   * A UDP datagram arrived at an allocation's relayed transport address from a peer
   * (RFC 8656 §11.3 / §12.7). Without a permission for the peer's IP it is ignored (`no-permission`).
   */
  handlePeer(allocationId: number, peer: { address: string; port: number }, data: Uint8Array, now: number): TurnAction[] {
    const a = this.byId.get(allocationId);
    if (!a || a.expiresAt <= now) return this.ignore('no-allocation');
    const perm = a.permissions.get(peer.address);
    if (perm === undefined || perm <= now) return this.ignore('no-permission');
    const channel = a.channelByPeer.get(`${peer.address}|${peer.port}`);
    const live = channel !== undefined && channel.expiresAt > now;
    // A Data indication carries XOR-PEER-ADDRESS (12 or 24 bytes) and DATA (4 + padded data) in
    // STUN's 16-bit length: over 65,504 bytes from an IPv6 peer (UDP allows 65,527) do not fit.
    if (!live && (a.family === 6 ? 24 : 12) + 4 + ((data.length + 3) & ~3) > 0xffff) return this.ignore('too-large');
    if (!this.withinBandwidth(a, data.length, now)) return this.ignore('bandwidth-limit');
    let out: Uint8Array;
    if (live) {
      out = encodeChannelData(channel.number, data, a.tuple.protocol !== 'udp');
    } else {
      const b = new MessageBuilder('indication', Method.Data);
      b.add(Attr.XOR_PEER_ADDRESS, writeXorAddress({ family: a.family, ...peer }, b.transactionId));
      b.add(Attr.DATA, data);
      out = b.build();
    }
    this.counters.toClientPackets++;
    this.counters.toClientBytes += data.length;
    return [{ kind: 'send', to: a.tuple, data: out }];
  }

  /** The adapter bound (or failed to bind) an allocation's relay socket. */
  relayBound(allocationId: number, result: { ok: true } | { ok: false; retry: boolean }, now: number): TurnAction[] {
    const a = this.byId.get(allocationId);
    // Bound after its allocation went (TCP client closed, Refresh 0): the socket must go too.
    if (!a) return result.ok ? [{ kind: 'close-relay', allocation: allocationId }, ...this.ignore('no-allocation')] : this.ignore('no-allocation');
    if (a.response) return this.ignore('no-allocation');
    if (result.ok && a.relay) {
      const b = this.response(a.request, 'success');
      b.add(Attr.XOR_RELAYED_ADDRESS, writeXorAddress({ family: a.family, address: a.advertised, port: a.relay.port }, b.transactionId));
      b.add(Attr.LIFETIME, writeUint32(a.lifetimeS));
      if (a.reservation) b.add(Attr.RESERVATION_TOKEN, a.reservation.token);
      b.add(Attr.XOR_MAPPED_ADDRESS, writeXorAddress(clientAddress(a.tuple), b.transactionId));
      if (getAttribute(a.request, Attr.ADDITIONAL_ADDRESS_FAMILY)) {
        b.add(Attr.ADDRESS_ERROR_CODE, writeAddressErrorCode(FAMILY_IPV6, 440, ErrorReason[440]!));
      }
      a.response = this.finish(b, a.key, a.sha256);
      a.expiresAt = now + a.lifetimeS * 1000;
      return [
        ...this.installAllocation(a),
        { kind: 'send', to: a.tuple, data: a.response },
        { kind: 'event', event: { type: 'allocation-created', allocation: a.id, username: a.username, tuple: a.tuple.key, relay: `${a.advertised}:${a.relay.port}`, lifetimeS: a.lifetimeS } },
      ];
    }
    // Port taken by someone else: try another, a bounded number of times.
    if (a.relay) this.usedPorts.delete(portKey(a.family, a.relay.address, a.relay.port));
    a.relay = null;
    // The reserved successor of a port that failed goes with it (its token never reached the client).
    const reserved = a.reservation ? this.reservations.get(hex(a.reservation.token)) : undefined;
    if (reserved) this.usedPorts.delete(portKey(reserved.family, reserved.address, reserved.port));
    if (!result.ok && result.retry && ++a.attempts < MAX_BIND_ATTEMPTS) {
      // The retry keeps what EVEN-PORT asked: an even port, and its successor reserved.
      const port = this.pickPort(a.family, a.relayAddress, a.even, reserved !== undefined);
      if (port !== null) {
        if (reserved && a.reservation) {
          reserved.port = port + 1;
          this.options.ledger.reserve(a.reservation.token, { family: reserved.family, port: port + 1, expiresAt: reserved.expiresAt });
        }
        a.relay = { address: a.relayAddress, port };
        return [{ kind: 'bind-relay', allocation: a.id, family: a.family, address: a.relay.address, port, client: a.tuple }];
      }
    }
    if (a.reservation) {
      this.reservations.delete(hex(a.reservation.token));
      this.options.ledger.take(a.reservation.token, now);
    }
    const tuple = a.tuple;
    const request = a.request;
    this.forget(a);
    return [this.error(tuple, request, 508, a.key, [], a.sha256)];
  }

  /** The client's TCP/TLS connection closed: its allocation goes too (RFC 8656 §5). */
  clientClosed(tuple: ClientTuple): TurnAction[] {
    const a = this.byTuple.get(tuple.key);
    return a ? this.delete(a, 'closed') : [];
  }

  /** Expires allocations, permissions and channels; call about once a second. */
  tick(now: number): TurnAction[] {
    const out: TurnAction[] = [];
    for (const a of [...this.byId.values()]) {
      if (a.response && a.expiresAt <= now) {
        out.push(...this.delete(a, 'expired'));
        continue;
      }
      for (const [ip, exp] of a.permissions) if (exp <= now) a.permissions.delete(ip);
      for (const [n, ch] of a.channels) {
        if (ch.expiresAt <= now) {
          a.channels.delete(n);
          a.channelByPeer.delete(ch.peerKey);
        }
      }
    }
    this.options.ledger.expire(now);
    for (const [token, r] of this.reservations) {
      if (r.expiresAt <= now) {
        this.reservations.delete(token);
        this.usedPorts.delete(portKey(r.family, r.address, r.port));
      }
    }
    return out;
  }

  /** Closes every allocation (shutdown). */
  closeAll(): TurnAction[] {
    const out: TurnAction[] = [];
    for (const a of [...this.byId.values()]) out.push(...this.delete(a, 'closed'));
    return out;
  }

  // ------------------------------------------------------------------ requests

  private binding(tuple: ClientTuple, msg: StunMessage): TurnAction[] {
    let from: { address: string; port: number } | undefined;
    const change = getAttribute(msg, Attr.CHANGE_REQUEST);
    // The other address serves clients of its own family only (RFC 5780 §7.4: OTHER-ADDRESS
    // is of the request's family); for the other family this server has no second address.
    const configured = this.options.otherAddress;
    const other = configured && (configured.address.includes(':') ? 6 : 4) === tuple.family ? configured : undefined;
    if (change) {
      const r = readChangeRequest(change.value);
      if (!r.ok) return [this.error(tuple, msg, 400, null)];
      // RFC 5780 §6.1: without an alternate address, CHANGE-REQUEST is not understood.
      if (!other || tuple.protocol !== 'udp') return [this.error(tuple, msg, 420, null, [[Attr.UNKNOWN_ATTRIBUTES, writeUnknownAttributes([Attr.CHANGE_REQUEST])]])];
      if (r.value.changeIp || r.value.changePort) {
        from = { address: r.value.changeIp ? other.address : tuple.localAddress, port: r.value.changePort ? other.port : tuple.localPort };
      }
    }
    // RFC 5780 §7.5 RESPONSE-PORT: answer to another port of the same client address (UDP only).
    let toPort: number | undefined;
    const responsePort = getAttribute(msg, Attr.RESPONSE_PORT);
    if (responsePort) {
      if (responsePort.value.length !== 4 || tuple.protocol !== 'udp') return [this.error(tuple, msg, 400, null)];
      toPort = (responsePort.value[0]! << 8) | responsePort.value[1]!;
    }
    const b = this.response(msg, 'success');
    b.add(Attr.XOR_MAPPED_ADDRESS, writeXorAddress(clientAddress(tuple), b.transactionId));
    b.add(Attr.MAPPED_ADDRESS, writeAddress(clientAddress(tuple)));
    if (other && tuple.protocol === 'udp') {
      const origin = from ?? { address: tuple.localAddress, port: tuple.localPort };
      b.add(Attr.RESPONSE_ORIGIN, writeAddress({ family: tuple.family, ...origin }));
      b.add(Attr.OTHER_ADDRESS, writeAddress({ family: tuple.family, ...other }));
    }
    // RFC 5780 §7.6 PADDING: pad the response like the request (MTU probing), at most 1500 bytes.
    const padding = getAttribute(msg, Attr.PADDING);
    if (padding) b.add(Attr.PADDING, new Uint8Array(Math.min(padding.value.length, 1500)));
    const data = this.finish(b, null, false);
    const action: TurnAction = { kind: 'send', to: tuple, data };
    if (from) action.from = from;
    if (toPort !== undefined) action.toPort = toPort;
    return [action];
  }

  private authenticated(tuple: ClientTuple, msg: StunMessage, now: number): TurnAction[] {
    const existing = this.byTuple.get(tuple.key);
    // A retransmitted Allocate gets the cached response (RFC 8656 §7.2, step 1), before auth:
    // the nonce it carried may have gone stale meanwhile.
    if (msg.method === Method.Allocate && existing && equalBytes(existing.transactionId, msg.transactionId)) {
      return existing.response ? [{ kind: 'send', to: tuple, data: existing.response }] : this.ignore('allocate-pending');
    }
    // A REST credential's expiry bounds when an allocation may be created; the allocation it
    // created may still be refreshed with it (the lifetime bounds that), so long calls survive.
    const auth = this.authenticate(tuple, msg, now, msg.method !== Method.Allocate ? existing?.username : undefined);
    if (!('username' in auth)) return auth;
    if (existing && msg.method !== Method.Allocate && existing.username !== auth.username) {
      return [this.authFailure(tuple, 'wrong-credentials'), this.error(tuple, msg, 441, auth.key, [], auth.sha256)];
    }
    switch (msg.method) {
      case Method.Allocate:
        return this.allocate(tuple, msg, auth, existing, now);
      case Method.Refresh:
        return this.refresh(tuple, msg, auth, existing, now);
      case Method.CreatePermission:
        return this.createPermission(tuple, msg, auth, existing, now);
      default:
        return this.channelBind(tuple, msg, auth, existing, now);
    }
  }

  /**
   * Long-term credential check (RFC 8489 §9.2.4), also for REST API usernames.
   * @returns the user and key, or the error response actions
   */
  private authenticate(tuple: ClientTuple, msg: StunMessage, now: number, allocatedBy?: string): Auth | TurnAction[] {
    if (this.options.noAuth) return { username: '', key: null, sha256: false };
    const mi = getAttribute(msg, Attr.MESSAGE_INTEGRITY) ?? getAttribute(msg, Attr.MESSAGE_INTEGRITY_SHA256);
    if (!mi) return [this.authFailure(tuple, 'no-credentials'), this.challenge(tuple, msg, 401, now)];
    const usernameAttr = getAttribute(msg, Attr.USERNAME);
    const userhashAttr = getAttribute(msg, Attr.USERHASH);
    const realmAttr = getAttribute(msg, Attr.REALM);
    const nonceAttr = getAttribute(msg, Attr.NONCE);
    if ((!usernameAttr && !userhashAttr) || !realmAttr || !nonceAttr) {
      return [this.authFailure(tuple, 'bad-request'), this.error(tuple, msg, 400, null)];
    }
    const nonce = readString(nonceAttr.value);
    const realm = readString(realmAttr.value);
    if (!nonce.ok || !realm.ok) return [this.authFailure(tuple, 'bad-request'), this.error(tuple, msg, 400, null)];
    const nonceState = this.options.nonces.check(nonce.value, `${tuple.address}|${tuple.port}`, now);
    if (nonceState !== 'ok' || realm.value !== this.options.realm) {
      return [this.authFailure(tuple, 'stale-nonce'), this.challenge(tuple, msg, 438, now)];
    }
    // PASSWORD-ALGORITHM must come with the PASSWORD-ALGORITHMS we offered (RFC 8489 §9.2.4 step 2).
    let algorithm: number = PasswordAlgorithm.MD5;
    const pa = getAttribute(msg, Attr.PASSWORD_ALGORITHM);
    if (pa) {
      const parsed = readPasswordAlgorithm(pa.value);
      const offered = getAttribute(msg, Attr.PASSWORD_ALGORITHMS);
      if (!parsed.ok || !offered || !equalBytes(offered.value, OFFERED_ALGORITHMS) || (parsed.value.algorithm !== PasswordAlgorithm.MD5 && parsed.value.algorithm !== PasswordAlgorithm.SHA256)) {
        return [this.authFailure(tuple, 'bad-request'), this.error(tuple, msg, 400, null)];
      }
      algorithm = parsed.value.algorithm;
    }
    let username: string | undefined;
    if (usernameAttr) {
      const u = readString(usernameAttr.value, 513);
      if (!u.ok) return [this.authFailure(tuple, 'bad-request'), this.error(tuple, msg, 400, null)];
      username = u.value;
    } else {
      for (const name of this.options.users.keys()) if (equalBytes(userHash(name, this.options.realm), userhashAttr!.value)) username = name;
    }
    const passwords = username === undefined ? [] : this.passwords(username, username === allocatedBy ? 0 : now);
    if (passwords === 'expired' || passwords.length === 0) {
      return [this.authFailure(tuple, passwords === 'expired' ? 'expired' : 'unknown-user'), this.challenge(tuple, msg, 401, now)];
    }
    for (const password of passwords) {
      const key = typeof password === 'string' ? longTermKey(username!, this.options.realm, password, algorithm) : password;
      if (verifyIntegrity(msg, key, this.options.hmac) === 'ok') return { username: username!, key, sha256: mi.type === Attr.MESSAGE_INTEGRITY_SHA256 };
    }
    return [this.authFailure(tuple, 'bad-integrity'), this.challenge(tuple, msg, 401, now)];
  }

  /**
   * Candidate passwords of a user: a static user's password (or MD5 key), else one REST API
   * password per configured secret (several during secret rotation); 'expired' for a REST
   * username whose timestamp is before `now` (ms; 0 skips the expiry check).
   */
  private passwords(username: string, now: number): (string | Uint8Array)[] | 'expired' {
    const fixed = this.options.users.get(username);
    if (fixed !== undefined) return [fixed];
    if (this.options.authSecrets.length === 0) return [];
    const expiry = restExpiry(username);
    if (expiry === undefined) return [];
    if (expiry * 1000 < now) return 'expired';
    return this.options.authSecrets.map((secret) => restPassword(secret, username));
  }

  private allocate(tuple: ClientTuple, msg: StunMessage, auth: Auth, existing: Allocation | undefined, now: number): TurnAction[] {
    const err = (code: number, extra: [number, Uint8Array][] = []) => [this.error(tuple, msg, code, auth.key, extra, auth.sha256)];
    if (existing) return err(437);
    const transport = getAttribute(msg, Attr.REQUESTED_TRANSPORT);
    if (!transport) return err(400);
    const proto = readRequestedTransport(transport.value);
    if (!proto.ok) return err(400);
    if (proto.value !== TRANSPORT_UDP) return err(442);
    // Node cannot set the DF bit, so DONT-FRAGMENT is treated as not understood (RFC 8656 §7.2 step 3).
    if (getAttribute(msg, Attr.DONT_FRAGMENT)) return err(420, [[Attr.UNKNOWN_ATTRIBUTES, writeUnknownAttributes([Attr.DONT_FRAGMENT])]]);
    const tokenAttr = getAttribute(msg, Attr.RESERVATION_TOKEN);
    const evenAttr = getAttribute(msg, Attr.EVEN_PORT);
    const familyAttr = getAttribute(msg, Attr.REQUESTED_ADDRESS_FAMILY);
    if (tokenAttr && (evenAttr || familyAttr)) return err(400);
    let family: 4 | 6 = 4;
    if (familyAttr) {
      const f = readAddressFamily(familyAttr.value);
      if (!f.ok || (f.value !== FAMILY_IPV4 && f.value !== FAMILY_IPV6)) return err(440);
      family = f.value === FAMILY_IPV6 ? 6 : 4;
    }
    let reservedPort: { address: string; port: number } | null = null;
    if (tokenAttr) {
      const t = readReservationToken(tokenAttr.value);
      // The ledger's copy: the token may come from another worker of a sharded server.
      const r = t.ok ? this.options.ledger.take(t.value, now) : undefined;
      if (!t.ok || !r) return err(508);
      this.reservations.delete(hex(t.value));
      family = r.family;
      reservedPort = { address: '', port: r.port };
    }
    const relayAddress = family === 4 ? this.options.relayAddresses.v4 : this.options.relayAddresses.v6;
    if (!relayAddress) return err(440);
    if (reservedPort) reservedPort.address = relayAddress;
    let even: { reserveNext: boolean } | null = null;
    if (evenAttr) {
      const e = readEvenPort(evenAttr.value);
      if (!e.ok) return err(400);
      even = e.value;
    }
    const quota = this.options.ledger.acquire(auth.username, this.options.userQuota, this.options.totalQuota);
    if (quota) return [{ kind: 'event', event: { type: 'quota-rejection', scope: quota } }, ...err(486)];
    const lifetime = this.lifetime(msg);
    if (lifetime === null) {
      this.options.ledger.release(auth.username);
      return err(400);
    }
    const port = reservedPort ? reservedPort.port : this.pickPort(family, relayAddress, even !== null, even?.reserveNext ?? false);
    if (port === null) {
      this.options.ledger.release(auth.username);
      return err(508);
    }
    const id = this.nextId++;
    let reservation: Allocation['reservation'] = null;
    if (even?.reserveNext) {
      const token = new Uint8Array(8);
      for (let i = 0; i < 8; i++) token[i] = Math.floor(this.options.random() * 256);
      const expiresAt = now + RESERVATION_MS;
      this.reservations.set(hex(token), { family, address: relayAddress, port: port + 1, expiresAt });
      if (this.options.ledger.reserve(token, { family, port: port + 1, expiresAt })) reservation = { token };
    }
    const a: Allocation = {
      id,
      tuple,
      username: auth.username,
      key: auth.key,
      sha256: auth.sha256,
      family,
      relayAddress,
      relay: { address: relayAddress, port },
      advertised: this.options.externalAddresses.get(relayAddress) ?? relayAddress,
      expiresAt: now + 30_000, // until bound; then the lifetime
      lifetimeS: Math.max(this.options.defaultLifetimeS, lifetime === 0 ? this.options.defaultLifetimeS : lifetime),
      permissions: new Map(),
      channels: new Map(),
      channelByPeer: new Map(),
      transactionId: msg.transactionId.slice(),
      response: null,
      reservation,
      even: even !== null,
      attempts: 0,
      request: { ...msg, raw: msg.raw.slice() },
      bucketBytes: this.options.maxBps,
      bucketAt: now,
    };
    this.byTuple.set(tuple.key, a);
    this.byId.set(id, a);
    return [{ kind: 'bind-relay', allocation: id, family, address: relayAddress, port, client: tuple }];
  }

  private refresh(tuple: ClientTuple, msg: StunMessage, auth: Auth, a: Allocation | undefined, now: number): TurnAction[] {
    if (!a || !a.response) return [this.error(tuple, msg, 437, auth.key, [], auth.sha256)];
    const familyAttr = getAttribute(msg, Attr.REQUESTED_ADDRESS_FAMILY);
    if (familyAttr) {
      const f = readAddressFamily(familyAttr.value);
      if (!f.ok || (f.value === FAMILY_IPV6 ? 6 : 4) !== a.family) return [this.error(tuple, msg, 443, auth.key, [], auth.sha256)];
    }
    const requested = this.lifetime(msg);
    if (requested === null) return [this.error(tuple, msg, 400, auth.key, [], auth.sha256)];
    const out: TurnAction[] = [];
    let lifetimeS = 0;
    if (requested === 0 && getAttribute(msg, Attr.LIFETIME)) {
      out.push(...this.delete(a, 'refresh'));
    } else {
      lifetimeS = Math.max(this.options.defaultLifetimeS, requested);
      a.lifetimeS = lifetimeS;
      a.expiresAt = now + lifetimeS * 1000;
      out.push(...this.installAllocation(a));
    }
    const b = this.response(msg, 'success');
    b.add(Attr.LIFETIME, writeUint32(lifetimeS));
    out.unshift({ kind: 'send', to: tuple, data: this.finish(b, auth.key, auth.sha256) });
    return out;
  }

  private createPermission(tuple: ClientTuple, msg: StunMessage, auth: Auth, a: Allocation | undefined, now: number): TurnAction[] {
    const err = (code: number) => [this.error(tuple, msg, code, auth.key, [], auth.sha256)];
    if (!a || !a.response) return err(437);
    const peers = msg.attributes.filter((x) => x.type === Attr.XOR_PEER_ADDRESS);
    if (peers.length === 0) return err(400);
    const ips: string[] = [];
    for (const p of peers) {
      const addr = readXorAddress(p.value, msg.transactionId);
      if (!addr.ok) return err(400);
      if (addr.value.family !== a.family) return err(443);
      const denied = this.options.peerPolicy.denyReason(addr.value.address);
      if (denied) return [{ kind: 'event', event: { type: 'peer-denied', peer: addr.value.address, reason: denied, tuple: tuple.key } }, ...err(403)];
      ips.push(addr.value.address);
    }
    const fresh = ips.filter((ip) => !a.permissions.has(ip)).length;
    if (a.permissions.size + fresh > this.options.maxPermissionsPerAllocation) {
      return [{ kind: 'event', event: { type: 'quota-rejection', scope: 'permissions' } }, ...err(508)];
    }
    const installs: TurnAction[] = [];
    for (const ip of ips) {
      const expiresAt = now + this.options.permissionLifetimeS * 1000;
      a.permissions.set(ip, expiresAt);
      if (this.options.offload) installs.push({ kind: 'install', entry: { type: 'permission', allocation: a.id, peerAddress: ip, expiresAt } });
    }
    return [...installs, { kind: 'send', to: tuple, data: this.finish(this.response(msg, 'success'), auth.key, auth.sha256) }];
  }

  private channelBind(tuple: ClientTuple, msg: StunMessage, auth: Auth, a: Allocation | undefined, now: number): TurnAction[] {
    const err = (code: number) => [this.error(tuple, msg, code, auth.key, [], auth.sha256)];
    if (!a || !a.response) return err(437);
    const numberAttr = getAttribute(msg, Attr.CHANNEL_NUMBER);
    const peerAttr = getAttribute(msg, Attr.XOR_PEER_ADDRESS);
    if (!numberAttr || !peerAttr) return err(400);
    const n = readChannelNumber(numberAttr.value);
    const peer = readXorAddress(peerAttr.value, msg.transactionId);
    if (!n.ok || !isChannelNumber(n.value) || !peer.ok) return err(400);
    if (peer.value.family !== a.family) return err(443);
    const denied = this.options.peerPolicy.denyReason(peer.value.address);
    if (denied) return [{ kind: 'event', event: { type: 'peer-denied', peer: peer.value.address, reason: denied, tuple: tuple.key } }, ...err(403)];
    const peerKey = `${peer.value.address}|${peer.value.port}`;
    const byNumber = a.channels.get(n.value);
    const byPeer = a.channelByPeer.get(peerKey);
    // RFC 8656 §11.2: a channel is bound to one peer, and a peer to one channel.
    if ((byNumber && byNumber.peerKey !== peerKey) || (byPeer && byPeer.number !== n.value)) return err(400);
    if (!a.permissions.has(peer.value.address) && a.permissions.size >= this.options.maxPermissionsPerAllocation) {
      return [{ kind: 'event', event: { type: 'quota-rejection', scope: 'permissions' } }, ...err(508)];
    }
    const channel = byNumber ?? { number: n.value, peer: { address: peer.value.address, port: peer.value.port }, peerKey, expiresAt: 0 };
    channel.expiresAt = now + this.options.channelLifetimeS * 1000;
    a.channels.set(n.value, channel);
    a.channelByPeer.set(peerKey, channel);
    const permissionExpiresAt = now + this.options.permissionLifetimeS * 1000;
    a.permissions.set(peer.value.address, permissionExpiresAt);
    const installs: TurnAction[] = this.options.offload
      ? [
          { kind: 'install', entry: { type: 'permission', allocation: a.id, peerAddress: peer.value.address, expiresAt: permissionExpiresAt } },
          { kind: 'install', entry: { type: 'channel', allocation: a.id, channel: channel.number, peer: channel.peer, expiresAt: channel.expiresAt } },
        ]
      : [];
    return [...installs, { kind: 'send', to: tuple, data: this.finish(this.response(msg, 'success'), auth.key, auth.sha256) }];
  }

  // ------------------------------------------------------------------ data path

  private send(tuple: ClientTuple, msg: StunMessage, now: number): TurnAction[] {
    const a = this.byTuple.get(tuple.key);
    if (!a || !a.response || a.expiresAt <= now) return this.ignore('no-allocation');
    const peerAttr = getAttribute(msg, Attr.XOR_PEER_ADDRESS);
    const dataAttr = getAttribute(msg, Attr.DATA);
    if (!peerAttr || !dataAttr) return this.ignore('bad-send-indication');
    if (getAttribute(msg, Attr.DONT_FRAGMENT)) return this.ignore('dont-fragment');
    const peer = readXorAddress(peerAttr.value, msg.transactionId);
    if (!peer.ok) return this.ignore('bad-send-indication');
    return this.toPeer(a, { address: peer.value.address, port: peer.value.port }, dataAttr.value, now);
  }

  private channelData(tuple: ClientTuple, data: Uint8Array, now: number): TurnAction[] {
    const cd = decodeChannelData(data);
    if (!cd.ok) return this.ignore('malformed');
    const a = this.byTuple.get(tuple.key);
    if (!a || !a.response || a.expiresAt <= now) return this.ignore('no-allocation');
    const ch = a.channels.get(cd.value.channel);
    if (!ch || ch.expiresAt <= now) return this.ignore('unknown-channel');
    return this.toPeer(a, ch.peer, cd.value.data, now);
  }

  private toPeer(a: Allocation, peer: { address: string; port: number }, data: Uint8Array, now: number): TurnAction[] {
    const perm = a.permissions.get(peer.address);
    if (perm === undefined || perm <= now) return this.ignore('no-permission');
    if (!this.withinBandwidth(a, data.length, now)) return this.ignore('bandwidth-limit');
    this.counters.toPeerPackets++;
    this.counters.toPeerBytes += data.length;
    return [{ kind: 'relay', allocation: a.id, peer, data }];
  }

  /** The allocation's data-plane entry, when offloading (after it is answered, and on each refresh). */
  private installAllocation(a: Allocation): TurnAction[] {
    if (!this.options.offload) return [];
    const entry: DataPlaneEntry = { type: 'allocation', allocation: a.id, tuple: a.tuple, family: a.family, expiresAt: a.expiresAt, maxBps: this.options.maxBps };
    return [{ kind: 'install', entry }];
  }

  private withinBandwidth(a: Allocation, bytes: number, now: number): boolean {
    const max = this.options.maxBps;
    if (max <= 0) return true;
    a.bucketBytes = Math.min(max, a.bucketBytes + ((now - a.bucketAt) / 1000) * max);
    a.bucketAt = now;
    if (a.bucketBytes < bytes) return false;
    a.bucketBytes -= bytes;
    return true;
  }

  // ------------------------------------------------------------------ helpers

  /** Drops the input: counts it by reason and says why (werift's ice-server `ignore` action is the model). */
  private ignore(reason: IgnoreReason): TurnAction[] {
    this.counters.ignored[reason]++;
    return [{ kind: 'ignore', reason }];
  }

  /** Lifetime asked for, clamped to the maximum (s); 0 when LIFETIME is absent or 0; null when malformed. */
  private lifetime(msg: StunMessage): number | null {
    const attr = getAttribute(msg, Attr.LIFETIME);
    if (!attr) return 0;
    const v = readUint32(attr.value);
    return v.ok ? Math.min(v.value, this.options.maxLifetimeS) : null;
  }

  /** A free relay port (even, and with a free successor, when asked); null when the range is full. */
  private pickPort(family: 4 | 6, address: string, even: boolean, reserveNext = false): number | null {
    const { minPort, maxPort } = this.options;
    const span = maxPort - minPort + 1;
    const start = Math.floor(this.options.random() * span);
    for (let i = 0; i < span; i++) {
      const port = minPort + ((start + i) % span);
      if (even && port % 2 !== 0) continue;
      if (this.usedPorts.has(portKey(family, address, port))) continue;
      if (reserveNext && (port + 1 > maxPort || this.usedPorts.has(portKey(family, address, port + 1)))) continue;
      this.usedPorts.add(portKey(family, address, port));
      if (reserveNext) this.usedPorts.add(portKey(family, address, port + 1));
      return port;
    }
    return null;
  }

  private delete(a: Allocation, reason: 'refresh' | 'expired' | 'closed'): TurnAction[] {
    const bound = a.response !== null;
    this.forget(a);
    const out: TurnAction[] = [{ kind: 'close-relay', allocation: a.id }];
    if (bound) out.push({ kind: 'event', event: { type: 'allocation-deleted', allocation: a.id, username: a.username, reason } });
    return out;
  }

  private forget(a: Allocation): void {
    this.byId.delete(a.id);
    if (this.byTuple.get(a.tuple.key) === a) this.byTuple.delete(a.tuple.key);
    this.options.ledger.release(a.username);
    if (a.relay) this.usedPorts.delete(portKey(a.family, a.relay.address, a.relay.port));
  }

  private response(msg: StunMessage, cls: 'success' | 'error'): MessageBuilder {
    const b = new MessageBuilder(cls, msg.method, msg.transactionId);
    if (this.options.software !== null) b.add(Attr.SOFTWARE, writeString(this.options.software));
    return b;
  }

  /** Adds MESSAGE-INTEGRITY(-SHA256) when authenticated, then FINGERPRINT. */
  private finish(b: MessageBuilder, key: Uint8Array | null, sha256: boolean): Uint8Array {
    if (key) b.integrity(key, this.options.hmac, sha256 ? 'sha256' : 'sha1');
    return b.fingerprint().build();
  }

  private error(tuple: ClientTuple, msg: StunMessage, code: number, key: Uint8Array | null, extra: [number, Uint8Array][] = [], sha256 = false): TurnAction {
    const b = this.response(msg, 'error');
    b.add(Attr.ERROR_CODE, writeErrorCode(code, ErrorReason[code] ?? 'Error'));
    for (const [type, value] of extra) b.add(type, value);
    return { kind: 'send', to: tuple, data: this.finish(b, key, sha256) };
  }

  /** 401/438 with REALM, a fresh NONCE and PASSWORD-ALGORITHMS (RFC 8489 §9.2.3). */
  private challenge(tuple: ClientTuple, msg: StunMessage, code: 401 | 438, now: number): TurnAction {
    return this.error(tuple, msg, code, null, [
      [Attr.REALM, writeString(this.options.realm)],
      [Attr.NONCE, writeString(this.options.nonces.issue(`${tuple.address}|${tuple.port}`, now))],
      [Attr.PASSWORD_ALGORITHMS, OFFERED_ALGORITHMS],
    ]);
  }

  private authFailure(tuple: ClientTuple, reason: AuthFailure): TurnAction {
    return { kind: 'event', event: { type: 'auth-failure', reason, tuple: tuple.key } };
  }
}

/** PASSWORD-ALGORITHMS we offer, in preference order: SHA256, MD5. */
const OFFERED_ALGORITHMS = writePasswordAlgorithms([{ algorithm: PasswordAlgorithm.SHA256 }, { algorithm: PasswordAlgorithm.MD5 }]);

const portKey = (family: 4 | 6, address: string, port: number): string => `${family}|${address}|${port}`;

function clientAddress(t: ClientTuple): TransportAddress {
  return { family: t.family, address: t.address, port: t.port };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}
