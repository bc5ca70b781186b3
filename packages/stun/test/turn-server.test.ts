/** The sans-I/O TURN server driven by hand: bytes in, actions out, time moved by the test. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Attr, Method, TurnServer, PeerPolicy, NonceIssuer, MessageBuilder, decodeMessage, getAttribute, readErrorCode, readXorAddress, readUint32, readString,
  readUnknownAttributes, writeString, writeXorAddress, writeRequestedTransport, writeUint32, writeChannelNumber, writeEvenPort, writeAddressFamily,
  longTermKey, nodeHmac, restCredentials, encodeChannelData, decodeChannelData, tupleKey, TRANSPORT_UDP, FAMILY_IPV6,
  type ClientTuple, type TurnAction, type StunMessage, type TurnServerOptions, type IgnoreReason,
} from '../src/index.js';

const REALM = 'test.realm';
const tuple = (port = 40000, protocol: 'udp' | 'tcp' = 'udp', address = '192.0.2.10'): ClientTuple => ({
  key: tupleKey(protocol, address, port, '192.0.2.1', 3478), protocol, address, port, family: 4, localAddress: '192.0.2.1', localPort: 3478,
});

function server(opts: Partial<TurnServerOptions> = {}): TurnServer {
  let seed = 1;
  return new TurnServer({
    realm: REALM,
    users: new Map([['alice', 'alice-pass'], ['bob', 'bob-pass']]),
    relayAddresses: { v4: '192.0.2.1', v6: '2001:db8::1' },
    minPort: 50000,
    maxPort: 50099,
    random: () => ((seed = (seed * 16807) % 2147483647) / 2147483647),
    nonces: new NonceIssuer(600, new Uint8Array(32)),
    ...opts,
  });
}

/** A TURN client of the test: remembers realm and nonce like a real one. */
class Client {
  nonce = '';
  realm = '';
  constructor(readonly s: TurnServer, readonly t: ClientTuple, readonly user = 'alice', readonly password = 'alice-pass', public now = 1_000_000) {}

  request(method: number, attrs: [number, (tid: Uint8Array) => Uint8Array][] = [], auth = true): MessageBuilder {
    const b = new MessageBuilder('request', method);
    for (const [type, value] of attrs) b.add(type, value(b.transactionId));
    if (auth && this.nonce) {
      b.add(Attr.USERNAME, writeString(this.user));
      b.add(Attr.REALM, writeString(this.realm));
      b.add(Attr.NONCE, writeString(this.nonce));
      b.integrity(longTermKey(this.user, this.realm, this.password), nodeHmac);
    }
    return b.fingerprint();
  }

  send(bytes: Uint8Array): TurnAction[] {
    return this.s.handleClient(this.t, bytes, this.now);
  }

  /** Sends and returns the single response message, learning realm/nonce from 401/438. */
  transact(bytes: Uint8Array): StunMessage {
    const actions = this.send(bytes);
    const sends = actions.filter((a) => a.kind === 'send');
    assert.equal(sends.length, 1, `one response, got ${JSON.stringify(actions.map((a) => a.kind))}`);
    const r = decodeMessage((sends[0] as { data: Uint8Array }).data);
    assert.ok(r.ok);
    const nonce = getAttribute(r.value, Attr.NONCE);
    const realm = getAttribute(r.value, Attr.REALM);
    if (nonce) this.nonce = (readString(nonce.value) as { value: string }).value;
    if (realm) this.realm = (readString(realm.value) as { value: string }).value;
    return r.value;
  }

  /** Full allocation: 401 challenge, authenticated Allocate, relay bound. */
  allocate(extra: [number, (tid: Uint8Array) => Uint8Array][] = []): { id: number; relay: { address: string; port: number }; response: StunMessage } {
    if (!this.nonce) assert.equal(code(this.transact(this.request(Method.Allocate, [[Attr.REQUESTED_TRANSPORT, () => writeRequestedTransport(TRANSPORT_UDP)]], false).build())), 401);
    const actions = this.send(this.request(Method.Allocate, [[Attr.REQUESTED_TRANSPORT, () => writeRequestedTransport(TRANSPORT_UDP)], ...extra]).build());
    const bind = actions.find((a) => a.kind === 'bind-relay');
    assert.ok(bind && bind.kind === 'bind-relay', `bind-relay expected, got ${JSON.stringify(actions.map((a) => a.kind === 'send' ? describe(a.data) : a.kind))}`);
    const done = this.s.relayBound(bind.allocation, { ok: true }, this.now);
    const send = done.find((a) => a.kind === 'send') as { data: Uint8Array };
    const r = decodeMessage(send.data);
    assert.ok(r.ok && r.value.cls === 'success');
    const relay = readXorAddress(getAttribute(r.value, Attr.XOR_RELAYED_ADDRESS)!.value, r.value.transactionId);
    assert.ok(relay.ok);
    return { id: bind.allocation, relay: relay.value, response: r.value };
  }

