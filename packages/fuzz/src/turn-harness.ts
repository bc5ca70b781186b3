/**
 * Runs steps against a sans-I/O {@link TurnServer} with a fake clock, playing the adapter's part
 * (relay binds answered by the steps), and checks after each step, against a model of the
 * allocations mirrored from the server's own answers:
 * - nothing throws; every response decodes, answers its request (method, transaction id), carries
 *   a valid FINGERPRINT, and its MESSAGE-INTEGRITY verifies with the client's key;
 * - relays go only to peers with a live permission, sends only to the requesting 5-tuple or the
 *   allocation's; relay ports are unique, in range, even when EVEN-PORT asked;
 * - the server's counts of allocations, permissions and channels equal the model's; quotas hold;
 * - input that cannot authenticate, peer data and Binding requests leave no state;
 * - with no bandwidth limit, data with a live permission is relayed (nothing silently lost);
 * - with `offload` (the native fast path's data plane), exactly the allocations, permissions and
 *   channels a success answer created or refreshed are installed, live, with the model's expiry;
 *   without it, nothing is.
 */
import {
  Attr, Method, TurnServer, decodeMessage, decodeChannelData, getAttribute, verifyFingerprint, verifyIntegrity, nodeHmac, readErrorCode,
  readXorAddress, readUint32, readChannelNumber, readString, ErrorReason, looksLikeChannelData, type TurnAction, type StunMessage, type PeerPolicy,
} from '@dari/stun';
import { check } from './target.js';
import { TUPLES, buildServer, policyOf, fromHex, toHex, type TurnConfig } from './turn-config.js';

/** One recorded step of a TURN case. `auth` is what the client knew: valid, invalid (no usable credentials), unknown (mutated after signing). */
export type TurnStep =
  | { op: 'client'; t: number; hex: string; auth: 'valid' | 'invalid' | 'unknown'; user?: string; key?: string }
  | { op: 'peer'; alloc: number; address: string; port: number; hex: string }
  | { op: 'bound'; alloc: number; ok: boolean; retry: boolean }
  | { op: 'closed'; t: number }
  | { op: 'tick'; dt: number };

interface ModelChannel {
  peerKey: string;
  address: string;
  port: number;
  expiresAt: number;
}

export interface ModelAllocation {
  id: number;
  t: number;
  user: string;
  key: Uint8Array | null;
  family: 4 | 6;
  address: string;
  port: number;
  bound: boolean;
  expiresAt: number;
  even: boolean;
  permissions: Map<string, number>;
  channels: Map<number, ModelChannel>;
  /** Reservation token of the success response, hex. */
  token?: string;
}

const same = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

export class TurnHarness {
  readonly server: TurnServer;
  readonly policy: PeerPolicy;
  now: number;
  readonly allocations = new Map<number, ModelAllocation>();
  readonly tags = new Set<string>();
  /** The last NONCE and REALM each tuple's client was given (the driver signs with them). */
  readonly nonces: (string | undefined)[] = TUPLES.map(() => undefined);
  messages = 0;
  /** Data-plane entries the current step's success answers call for (offload). */
  private expectedInstalls = 0;

  constructor(readonly config: TurnConfig) {
    this.server = buildServer(config);
    this.policy = policyOf(config);
    this.now = config.start;
  }

  byTuple(t: number): ModelAllocation | undefined {
    for (const a of this.allocations.values()) if (a.t === t) return a;
    return undefined;
  }

