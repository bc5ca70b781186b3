/**
 * Behaviours the fuzz campaign (bench/fuzz) found broken, one hand-written test each; the cases
 * the campaign saved are replayed by packages/fuzz/test/regressions.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Attr, Method, TurnServer, NonceIssuer, MessageBuilder, decodeMessage, getAttribute, readErrorCode, readString, readXorAddress, writeString,
  writeRequestedTransport, writeEvenPort, longTermKey, nodeHmac, tupleKey, addressBytes, parseRange, type ClientTuple, type TurnAction, type TurnServerOptions, type StunMessage,
} from '../src/index.js';

const REALM = 'example.org';
const v4 = (port = 40000): ClientTuple => ({ key: tupleKey('udp', '192.0.2.10', port, '192.0.2.1', 3478), protocol: 'udp', address: '192.0.2.10', port, family: 4, localAddress: '192.0.2.1', localPort: 3478 });
const v6: ClientTuple = { key: tupleKey('udp', '2001:db8::10', 40000, '2001:db8::1', 3478), protocol: 'udp', address: '2001:db8::10', port: 40000, family: 6, localAddress: '2001:db8::1', localPort: 3478 };

function server(opts: Partial<TurnServerOptions> = {}): TurnServer {
  let seed = 7;
  return new TurnServer({
    realm: REALM,
    users: new Map([['alice', 'secret']]),
    relayAddresses: { v4: '192.0.2.1', v6: '2001:db8::1' },
    minPort: 50000,
    maxPort: 50099,
    random: () => ((seed = (seed * 16807) % 2147483647) / 2147483647),
    nonces: new NonceIssuer(600, new Uint8Array(32)),
    ...opts,
  });
}

function response(actions: TurnAction[]): StunMessage {
  const send = actions.find((a) => a.kind === 'send');
  assert.ok(send && send.kind === 'send', `a response expected, got ${actions.map((a) => a.kind).join(',')}`);
  const r = decodeMessage(send.data);
  assert.ok(r.ok);
  return r.value;
}

const code = (m: StunMessage): number => {
  const e = getAttribute(m, Attr.ERROR_CODE);
  const r = e ? readErrorCode(e.value) : undefined;
  return r?.ok ? r.value.code : 0;
};

/** An Allocate signed by `user` after a 401 challenge; returns the server's actions. */
function allocate(s: TurnServer, t: ClientTuple, user: string, password: string, extra: [number, Uint8Array][] = []): TurnAction[] {
  const first = new MessageBuilder('request', Method.Allocate).add(Attr.REQUESTED_TRANSPORT, writeRequestedTransport(17)).build();
  const challenge = response(s.handleClient(t, first, 0));
  assert.equal(code(challenge), 401);
  const nonce = readString(getAttribute(challenge, Attr.NONCE)!.value);
  assert.ok(nonce.ok);
  const b = new MessageBuilder('request', Method.Allocate).add(Attr.REQUESTED_TRANSPORT, writeRequestedTransport(17));
  for (const [type, value] of extra) b.add(type, value);
  b.add(Attr.USERNAME, writeString(user)).add(Attr.REALM, writeString(REALM)).add(Attr.NONCE, writeString(nonce.value));
  return s.handleClient(t, b.integrity(longTermKey(user, REALM, password), nodeHmac).fingerprint().build(), 0);
}

test('text attributes keep a leading U+FEFF (a USERNAME starting with it authenticates)', () => {
  const bytes = new Uint8Array([0xef, 0xbb, 0xbf, 0x62, 0x6f, 0x62]);
  const r = readString(bytes);
  assert.ok(r.ok);
  assert.equal(r.value, '\ufeffbob');
  assert.deepEqual(writeString(r.value), bytes);
  const s = server({ users: new Map([['\ufeffbob', 'pw']]) });
  const actions = allocate(s, v4(), '\ufeffbob', 'pw');
  assert.ok(actions.some((a) => a.kind === 'bind-relay'), `the user was not recognized: ${actions.map((a) => (a.kind === 'send' ? code(response([a])) : a.kind)).join(',')}`);
});

test('RFC 5780 with an IPv4 alternate address: an IPv6 client gets a Binding answer without OTHER-ADDRESS, and 420 for CHANGE-REQUEST', () => {
  const s = server({ otherAddress: { address: '192.0.2.2', port: 3479 } });
  const plain = response(s.handleClient(v6, new MessageBuilder('request', Method.Binding).build(), 0));
  assert.equal(plain.cls, 'success');
  const mapped = readXorAddress(getAttribute(plain, Attr.XOR_MAPPED_ADDRESS)!.value, plain.transactionId);
  assert.ok(mapped.ok && mapped.value.address === '2001:db8::10');
  assert.equal(getAttribute(plain, Attr.OTHER_ADDRESS), undefined);
  const change = new MessageBuilder('request', Method.Binding).add(Attr.CHANGE_REQUEST, new Uint8Array([0, 0, 0, 6])).build();
  assert.equal(code(response(s.handleClient(v6, change, 0))), 420);
  // IPv4 clients still get the RFC 5780 attributes.
  const own = response(s.handleClient(v4(), new MessageBuilder('request', Method.Binding).build(), 0));
  assert.ok(getAttribute(own, Attr.OTHER_ADDRESS));
});

test('EVEN-PORT survives a relay bind retry: the new port is even, and the reservation follows it', () => {
  for (let round = 0; round < 20; round++) {
    const s = server({ minPort: 50000, maxPort: 50009 });
    const first = allocate(s, v4(), 'alice', 'secret', [[Attr.EVEN_PORT, writeEvenPort(true)]]).find((a) => a.kind === 'bind-relay');
    assert.ok(first?.kind === 'bind-relay');
    assert.equal(first.port % 2, 0);
    // The port was taken (EADDRINUSE): the server tries another, which must be even as well.
    const retry = s.relayBound(first.allocation, { ok: false, retry: true }, 0).find((a) => a.kind === 'bind-relay');
    assert.ok(retry?.kind === 'bind-relay', 'a retry');
    assert.equal(retry.port % 2, 0, `retried on odd port ${retry.port}`);
    const ok = response(s.relayBound(first.allocation, { ok: true }, 0));
    const token = getAttribute(ok, Attr.RESERVATION_TOKEN);
    assert.ok(token);
    const second = allocate(s, v4(40001), 'alice', 'secret', [[Attr.RESERVATION_TOKEN, token.value]]).find((a) => a.kind === 'bind-relay');
    assert.ok(second?.kind === 'bind-relay');
    assert.equal(second.port, retry.port + 1, 'the token claims the successor of the port actually bound');
  }
});

test('IPv6 text with more groups than `::` leaves room for is not an address (no RangeError from the parser)', () => {
  for (const text of ['2001:db:1234:567::ffff:8:11:212345233:41.2.3.45:6677', '1::2:3:4:5:6:7:8:9', '1:2:3:4::5:6:7:8', '::1:2:3:4:5:6:7:1.2.3.4']) {
    assert.equal(addressBytes(text), undefined, text);
  }
  assert.deepEqual(addressBytes('::1:2:3:4:5:6:7'), new Uint8Array([0, 0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7]));
  assert.throws(() => parseRange('1::2:3:4:5:6:7:8:9/64'), /is not an IP address/);
});