  permit(...peers: string[]): StunMessage {
    return this.transact(this.request(Method.CreatePermission, peers.map((p) => [Attr.XOR_PEER_ADDRESS, (tid) => writeXorAddress({ family: p.includes(':') ? 6 : 4, address: p, port: 0 }, tid)])).build());
  }

  bind(channel: number, address: string, port: number): StunMessage {
    return this.transact(this.request(Method.ChannelBind, [
      [Attr.CHANNEL_NUMBER, () => writeChannelNumber(channel)],
      [Attr.XOR_PEER_ADDRESS, (tid) => writeXorAddress({ family: address.includes(':') ? 6 : 4, address, port }, tid)],
    ]).build());
  }

  refresh(lifetimeS?: number): StunMessage {
    return this.transact(this.request(Method.Refresh, lifetimeS === undefined ? [] : [[Attr.LIFETIME, () => writeUint32(lifetimeS)]]).build());
  }

  sendIndication(address: string, port: number, data: Uint8Array): TurnAction[] {
    const b = new MessageBuilder('indication', Method.Send);
    b.add(Attr.XOR_PEER_ADDRESS, writeXorAddress({ family: 4, address, port }, b.transactionId));
    b.add(Attr.DATA, data);
    return this.send(b.build());
  }
}

function code(m: StunMessage): number {
  const e = getAttribute(m, Attr.ERROR_CODE);
  return e ? (readErrorCode(e.value) as { value: { code: number } }).value.code : 0;
}

function describe(data: Uint8Array): string {
  const r = decodeMessage(data);
  return r.ok ? `${r.value.cls}:${code(r.value)}` : 'not-stun';
}

const PEER = '198.51.100.7';

/** What a dropped input returns: nothing sent, one `ignore` action with its reason. */
const ignored = (reason: IgnoreReason): TurnAction[] => [{ kind: 'ignore', reason }];

/** Inputs ignored so far, all reasons together. */
const ignoredTotal = (s: TurnServer): number => Object.values(s.counters.ignored).reduce((a, b) => a + b, 0);

test('Binding answers XOR-MAPPED-ADDRESS without authentication', () => {
  const s = server();
  const c = new Client(s, tuple(41000));
  const r = c.transact(new MessageBuilder('request', Method.Binding).build());
  assert.equal(r.cls, 'success');
  const xma = readXorAddress(getAttribute(r, Attr.XOR_MAPPED_ADDRESS)!.value, r.transactionId);
  assert.ok(xma.ok);
  assert.deepEqual(xma.value, { family: 4, address: '192.0.2.10', port: 41000 });
  assert.equal(getAttribute(r, Attr.OTHER_ADDRESS), undefined, 'no RFC 5780 without a second address');
});

test('RFC 5780: OTHER-ADDRESS and RESPONSE-ORIGIN, CHANGE-REQUEST answered from the other address', () => {
  const s = server({ otherAddress: { address: '192.0.2.2', port: 3479 } });
  const t = tuple();
  const b = new MessageBuilder('request', Method.Binding);
  b.add(Attr.CHANGE_REQUEST, new Uint8Array([0, 0, 0, 6]));
  const [a] = s.handleClient(t, b.build(), 0);
  assert.ok(a?.kind === 'send');
  assert.deepEqual(a.from, { address: '192.0.2.2', port: 3479 });
  const r = decodeMessage(a.data);
  assert.ok(r.ok);
  assert.ok(getAttribute(r.value, Attr.OTHER_ADDRESS));
  assert.ok(getAttribute(r.value, Attr.RESPONSE_ORIGIN));
  // Without a second address, CHANGE-REQUEST is not understood: 420.
  const plain = server();
  const [e] = plain.handleClient(t, b.build(), 0);
  assert.ok(e?.kind === 'send');
  const er = decodeMessage(e.data);
  assert.ok(er.ok);
  assert.equal(code(er.value), 420);
});