  /** Runs one step and checks every invariant; returns the server's actions. */
  exec(step: TurnStep): TurnAction[] {
    const before = this.server.stats();
    const ignoredBefore = { ...this.server.counters.ignored };
    this.expectedInstalls = 0;
    let actions: TurnAction[];
    let mayChangeState = false;
    switch (step.op) {
      case 'client': {
        this.messages++;
        const bytes = fromHex(step.hex);
        actions = this.server.handleClient(TUPLES[step.t]!, bytes, this.now);
        const decoded = looksLikeChannelData(bytes) ? undefined : decodeMessage(bytes);
        const request = decoded?.ok ? decoded.value : undefined;
        this.afterClient(step, bytes, request, actions);
        mayChangeState = step.auth !== 'invalid' && request?.cls === 'request' && STATEFUL_METHODS.has(request.method);
        break;
      }
      case 'peer': {
        this.messages++;
        const data = fromHex(step.hex);
        actions = this.server.handlePeer(step.alloc, { address: step.address, port: step.port }, data, this.now);
        this.afterPeer(step, data, actions);
        break;
      }
      case 'bound':
        actions = this.server.relayBound(step.alloc, step.ok ? { ok: true } : { ok: false, retry: step.retry }, this.now);
        this.afterBound(step, actions);
        mayChangeState = true;
        break;
      case 'closed': {
        actions = this.server.clientClosed(TUPLES[step.t]!);
        const a = this.byTuple(step.t);
        check(a ? actions.some((x) => x.kind === 'close-relay' && x.allocation === a.id) : kinds(actions) === '', () => `clientClosed: ${kinds(actions)} for ${a ? 'an allocation' : 'no allocation'}`);
        if (a) this.allocations.delete(a.id);
        mayChangeState = true;
        break;
      }
      case 'tick':
        this.now += step.dt;
        actions = this.server.tick(this.now);
        this.afterTick(actions);
        mayChangeState = true;
        break;
    }
    for (const a of actions) this.tags.add(a.kind === 'event' ? `event:${a.event.type}` : a.kind === 'ignore' ? `ignore:${a.reason}` : a.kind);
    if (step.op === 'client' || step.op === 'peer') this.checkIgnore(actions, ignoredBefore);
    this.checkInstalls(actions);
    this.checkCounts(before, mayChangeState, step.op);
    return actions;
  }

  private afterClient(step: Extract<TurnStep, { op: 'client' }>, bytes: Uint8Array, request: StunMessage | undefined, actions: TurnAction[]): void {
    const tuple = TUPLES[step.t]!;
    const current = this.byTuple(step.t);
    const sends = actions.filter((a) => a.kind === 'send');
    check(sends.length <= 1, `${sends.length} responses to one input`);
    for (const s of sends) check(s.to.key === tuple.key, 'a response went to another 5-tuple');
    const response = sends[0] ? this.checkResponse(sends[0].data, request, step) : undefined;
    for (const c of actions.filter((x) => x.kind === 'close-relay')) {
      check(current?.id === c.allocation && request?.method === Method.Refresh, 'close-relay for another allocation, or not by a Refresh');
      this.allocations.delete(c.allocation);
    }
    const binds = actions.filter((a) => a.kind === 'bind-relay');
    check(binds.length <= 1, 'several relay binds for one request');
    for (const b of binds) {
      check(!this.allocations.has(b.allocation), 'bind-relay reuses a live allocation id');
      check(step.auth !== 'invalid', 'an allocation from a client without usable credentials');
      check(request?.method === Method.Allocate && request.cls === 'request', 'bind-relay for something other than an Allocate request');
      const a: ModelAllocation = {
        id: b.allocation, t: step.t, user: this.config.noAuth ? '' : step.user ?? '', key: step.key ? fromHex(step.key) : null, family: b.family, address: b.address, port: b.port,
        bound: false, expiresAt: Infinity, even: getAttribute(request, Attr.EVEN_PORT) !== undefined, permissions: new Map(), channels: new Map(),
      };
      this.checkPort(a);
      this.allocations.set(a.id, a);
    }
    for (const r of actions.filter((x) => x.kind === 'relay')) {
      const a = this.allocations.get(r.allocation);
      check(a && a.t === step.t && a.bound, 'relay from an allocation that is not this 5-tuple\'s bound allocation');
      const perm = a.permissions.get(r.peer.address);
      check(perm !== undefined && perm > this.now, () => `relay to ${r.peer.address} without a live permission`);
      check(this.policy.allows(r.peer.address), `relay to a denied peer ${r.peer.address}`);
    }
    const expected = this.expectedRelay(step.t, bytes);
    if (expected) {
      const r = actions.find((x) => x.kind === 'relay');
      check(r !== undefined, `data to a permitted peer ${expected.address} was dropped`);
      check(r.peer.address === expected.address && r.peer.port === expected.port && same(r.data, expected.data), 'relayed to the wrong peer or changed the data');
    }
    if (request && response) this.learn(current, request, response);
  }

