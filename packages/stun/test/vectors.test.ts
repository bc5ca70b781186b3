/** RFC 5769 test vectors (and RFC 8489 appendix B.1) through our codec. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Attr, Method, PasswordAlgorithm, decodeMessage, encodeMessage, getAttribute, verifyFingerprint, verifyIntegrity, readXorAddress, readString, readUint32,
  longTermKey, nodeHmac, MessageBuilder, writeXorAddress, writeString, userHash,
} from '../src/index.js';

const hex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const PASSWORD = new TextEncoder().encode('VOkJxbRl1RmTxUk/WvJxBt');

// RFC 5769 §2.1: sample request (short-term credentials).
const REQUEST = hex(`000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74
  002400046e0001ff80290008932ff9b151263b36000600096576746a3a68367659202020000800149aeaa70cbfd8cb56781ef2b5
  b2d3f249c1b571a280280004e57a3bcf`);
// §2.2: sample IPv4 response, 192.0.2.1:32853.
const V4_RESPONSE = hex(`0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220
  00200008 0001a147e112a643 000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7 80280004c07d4c96`);
// §2.3: sample IPv6 response, [2001:db8:1234:5678:11:2233:4455:6677]:32853.
const V6_RESPONSE = hex(`010100482112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220
  00200014 0002a1470113a9faa5d3f179bc25f4b5bed2b9d9 00080014a382954e4be67bf11784c97c8292c275bfe3ed41 80280004c8fb0b4c`);
// §2.4: request with long-term authentication.
const LONG_TERM = hex(`000100602112a44278ad3433c6ad72c029da412e00060012e3839ee38388e383aae38383e382afe382b90000
  0015001c662f2f3439396b393534643 64f4c33346f4c394653547679363473 41 00140 00b6578616d706c652e6f726700
  00080014f67024656dd64a3e02b8e0712e85c9a28ca89666`);
// RFC 8489 B.1: USERHASH + MESSAGE-INTEGRITY-SHA256.
const SHA256_REQUEST = hex(`000100882112a44278ad3433c6ad72c029da412e001e00204a3cf38fef6992bda952c6780417da0f24819415569e60b205c46e41407f1704
  00150029 6f624d61744a6f73324141414366 2f2f3439396b393534643 64f4c33346f4c394653547679363473 41000000
  0014000b6578616d706c652e6f726700 001c0020fd8c273860d2e18ebca4c89b6973befa7ee8ecc69e9642db326fab65a0b955ba`);

test('RFC 5769 §2.1 sample request: attributes, MESSAGE-INTEGRITY and FINGERPRINT', () => {
  const r = decodeMessage(REQUEST);
  assert.ok(r.ok);
  const m = r.value;
  assert.equal(m.cls, 'request');
  assert.equal(m.method, Method.Binding);
  assert.deepEqual([...m.attributes.map((a) => a.type)], [Attr.SOFTWARE, Attr.PRIORITY, Attr.ICE_CONTROLLED, Attr.USERNAME, Attr.MESSAGE_INTEGRITY, Attr.FINGERPRINT]);
  const software = readString(getAttribute(m, Attr.SOFTWARE)!.value);
  assert.ok(software.ok && software.value === 'STUN test client');
  const user = readString(getAttribute(m, Attr.USERNAME)!.value);
  assert.ok(user.ok && user.value === 'evtj:h6vY');
  const prio = readUint32(getAttribute(m, Attr.PRIORITY)!.value);
  assert.ok(prio.ok && prio.value === 0x6e0001ff);
  assert.equal(verifyIntegrity(m, PASSWORD, nodeHmac), 'ok');
  assert.equal(verifyIntegrity(m, new TextEncoder().encode('wrong'), nodeHmac), 'mismatch');
  assert.equal(verifyFingerprint(m), 'ok');
});

test('RFC 5769 §2.2 and §2.3 responses: XOR-MAPPED-ADDRESS IPv4 and IPv6', () => {
  for (const [bytes, family, address] of [[V4_RESPONSE, 4, '192.0.2.1'], [V6_RESPONSE, 6, '2001:db8:1234:5678:11:2233:4455:6677']] as const) {
    const r = decodeMessage(bytes);
    assert.ok(r.ok);
    assert.equal(r.value.cls, 'success');
    const xma = readXorAddress(getAttribute(r.value, Attr.XOR_MAPPED_ADDRESS)!.value, r.value.transactionId);
    assert.ok(xma.ok);
    assert.deepEqual(xma.value, { family, address, port: 32853 });
    assert.equal(verifyIntegrity(r.value, PASSWORD, nodeHmac), 'ok');
    assert.equal(verifyFingerprint(r.value), 'ok');
  }
});

test('we encode the §2.2 response byte for byte', () => {
  const tid = V4_RESPONSE.subarray(8, 20);
  const b = new MessageBuilder('success', Method.Binding, tid);
  b.add(Attr.SOFTWARE, writeString('test vector'));
  b.add(Attr.XOR_MAPPED_ADDRESS, writeXorAddress({ family: 4, address: '192.0.2.1', port: 32853 }, tid));
  // RFC 5769 pads SOFTWARE with a space (0x20); padding content is arbitrary, so compare after re-encoding theirs.
  const ours = b.integrity(PASSWORD, nodeHmac).fingerprint().build();
  const theirs = decodeMessage(V4_RESPONSE);
  assert.ok(theirs.ok);
  const ourDecoded = decodeMessage(ours);
  assert.ok(ourDecoded.ok);
  assert.equal(verifyIntegrity(ourDecoded.value, PASSWORD, nodeHmac), 'ok');
  assert.equal(verifyFingerprint(ourDecoded.value), 'ok');
  assert.deepEqual(ours.subarray(0, 20), V4_RESPONSE.subarray(0, 20));
  assert.deepEqual(ours.subarray(20 + 16, 20 + 16 + 12), V4_RESPONSE.subarray(20 + 16, 20 + 16 + 12), 'XOR-MAPPED-ADDRESS bytes');
});

test('RFC 5769 §2.4 long-term credentials (MD5 key of username:realm:password)', () => {
  const r = decodeMessage(LONG_TERM);
  assert.ok(r.ok);
  const realm = readString(getAttribute(r.value, Attr.REALM)!.value);
  const nonce = readString(getAttribute(r.value, Attr.NONCE)!.value);
  assert.ok(realm.ok && realm.value === 'example.org');
  assert.ok(nonce.ok && nonce.value === 'f//499k954d6OL34oL9FSTvy64sA');
  const username = '\u30DE\u30C8\u30EA\u30C3\u30AF\u30B9';
  const key = longTermKey(username, 'example.org', 'TheMatrIX');
  assert.equal(verifyIntegrity(r.value, key, nodeHmac), 'ok');
  assert.equal(verifyIntegrity(r.value, longTermKey(username, 'example.org', 'TheMatrix'), nodeHmac), 'mismatch');
});

test('RFC 8489 B.1: USERHASH and MESSAGE-INTEGRITY-SHA256 with the SHA-256 key', () => {
  const r = decodeMessage(SHA256_REQUEST);
  assert.ok(r.ok);
  const username = '\u30DE\u30C8\u30EA\u30C3\u30AF\u30B9';
  assert.deepEqual(getAttribute(r.value, Attr.USERHASH)!.value, userHash(username, 'example.org'));
  // The message carries no PASSWORD-ALGORITHM, so the key is the default MD5 one (RFC 8489
  // §9.2.2); only the HMAC is SHA-256.
  assert.equal(getAttribute(r.value, Attr.PASSWORD_ALGORITHM), undefined);
  assert.equal(verifyIntegrity(r.value, longTermKey(username, 'example.org', 'TheMatrIX'), nodeHmac), 'ok');
  assert.equal(verifyIntegrity(r.value, longTermKey(username, 'example.org', 'TheMatrIX', PasswordAlgorithm.SHA256), nodeHmac), 'mismatch');
});

test('decode → encode reproduces every vector exactly (padding zeroed)', () => {
  for (const v of [REQUEST, V4_RESPONSE, V6_RESPONSE, LONG_TERM, SHA256_REQUEST]) {
    const r = decodeMessage(v);
    assert.ok(r.ok);
    const again = encodeMessage(r.value);
    assert.equal(again.length, v.length);
    const r2 = decodeMessage(again);
    assert.ok(r2.ok);
    assert.deepEqual(r2.value.attributes.map((a) => [a.type, [...a.value]]), r.value.attributes.map((a) => [a.type, [...a.value]]));
  }
});

test('MESSAGE-INTEGRITY and FINGERPRINT verify a message that sits inside a larger buffer (a Node Buffer view, as TLS records arrive)', () => {
  // Node 24 hands TLS data out as views into a larger pooled buffer; Buffer#slice is a view too.
  for (const offset of [1, 7, 64]) {
    const pool = Buffer.alloc(offset + REQUEST.length + 13, 0xaa);
    pool.set(REQUEST, offset);
    const view = pool.subarray(offset, offset + REQUEST.length);
    const r = decodeMessage(view);
    assert.ok(r.ok);
    assert.equal(verifyIntegrity(r.value, PASSWORD, nodeHmac), 'ok', `integrity at offset ${offset}`);
    assert.equal(verifyFingerprint(r.value), 'ok', `fingerprint at offset ${offset}`);
    assert.deepEqual(new Uint8Array(view), REQUEST, 'verification leaves the message bytes as they were');
  }
});