test('Allocate: 401 with REALM and NONCE, then success with relayed address, lifetime and mapped address', () => {
  const s = server();
  const c = new Client(s, tuple());
  const { relay, response } = c.allocate();
  assert.equal(c.realm, REALM);
  assert.match(c.nonce, /^obMatJos2/);
  assert.equal(relay.address, '192.0.2.1');
  assert.ok(relay.port >= 50000 && relay.port <= 50099);
  assert.equal((readUint32(getAttribute(response, Attr.LIFETIME)!.value) as { value: number }).value, 600);
  assert.ok(getAttribute(response, Attr.XOR_MAPPED_ADDRESS));
  assert.ok(getAttribute(response, Attr.MESSAGE_INTEGRITY), 'authenticated response');
  assert.deepEqual(s.stats(), { allocations: 1, permissions: 0, channels: 0 });
});

test('a retransmitted Allocate gets the same response; a new one on the same 5-tuple gets 437', () => {
  const s = server();
  const c = new Client(s, tuple());
  c.transact(c.request(Method.Allocate, [[Attr.REQUESTED_TRANSPORT, () => writeRequestedTransport(TRANSPORT_UDP)]], false).build());
  const req = c.request(Method.Allocate, [[Attr.REQUESTED_TRANSPORT, () => writeRequestedTransport(TRANSPORT_UDP)]]).build();
  const [bind] = c.send(req);
  assert.ok(bind?.kind === 'bind-relay');
  const [first] = s.relayBound(bind.allocation, { ok: true }, c.now);
  const [again] = c.send(req);
  assert.ok(first?.kind === 'send' && again?.kind === 'send');
  assert.deepEqual(again.data, first.data);
  assert.equal(code(c.transact(c.request(Method.Allocate, [[Attr.REQUESTED_TRANSPORT, () => writeRequestedTransport(TRANSPORT_UDP)]]).build())), 437);
});

test('wrong password → 401, bad nonce → 438, missing REQUESTED-TRANSPORT → 400, TCP transport → 442', () => {
  const s = server();
  const c = new Client(s, tuple(), 'alice', 'wrong');
  c.transact(c.request(Method.Allocate, [], false).build());
  assert.equal(code(c.transact(c.request(Method.Allocate, [[Attr.REQUESTED_TRANSPORT, () => writeRequestedTransport(17)]]).build())), 401);
  const ok = new Client(s, tuple(40001));
  ok.transact(ok.request(Method.Allocate, [], false).build());
  const nonce = ok.nonce;
  ok.nonce = nonce.slice(0, -2) + 'xx';
  assert.equal(code(ok.transact(ok.request(Method.Allocate, [[Attr.REQUESTED_TRANSPORT, () => writeRequestedTransport(17)]]).build())), 438);
  assert.equal(code(ok.transact(ok.request(Method.Allocate).build())), 400);
  assert.equal(code(ok.transact(ok.request(Method.Allocate, [[Attr.REQUESTED_TRANSPORT, () => writeRequestedTransport(6)]]).build())), 442);
  const unknown = new Client(s, tuple(40002), 'mallory', 'x');
  unknown.transact(unknown.request(Method.Allocate, [], false).build());
  assert.equal(code(unknown.transact(unknown.request(Method.Allocate, [[Attr.REQUESTED_TRANSPORT, () => writeRequestedTransport(17)]]).build())), 401);
  assert.equal(s.stats().allocations, 0);
});

test('a nonce goes stale after its lifetime: 438 with a fresh nonce, which then works', () => {
  const s = server();
  const c = new Client(s, tuple());
  c.allocate();
  c.now += 601_000;
  const old = c.nonce;
  assert.equal(code(c.refresh()), 438);
  assert.notEqual(c.nonce, old);
  assert.equal(code(c.refresh()), 0);
});

test('a comprehension-required attribute we do not know gets 420 listing it', () => {
  const s = server();
  const c = new Client(s, tuple());
  const r = c.transact(c.request(Method.Binding, [[0x0077, () => new Uint8Array(4)], [0x8077, () => new Uint8Array(4)]], false).build());
  assert.equal(code(r), 420);
  assert.deepEqual((readUnknownAttributes(getAttribute(r, Attr.UNKNOWN_ATTRIBUTES)!.value) as { value: number[] }).value, [0x0077]);
});