  /** Checks a response to `request`; returns it decoded. */
  private checkResponse(data: Uint8Array, request: StunMessage | undefined, step: Extract<TurnStep, { op: 'client' }>): StunMessage {
    const r = decodeMessage(data);
    check(r.ok, () => `a response does not decode: ${r.ok ? '' : r.error.message}`);
    const m = r.value;
    check(request !== undefined, 'a response to something that is not a STUN message');
    check(m.method === request.method && same(m.transactionId, request.transactionId), 'response method or transaction id differs from the request');
    check(m.cls === 'success' || m.cls === 'error', `response of class ${m.cls}`);
    check(verifyFingerprint(m) === 'ok', 'response FINGERPRINT does not verify');
    const mi = getAttribute(m, Attr.MESSAGE_INTEGRITY) ?? getAttribute(m, Attr.MESSAGE_INTEGRITY_SHA256);
    let tag = `${KNOWN_METHODS.has(m.method) ? m.method : 'other'}:${m.cls}`;
    if (m.cls === 'error') {
      const ec = getAttribute(m, Attr.ERROR_CODE);
      const code = ec ? readErrorCode(ec.value) : undefined;
      check(code?.ok && ErrorReason[code.value.code] !== undefined, 'error response without a known ERROR-CODE');
      tag += `:${code.value.code}`;
      if (code.value.code === 401 || code.value.code === 438) {
        check(!mi, `${code.value.code} with MESSAGE-INTEGRITY`);
        const realm = getAttribute(m, Attr.REALM);
        const realmText = realm ? readString(realm.value) : undefined;
        const nonce = getAttribute(m, Attr.NONCE);
        const nonceText = nonce ? readString(nonce.value) : undefined;
        check(realmText?.ok && realmText.value === this.config.realm && nonceText?.ok, `${code.value.code} without the REALM and a NONCE`);
        this.nonces[step.t] = nonceText.value;
      }
      if (code.value.code === 420) check(getAttribute(m, Attr.UNKNOWN_ATTRIBUTES), '420 without UNKNOWN-ATTRIBUTES');
    }
    if (mi) {
      const keys = [step.key ? fromHex(step.key) : null, this.byTuple(step.t)?.key ?? null].filter((k): k is Uint8Array => k !== null);
      check(keys.some((k) => verifyIntegrity(m, k, nodeHmac) === 'ok'), 'response MESSAGE-INTEGRITY does not verify with the client\'s key');
    }
    if (m.method === Method.Binding && m.cls === 'success') {
      const x = getAttribute(m, Attr.XOR_MAPPED_ADDRESS);
      const addr = x ? readXorAddress(x.value, m.transactionId) : undefined;
      const t = TUPLES[step.t]!;
      check(addr?.ok && addr.value.port === t.port && addr.value.address === t.address, 'Binding success without the client\'s XOR-MAPPED-ADDRESS');
    }
    this.tags.add(tag);
    return m;
  }

  /** Mirrors what a success response tells about the server's state. */
  private learn(a: ModelAllocation | undefined, request: StunMessage, response: StunMessage): void {
    if (response.cls !== 'success') return;
    const permit = (address: string) => {
      check(a !== undefined, 'permission granted without an allocation');
      check(this.policy.allows(address), `permission granted for a denied peer ${address}`);
      a.permissions.set(address, this.now + this.config.permissionLifetimeS * 1000);
      check(a.permissions.size <= this.config.maxPermissionsPerAllocation, `${a.permissions.size} permissions, over the limit`);
    };
    if (request.method === Method.CreatePermission) {
      for (const p of request.attributes.filter((x) => x.type === Attr.XOR_PEER_ADDRESS)) {
        const addr = readXorAddress(p.value, request.transactionId);
        check(addr.ok, 'CreatePermission succeeded with a malformed XOR-PEER-ADDRESS');
        permit(addr.value.address);
        this.expectedInstalls++;
      }
    } else if (request.method === Method.ChannelBind) {
      const n = readChannelNumber(getAttribute(request, Attr.CHANNEL_NUMBER)?.value ?? new Uint8Array(0));
      const peer = readXorAddress(getAttribute(request, Attr.XOR_PEER_ADDRESS)?.value ?? new Uint8Array(0), request.transactionId);
      check(n.ok && peer.ok && a, 'ChannelBind succeeded without a channel number, a peer or an allocation');
      check(n.value >= 0x4000 && n.value <= 0x7fff, `channel 0x${n.value.toString(16)} bound`);
      const peerKey = `${peer.value.address}|${peer.value.port}`;
      for (const [num, ch] of a.channels) check(num === n.value ? ch.peerKey === peerKey : ch.peerKey !== peerKey, 'a channel bound to two peers, or a peer to two channels');
      a.channels.set(n.value, { peerKey, address: peer.value.address, port: peer.value.port, expiresAt: this.now + this.config.channelLifetimeS * 1000 });
      permit(peer.value.address);
      this.expectedInstalls += 2; // the permission and the channel
    } else if (request.method === Method.Refresh && a) {
      const lt = readUint32(getAttribute(response, Attr.LIFETIME)?.value ?? new Uint8Array(0));
      check(lt.ok, 'Refresh success without LIFETIME');
      check(lt.value <= this.config.maxLifetimeS, `lifetime ${lt.value} s over the maximum`);
      if (lt.value === 0) check(!this.allocations.has(a.id), 'Refresh to 0 kept the allocation');
      else {
        a.expiresAt = this.now + lt.value * 1000;
        this.expectedInstalls++;
      }
    }
  }

  /** `install` actions (offload): each one for a bound, live allocation of the model, matching what the model learnt; as many as the step's success answers call for. */
  private checkInstalls(actions: TurnAction[]): void {
    const installs = actions.flatMap((a) => (a.kind === 'install' ? [a.entry] : []));
    if (!this.config.offload) return check(installs.length === 0, 'data-plane installs without offload');
    check(installs.length === this.expectedInstalls, () => `${installs.length} data-plane installs, ${this.expectedInstalls} expected`);
    for (const e of installs) {
      const a = this.allocations.get(e.allocation);
      check(a !== undefined && a.bound, `install for allocation ${e.allocation}, which is not bound and live`);
      check(e.expiresAt > this.now, 'an install that has already expired');
      if (e.type === 'allocation') {
        check(e.tuple.key === TUPLES[a.t]!.key && e.family === a.family, 'allocation installed for another 5-tuple or family');
        check(e.expiresAt === a.expiresAt && e.maxBps === this.config.maxBps, () => `allocation installed until ${e.expiresAt} at ${e.maxBps} B/s, the model says ${a.expiresAt} at ${this.config.maxBps}`);
      } else if (e.type === 'permission') {
        check(a.permissions.get(e.peerAddress) === e.expiresAt, () => `permission for ${e.peerAddress} installed until ${e.expiresAt}, the model says ${a.permissions.get(e.peerAddress)}`);
      } else {
        const ch = a.channels.get(e.channel);
        check(ch !== undefined && ch.address === e.peer.address && ch.port === e.peer.port && ch.expiresAt === e.expiresAt, () => `channel 0x${e.channel.toString(16)} installed to ${e.peer.address}:${e.peer.port} until ${e.expiresAt}, unlike the model`);
      }
    }
  }

  private afterPeer(step: Extract<TurnStep, { op: 'peer' }>, data: Uint8Array, actions: TurnAction[]): void {
    check(actions.every((a) => a.kind === 'send' || a.kind === 'ignore'), `peer data caused ${kinds(actions)}`);
    check(actions.length <= 1, 'peer data sent twice, or sent and ignored');
    const a = this.allocations.get(step.alloc);
    const perm = a?.permissions.get(step.address);
    const live = a !== undefined && a.bound && a.expiresAt > this.now && perm !== undefined && perm > this.now;
    const s = actions[0];
    if (!s || s.kind !== 'send') {
      check(!live || this.config.maxBps > 0, `peer data from permitted ${step.address} was dropped`);
      return;
    }
    check(live, 'peer data relayed without a live allocation and permission');
    check(s.to.key === TUPLES[a!.t]!.key, 'peer data sent to a 5-tuple other than the allocation\'s');
    const ch = [...a!.channels.entries()].find(([, c]) => c.address === step.address && c.port === step.port && c.expiresAt > this.now);
    if (ch) {
      const cd = decodeChannelData(s.data);
      check(cd.ok && cd.value.channel === ch[0] && same(cd.value.data, data), 'peer data on a channel: wrong ChannelData');
      if (TUPLES[a!.t]!.protocol !== 'udp') check(s.data.length % 4 === 0, 'ChannelData over a stream without padding');
      this.tags.add('peer:channel-data');
      return;
    }
    const m = decodeMessage(s.data);
    check(m.ok && m.value.cls === 'indication' && m.value.method === Method.Data, 'peer data: not a Data indication');
    const peer = readXorAddress(getAttribute(m.value, Attr.XOR_PEER_ADDRESS)?.value ?? new Uint8Array(0), m.value.transactionId);
    const d = getAttribute(m.value, Attr.DATA);
    check(peer.ok && peer.value.port === step.port && d && same(d.value, data), 'Data indication with the wrong peer or data');
    this.tags.add('peer:data-indication');
  }