test('Refresh: lifetime clamped to 3600 s, default 600 s; lifetime 0 deletes the allocation', () => {
  const s = server();
  const c = new Client(s, tuple());
  const { id } = c.allocate();
  const lifetime = (m: StunMessage) => (readUint32(getAttribute(m, Attr.LIFETIME)!.value) as { value: number }).value;
  assert.equal(lifetime(c.refresh(99999)), 3600);
  assert.equal(lifetime(c.refresh(60)), 600);
  assert.equal(lifetime(c.refresh()), 600);
  const r = c.send(c.request(Method.Refresh, [[Attr.LIFETIME, () => writeUint32(0)]]).build());
  assert.deepEqual(r.map((a) => a.kind), ['send', 'close-relay', 'event']);
  assert.ok(r[1]?.kind === 'close-relay' && r[1].allocation === id);
  assert.equal(s.stats().allocations, 0);
  assert.equal(code(c.refresh()), 437);
});

test('allocations expire at their lifetime; permissions after 300 s; channels after 600 s', () => {
  const s = server();
  const c = new Client(s, tuple());
  c.allocate([[Attr.LIFETIME, () => writeUint32(1200)]]);
  c.bind(0x4001, PEER, 5000);
  c.now += 299_000;
  s.tick(c.now);
  assert.deepEqual(s.stats(), { allocations: 1, permissions: 1, channels: 1 });
  c.permit('198.51.100.8');
  c.now += 2_000;
  s.tick(c.now);
  assert.deepEqual(s.stats(), { allocations: 1, permissions: 1, channels: 1 }, 'the ChannelBind permission expired, the new one not');
  c.now += 300_000;
  s.tick(c.now);
  assert.deepEqual(s.stats(), { allocations: 1, permissions: 0, channels: 0 });
  c.now += 600_000;
  const gone = s.tick(c.now);
  assert.ok(gone.some((a) => a.kind === 'close-relay'));
  assert.equal(s.stats().allocations, 0);
});

test('Send indication relays only to a permitted peer; Data comes back as a Data indication', () => {
  const s = server();
  const c = new Client(s, tuple());
  const { id } = c.allocate();
  const payload = new Uint8Array([1, 2, 3]);
  assert.deepEqual(c.sendIndication(PEER, 5000, payload), ignored('no-permission'), 'no permission: dropped');
  assert.equal(code(c.permit(PEER)), 0);
  const [relay] = c.sendIndication(PEER, 5000, payload);
  assert.deepEqual(relay, { kind: 'relay', allocation: id, peer: { address: PEER, port: 5000 }, data: payload });
  const [back] = s.handlePeer(id, { address: PEER, port: 5000 }, new Uint8Array([9]), c.now);
  assert.ok(back?.kind === 'send');
  const d = decodeMessage(back.data);
  assert.ok(d.ok && d.value.cls === 'indication' && d.value.method === Method.Data);
  assert.deepEqual([...getAttribute(d.value, Attr.DATA)!.value], [9]);
  assert.deepEqual(s.handlePeer(id, { address: '198.51.100.99', port: 5000 }, new Uint8Array([9]), c.now), ignored('no-permission'), 'unpermitted peer dropped');
  assert.deepEqual(s.counters.toPeerPackets, 1);
  assert.deepEqual(s.counters.toClientPackets, 1);
});

test('ChannelBind + ChannelData both ways; unbound channel dropped; TCP pads ChannelData', () => {
  for (const protocol of ['udp', 'tcp'] as const) {
    const s = server();
    const c = new Client(s, tuple(40000, protocol));
    const { id } = c.allocate();
    assert.equal(code(c.bind(0x4000, PEER, 6000)), 0);
    const [relay] = c.send(encodeChannelData(0x4000, new Uint8Array([7, 7]), protocol === 'tcp'));
    assert.deepEqual(relay, { kind: 'relay', allocation: id, peer: { address: PEER, port: 6000 }, data: new Uint8Array([7, 7]) });
    assert.deepEqual(c.send(encodeChannelData(0x4001, new Uint8Array([7]))), ignored('unknown-channel'), 'unbound channel');
    const [back] = s.handlePeer(id, { address: PEER, port: 6000 }, new Uint8Array([5, 5, 5]), c.now);
    assert.ok(back?.kind === 'send');
    assert.equal(back.data.length, protocol === 'tcp' ? 8 : 7);
    const cd = decodeChannelData(back.data);
    assert.ok(cd.ok && cd.value.channel === 0x4000);
    assert.deepEqual([...cd.value.data], [5, 5, 5]);
    // A channel is tied to one peer and a peer to one channel.
    assert.equal(code(c.bind(0x4000, PEER, 6001)), 400);
    assert.equal(code(c.bind(0x4002, PEER, 6000)), 400);
    assert.equal(code(c.bind(0x3fff, PEER, 6002)), 400);
  }
});