  private afterBound(step: Extract<TurnStep, { op: 'bound' }>, actions: TurnAction[]): void {
    const a = this.allocations.get(step.alloc);
    if (!a || a.bound) {
      // A socket bound for an allocation that went meanwhile must be closed; any other late answer is ignored.
      const expected = !a && step.ok ? 'close-relay,ignore' : 'ignore';
      check(kinds(actions) === expected, `relayBound for ${a ? 'a bound' : 'an unknown'} allocation gave ${kinds(actions)}, not ${expected}`);
      return;
    }
    const rebind = actions.find((x) => x.kind === 'bind-relay');
    if (rebind) {
      check(!step.ok && step.retry && actions.length === 1 && rebind.allocation === a.id, `a relay bind retried with ${kinds(actions)}`);
      a.port = rebind.port;
      a.address = rebind.address;
      this.checkPort(a);
      this.tags.add('allocate:rebind');
      return;
    }
    const tuple = TUPLES[a.t]!;
    const send = actions.find((x) => x.kind === 'send');
    check(send && send.to.key === tuple.key, 'relayBound answered no one, or the wrong 5-tuple');
    const m = decodeMessage(send.data);
    check(m.ok && m.value.method === Method.Allocate && verifyFingerprint(m.value) === 'ok', 'Allocate response does not decode');
    const mi = getAttribute(m.value, Attr.MESSAGE_INTEGRITY) ?? getAttribute(m.value, Attr.MESSAGE_INTEGRITY_SHA256);
    if (a.key && !this.config.noAuth) check(mi && verifyIntegrity(m.value, a.key, nodeHmac) === 'ok', 'Allocate response without a MESSAGE-INTEGRITY made with the client\'s key');
    if (step.ok) {
      check(m.value.cls === 'success', 'relay bound, yet Allocate failed');
      const relayed = readXorAddress(getAttribute(m.value, Attr.XOR_RELAYED_ADDRESS)?.value ?? new Uint8Array(0), m.value.transactionId);
      check(relayed.ok && relayed.value.port === a.port && relayed.value.family === a.family, 'XOR-RELAYED-ADDRESS is not the bound relay');
      const lt = readUint32(getAttribute(m.value, Attr.LIFETIME)?.value ?? new Uint8Array(0));
      check(lt.ok && lt.value > 0 && lt.value <= this.config.maxLifetimeS, 'Allocate success without a valid LIFETIME');
      a.bound = true;
      a.expiresAt = this.now + lt.value * 1000;
      this.expectedInstalls++;
      const token = getAttribute(m.value, Attr.RESERVATION_TOKEN);
      if (token) a.token = toHex(token.value);
      check(!token || a.even, 'RESERVATION-TOKEN without EVEN-PORT');
      this.tags.add('allocate:success');
    } else {
      const ec = readErrorCode(getAttribute(m.value, Attr.ERROR_CODE)?.value ?? new Uint8Array(0));
      check(m.value.cls === 'error' && ec.ok && ec.value.code === 508, 'a failed relay bind did not give 508');
      this.allocations.delete(a.id);
      this.tags.add('allocate:508');
    }
  }

  private afterTick(actions: TurnAction[]): void {
    const closed = new Set(actions.filter((a) => a.kind === 'close-relay').map((a) => (a as { allocation: number }).allocation));
    for (const id of closed) check(this.allocations.has(id), `tick closed unknown allocation ${id}`);
    for (const a of [...this.allocations.values()]) {
      const expired = a.bound && a.expiresAt <= this.now;
      check(expired === closed.has(a.id), () => `allocation ${a.id} ${expired ? 'expired but was not closed' : 'closed before it expired'}`);
      if (expired) {
        this.allocations.delete(a.id);
        continue;
      }
      for (const [ip, exp] of a.permissions) if (exp <= this.now) a.permissions.delete(ip);
      for (const [n, ch] of a.channels) if (ch.expiresAt <= this.now) a.channels.delete(n);
    }
  }