test('peer policy: loopback, unspecified, link-local, multicast and private peers are 403 in every spelling', () => {
  const s = server();
  const c = new Client(s, tuple());
  c.allocate();
  for (const peer of ['127.0.0.1', '127.1.2.3', '0.0.0.0', '0.1.2.3', '10.0.0.1', '172.16.5.4', '192.168.1.1', '169.254.169.254', '224.0.0.1', '255.255.255.255', '100.64.0.1']) {
    assert.equal(code(c.permit(peer)), 403, peer);
    assert.equal(code(c.bind(0x4100, peer, 1234)), 403, peer);
  }
  assert.equal(s.stats().permissions, 0);
  const v6 = new Client(s, tuple(40100));
  v6.allocate([[Attr.REQUESTED_ADDRESS_FAMILY, () => writeAddressFamily(FAMILY_IPV6)]]);
  for (const peer of ['::', '::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '::ffff:169.254.169.254', '::127.0.0.1', '64:ff9b::7f00:1', '2002:7f00:1::1', 'fe80::1', 'fc00::1', 'ff02::1']) {
    assert.equal(code(v6.permit(peer)), 403, peer);
  }
  assert.equal(code(v6.permit('2001:db8::99')), 0);
  // allow-loopback-peers and allowed-peer-ip open exactly what they name.
  const lab = server({ peerPolicy: new PeerPolicy({ allowLoopback: true, allowed: ['10.1.0.0/16'], denied: ['198.51.100.0-198.51.100.255'] }) });
  const l = new Client(lab, tuple());
  l.allocate();
  assert.equal(code(l.permit('127.0.0.1')), 0);
  assert.equal(code(l.permit('10.1.2.3')), 0);
  assert.equal(code(l.permit('10.2.0.1')), 403);
  assert.equal(code(l.permit(PEER)), 403);
});

test('REST API credentials: valid until their expiry, then 401', () => {
  const s = server({ authSecrets: ['old-secret', 'rest-secret'] });
  const now = Date.UTC(2026, 0, 1);
  const cred = restCredentials('rest-secret', 'carol', 3600, now);
  const c = new Client(s, tuple(), cred.username, cred.password, now);
  c.allocate();
  const late = new Client(s, tuple(40001), cred.username, cred.password, now + 3601_000);
  late.transact(late.request(Method.Allocate, [], false).build());
  assert.equal(code(late.transact(late.request(Method.Allocate, [[Attr.REQUESTED_TRANSPORT, () => writeRequestedTransport(17)]]).build())), 401);
  // The allocation made while the credential was valid can still be refreshed after its expiry.
  c.now = now + 3700_000;
  assert.equal(code(c.refresh()), 438, 'stale nonce first');
  assert.equal(code(c.refresh()), 0);
  const forged = new Client(s, tuple(40002), cred.username, 'not-the-hmac', now);
  forged.transact(forged.request(Method.Allocate, [], false).build());
  assert.equal(code(forged.transact(forged.request(Method.Allocate, [[Attr.REQUESTED_TRANSPORT, () => writeRequestedTransport(17)]]).build())), 401);
});

test('quotas: per user and in total give 486', () => {
  const s = server({ userQuota: 2, totalQuota: 3 });
  new Client(s, tuple(1)).allocate();
  new Client(s, tuple(2)).allocate();
  const third = new Client(s, tuple(3));
  third.transact(third.request(Method.Allocate, [], false).build());
  assert.equal(code(third.transact(third.request(Method.Allocate, [[Attr.REQUESTED_TRANSPORT, () => writeRequestedTransport(17)]]).build())), 486);
  new Client(s, tuple(4), 'bob', 'bob-pass').allocate();
  const fifth = new Client(s, tuple(5), 'bob', 'bob-pass');
  fifth.transact(fifth.request(Method.Allocate, [], false).build());
  assert.equal(code(fifth.transact(fifth.request(Method.Allocate, [[Attr.REQUESTED_TRANSPORT, () => writeRequestedTransport(17)]]).build())), 486);
});

test('EVEN-PORT with R reserves the next port; RESERVATION-TOKEN claims it', () => {
  const s = server();
  const a = new Client(s, tuple(1));
  const { relay, response } = a.allocate([[Attr.EVEN_PORT, () => writeEvenPort(true)]]);
  assert.equal(relay.port % 2, 0);
  const token = getAttribute(response, Attr.RESERVATION_TOKEN)!.value;
  assert.equal(token.length, 8);
  const b = new Client(s, tuple(2));
  const second = b.allocate([[Attr.RESERVATION_TOKEN, () => token]]);
  assert.equal(second.relay.port, relay.port + 1);
  const c = new Client(s, tuple(3));
  c.transact(c.request(Method.Allocate, [], false).build());
  assert.equal(code(c.transact(c.request(Method.Allocate, [[Attr.REQUESTED_TRANSPORT, () => writeRequestedTransport(17)], [Attr.RESERVATION_TOKEN, () => token]]).build())), 508, 'a token works once');
});

test('IPv6 relays; a family without a relay address is 440; family mismatch on a peer is 443', () => {
  const s = server({ relayAddresses: { v4: '192.0.2.1' } });
  const c = new Client(s, tuple());
  c.transact(c.request(Method.Allocate, [], false).build());
  assert.equal(code(c.transact(c.request(Method.Allocate, [[Attr.REQUESTED_TRANSPORT, () => writeRequestedTransport(17)], [Attr.REQUESTED_ADDRESS_FAMILY, () => writeAddressFamily(FAMILY_IPV6)]]).build())), 440);
  const s6 = server();
  const c6 = new Client(s6, tuple());
  const { relay } = c6.allocate([[Attr.REQUESTED_ADDRESS_FAMILY, () => writeAddressFamily(FAMILY_IPV6)]]);
  assert.equal(relay.address, '2001:db8::1');
  assert.equal(code(c6.permit(PEER)), 443);
});

test('requests from a 5-tuple without an allocation: 437, and its Send and ChannelData are dropped', () => {
  const s = server();
  const c = new Client(s, tuple());
  c.transact(c.request(Method.Refresh, [], false).build());
  assert.equal(code(c.refresh()), 437);
  assert.equal(code(c.permit(PEER)), 437);
  assert.equal(code(c.bind(0x4000, PEER, 1)), 437);
  assert.deepEqual(c.sendIndication(PEER, 1, new Uint8Array([1])), ignored('no-allocation'));
  assert.deepEqual(c.send(encodeChannelData(0x4000, new Uint8Array([1]))), ignored('no-allocation'));
});

test('malformed input is ignored with its reason and counted: truncation, lying lengths, bad cookie, bad attribute length, bad FINGERPRINT', () => {
  const s = server();
  const c = new Client(s, tuple());
  const good = new MessageBuilder('request', Method.Binding).fingerprint().build();
  const bad = (f: (b: Uint8Array) => Uint8Array) => f(good.slice());
  const cases: [Uint8Array, IgnoreReason][] = [
    [good.subarray(0, 10), 'not-stun'],
    [good.subarray(0, good.length - 2), 'malformed'],
    [bad((b) => { b[3] = b[3]! + 4; return b; }), 'malformed'],
    [bad((b) => { b[4] = 0; return b; }), 'not-stun'],
    [bad((b) => { b[23] = 0xff; return b; }), 'malformed'],
    [bad((b) => { b[b.length - 1] = b[b.length - 1]! ^ 1; return b; }), 'bad-fingerprint'],
    [new Uint8Array([0x40, 0x00, 0xff, 0xff, 1]), 'malformed'],
    [new Uint8Array(0), 'not-stun'],
  ];
  const before = ignoredTotal(s);
  for (const [bytes, reason] of cases) assert.deepEqual(c.send(bytes), ignored(reason), Buffer.from(bytes).toString('hex'));
  assert.equal(ignoredTotal(s) - before, cases.length);
  // Wrong MESSAGE-INTEGRITY is 401, missing MESSAGE-INTEGRITY is a 401 challenge.
  c.allocate();
  const tampered = c.request(Method.Refresh).build();
  tampered[tampered.length - 12] = tampered[tampered.length - 12]! ^ 0xff; // inside MESSAGE-INTEGRITY (before the 8-byte FINGERPRINT)
  const fixed = decodeMessage(tampered);
  assert.ok(fixed.ok);
  const rebuilt = new MessageBuilder('request', Method.Refresh, fixed.value.transactionId);
  for (const a of fixed.value.attributes) if (a.type !== Attr.FINGERPRINT) rebuilt.add(a.type, a.value);
  assert.equal(code(c.transact(rebuilt.fingerprint().build())), 401);
  assert.equal(code(c.transact(c.request(Method.Refresh, [], false).build())), 401);
});

test('a flood of unauthenticated Allocates leaves no state behind', () => {
  const s = server();
  for (let i = 0; i < 20_000; i++) {
    const c = new Client(s, tuple(1024 + (i % 60000), 'udp', `203.0.113.${i % 250}`));
    const [a] = c.send(c.request(Method.Allocate, [[Attr.REQUESTED_TRANSPORT, () => writeRequestedTransport(17)]], false).build());
    assert.ok(a?.kind === 'event' || a?.kind === 'send');
  }
  assert.deepEqual(s.stats(), { allocations: 0, permissions: 0, channels: 0 });
  // Nonces are stateless: one issued to one client does not work for another.
  const a = new Client(s, tuple(1));
  a.transact(a.request(Method.Allocate, [], false).build());
  const b = new Client(s, tuple(2));
  b.realm = a.realm;
  b.nonce = a.nonce;
  assert.equal(code(b.transact(b.request(Method.Allocate, [[Attr.REQUESTED_TRANSPORT, () => writeRequestedTransport(17)]]).build())), 438);
});

test('bandwidth limit per allocation drops what exceeds max-bps', () => {
  const s = server({ maxBps: 1000 });
  const c = new Client(s, tuple());
  c.allocate();
  c.permit(PEER);
  let relayed = 0;
  const relays = (actions: TurnAction[]) => actions.filter((a) => a.kind === 'relay').length;
  for (let i = 0; i < 20; i++) relayed += relays(c.sendIndication(PEER, 1, new Uint8Array(100)));
  assert.equal(relayed, 10, '1000 bytes of budget = ten 100-byte packets');
  assert.equal(s.counters.ignored['bandwidth-limit'], 10);
  c.now += 500;
  for (let i = 0; i < 20; i++) relayed += relays(c.sendIndication(PEER, 1, new Uint8Array(100)));
  assert.equal(relayed, 15, 'half a second refills 500 bytes');
  assert.deepEqual(c.sendIndication(PEER, 1, new Uint8Array(100)), ignored('bandwidth-limit'));
});

test('a relay port in use elsewhere is retried on another port', () => {
  const s = server();
  const c = new Client(s, tuple());
  c.transact(c.request(Method.Allocate, [], false).build());
  const [bind] = c.send(c.request(Method.Allocate, [[Attr.REQUESTED_TRANSPORT, () => writeRequestedTransport(17)]]).build());
  assert.ok(bind?.kind === 'bind-relay');
  const [retry] = s.relayBound(bind.allocation, { ok: false, retry: true }, c.now);
  assert.ok(retry?.kind === 'bind-relay' && retry.port !== bind.port);
  const [ok] = s.relayBound(retry.allocation, { ok: true }, c.now);
  assert.ok(ok?.kind === 'send');
});

test('every dropped input says why, and is counted by reason', () => {
  const s = server();
  const c = new Client(s, tuple());
  const indication = (method: number, attrs: [number, (tid: Uint8Array) => Uint8Array][]) => {
    const b = new MessageBuilder('indication', method);
    for (const [type, value] of attrs) b.add(type, value(b.transactionId));
    return b.build();
  };
  const peerAttr: [number, (tid: Uint8Array) => Uint8Array] = [Attr.XOR_PEER_ADDRESS, (tid) => writeXorAddress({ family: 4, address: PEER, port: 5000 }, tid)];
  const dataAttr: [number, (tid: Uint8Array) => Uint8Array] = [Attr.DATA, () => new Uint8Array([1])];
  // Before any allocation.
  assert.deepEqual(c.send(indication(Method.Binding, [])), ignored('binding-indication'), 'a Binding indication is a keepalive');
  assert.deepEqual(c.send(indication(Method.Data, [peerAttr, dataAttr])), ignored('unsupported-indication'), 'clients do not send Data indications');
  assert.deepEqual(c.send(new MessageBuilder('success', Method.Binding).build()), ignored('response'));
  assert.deepEqual(c.send(indication(Method.Send, [peerAttr, dataAttr])), ignored('no-allocation'), 'Send without an allocation');
  assert.deepEqual(c.send(encodeChannelData(0x4000, new Uint8Array([1]))), ignored('no-allocation'), 'ChannelData without an allocation');
  // An Allocate retransmitted while its relay socket is being bound waits for the bind.
  c.transact(c.request(Method.Allocate, [[Attr.REQUESTED_TRANSPORT, () => writeRequestedTransport(TRANSPORT_UDP)]], false).build());
  const allocate = c.request(Method.Allocate, [[Attr.REQUESTED_TRANSPORT, () => writeRequestedTransport(TRANSPORT_UDP)]]).build();
  const [bind] = c.send(allocate);
  assert.ok(bind?.kind === 'bind-relay');
  assert.deepEqual(c.send(allocate), ignored('allocate-pending'));
  const [created] = s.relayBound(bind.allocation, { ok: true }, c.now);
  assert.ok(created?.kind === 'send');
  const id = bind.allocation;
  // With an allocation.
  assert.deepEqual(c.send(indication(Method.Send, [peerAttr])), ignored('bad-send-indication'), 'no DATA');
  assert.deepEqual(c.send(indication(Method.Send, [dataAttr])), ignored('bad-send-indication'), 'no XOR-PEER-ADDRESS');
  assert.deepEqual(c.send(indication(Method.Send, [[Attr.XOR_PEER_ADDRESS, () => new Uint8Array(3)], dataAttr])), ignored('bad-send-indication'), 'undecodable XOR-PEER-ADDRESS');
  assert.deepEqual(c.send(indication(Method.Send, [peerAttr, dataAttr, [Attr.DONT_FRAGMENT, () => new Uint8Array(0)]])), ignored('dont-fragment'));
  assert.deepEqual(c.send(indication(Method.Send, [peerAttr, dataAttr])), ignored('no-permission'));
  assert.deepEqual(c.send(encodeChannelData(0x4000, new Uint8Array([1]))), ignored('unknown-channel'));
  assert.deepEqual(s.handlePeer(id, { address: PEER, port: 5000 }, new Uint8Array([1]), c.now), ignored('no-permission'), 'from a peer without a permission');
  // After the allocation is gone: peer data for it, and a late relay bind, whose socket must close.
  assert.equal(code(c.refresh(0)), 0);
  assert.deepEqual(s.handlePeer(id, { address: PEER, port: 5000 }, new Uint8Array([1]), c.now), ignored('no-allocation'));
  assert.deepEqual(s.relayBound(id, { ok: false, retry: false }, c.now), ignored('no-allocation'));
  assert.deepEqual(s.relayBound(id, { ok: true }, c.now), [{ kind: 'close-relay', allocation: id }, ...ignored('no-allocation')]);
  assert.deepEqual(s.counters.ignored, {
    'not-stun': 0, malformed: 0, 'bad-fingerprint': 0, 'binding-indication': 1, 'unsupported-indication': 1, response: 1, 'allocate-pending': 1,
    'no-allocation': 5, 'bad-send-indication': 3, 'dont-fragment': 1, 'unknown-channel': 1, 'no-permission': 2, 'bandwidth-limit': 0, 'too-large': 0,
  });
});

test('a TCP client that closes while its relay socket is being bound gets that socket closed once it is bound', () => {
  const s = server();
  const c = new Client(s, tuple(40000, 'tcp'));
  c.transact(c.request(Method.Allocate, [[Attr.REQUESTED_TRANSPORT, () => writeRequestedTransport(TRANSPORT_UDP)]], false).build());
  const [bind] = c.send(c.request(Method.Allocate, [[Attr.REQUESTED_TRANSPORT, () => writeRequestedTransport(TRANSPORT_UDP)]]).build());
  assert.ok(bind?.kind === 'bind-relay');
  assert.deepEqual(s.clientClosed(c.t), [{ kind: 'close-relay', allocation: bind.allocation }]);
  assert.deepEqual(s.relayBound(bind.allocation, { ok: true }, c.now), [{ kind: 'close-relay', allocation: bind.allocation }, ...ignored('no-allocation')]);
  assert.equal(s.stats().allocations, 0);
});