  /** Every input is answered, relayed or acted on, or else ignored with exactly one counted reason. */
  private checkIgnore(actions: TurnAction[], before: Record<string, number>): void {
    const ignores = actions.filter((a) => a.kind === 'ignore');
    const acted = actions.some((a) => a.kind === 'send' || a.kind === 'relay' || a.kind === 'bind-relay');
    check(ignores.length <= 1, 'two ignore actions for one input');
    check(acted !== (ignores.length === 1), acted ? `an input both acted on and ignored: ${kinds(actions)}` : `an input dropped without a reason: ${kinds(actions)}`);
    const after = this.server.counters.ignored;
    for (const [reason, n] of Object.entries(after)) {
      const expected = (before[reason] ?? 0) + (ignores[0]?.kind === 'ignore' && ignores[0].reason === reason ? 1 : 0);
      check(n === expected, `ignored[${reason}] is ${n}, expected ${expected}`);
    }
  }

  private checkPort(a: ModelAllocation): void {
    check(a.port >= this.config.minPort && a.port <= this.config.maxPort, `relay port ${a.port} outside the range`);
    check(a.address === (a.family === 4 ? this.config.relayV4 : this.config.relayV6), 'relay bound on an address not configured for its family');
    if (a.even) check(a.port % 2 === 0, `EVEN-PORT asked, relay port ${a.port} is odd`);
    for (const o of this.allocations.values()) check(o.id === a.id || o.family !== a.family || o.port !== a.port, `relay port ${a.port} given to two allocations`);
  }

  private checkCounts(before: { allocations: number; permissions: number; channels: number }, mayChange: boolean, op: string): void {
    const s = this.server.stats();
    let permissions = 0;
    let channels = 0;
    const perUser = new Map<string, number>();
    for (const a of this.allocations.values()) {
      permissions += a.permissions.size;
      channels += a.channels.size;
      perUser.set(a.user, (perUser.get(a.user) ?? 0) + 1);
    }
    check(s.allocations === this.allocations.size, () => `server counts ${s.allocations} allocations, the model ${this.allocations.size} (after ${op})`);
    check(s.permissions === permissions && s.channels === channels, () => `server counts ${s.permissions} permissions and ${s.channels} channels, the model ${permissions} and ${channels} (after ${op})`);
    if (!mayChange) check(s.allocations === before.allocations && s.permissions === before.permissions && s.channels === before.channels, `state changed by ${op} input that cannot change it`);
    if (this.config.totalQuota > 0) check(s.allocations <= this.config.totalQuota, 'total quota exceeded');
    if (this.config.userQuota > 0) for (const [u, n] of perUser) check(n <= this.config.userQuota, `user ${u} holds ${n} allocations, over the quota`);
  }

  /** The relay a clean Send indication or ChannelData from tuple `t` must cause now (no bandwidth limit). */
  private expectedRelay(t: number, bytes: Uint8Array): { address: string; port: number; data: Uint8Array } | undefined {
    if (this.config.maxBps > 0) return undefined;
    const a = this.byTuple(t);
    if (!a || !a.bound) return undefined;
    let target: { address: string; port: number; data: Uint8Array } | undefined;
    if (looksLikeChannelData(bytes)) {
      const cd = decodeChannelData(bytes);
      const ch = cd.ok ? a.channels.get(cd.value.channel) : undefined;
      if (cd.ok && ch && ch.expiresAt > this.now && a.expiresAt > this.now) target = { address: ch.address, port: ch.port, data: cd.value.data };
    } else {
      const m = decodeMessage(bytes);
      if (!m.ok || m.value.cls !== 'indication' || m.value.method !== Method.Send || a.expiresAt <= this.now) return undefined;
      const fp = getAttribute(m.value, Attr.FINGERPRINT);
      if ((fp && verifyFingerprint(m.value) !== 'ok') || getAttribute(m.value, Attr.DONT_FRAGMENT)) return undefined;
      const peer = readXorAddress(getAttribute(m.value, Attr.XOR_PEER_ADDRESS)?.value ?? new Uint8Array(0), m.value.transactionId);
      const d = getAttribute(m.value, Attr.DATA);
      if (peer.ok && d) target = { address: peer.value.address, port: peer.value.port, data: d.value };
    }
    const perm = target ? a.permissions.get(target.address) : undefined;
    return target && perm !== undefined && perm > this.now ? target : undefined;
  }
}

const KNOWN_METHODS: ReadonlySet<number> = new Set(Object.values(Method));
const STATEFUL_METHODS: ReadonlySet<number> = new Set([Method.Allocate, Method.Refresh, Method.CreatePermission, Method.ChannelBind]);

const kinds = (actions: TurnAction[]): string => actions.map((a) => a.kind).join(',');
