/** The pure rules of WHIP/WHEP requests (RFC 9725): bearer tokens, content types, Link headers, PATCH kinds. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WhipError, bearerToken, fragmentKind, iceServerLinks, pathSegment, requireContentType } from '../src/http/whip-policy.js';

test('bearerToken takes "Bearer <token>" only (401 otherwise)', () => {
  assert.equal(bearerToken('Bearer abc.def.ghi'), 'abc.def.ghi');
  assert.equal(bearerToken('bearer  x '), 'x');
  for (const bad of [undefined, '', 'Basic dXNlcjpwYXNz', 'Bearer', 'Bearer a b']) {
    assert.throws(() => bearerToken(bad), (e: unknown) => e instanceof WhipError && e.status === 401, String(bad));
  }
});

test('requireContentType: media type only, parameters and case ignored (415 otherwise)', () => {
  requireContentType('application/sdp', 'application/sdp');
  requireContentType('Application/SDP; charset=utf-8', 'application/sdp');
  assert.throws(() => requireContentType(undefined, 'application/sdp'), /Content-Type: expected application\/sdp, got none/);
  assert.throws(() => requireContentType('application/json', 'application/sdp'), (e: unknown) => e instanceof WhipError && e.status === 415);
});

test('iceServerLinks: one Link per URL, TURN credentials quoted (RFC 9725 §4.6)', () => {
  const links = iceServerLinks([{ urls: 'stun:127.0.0.1:3478' }, { urls: ['turn:127.0.0.1:3478?transport=udp', 'turns:t.example:443?transport=tcp'], username: '17:ann', credential: 'a"b\\c' }, { urls: 'stun:bad url' }]);
  assert.deepEqual(links, [
    '<stun:127.0.0.1:3478>; rel="ice-server"',
    '<turn:127.0.0.1:3478?transport=udp>; rel="ice-server"; username="17:ann"; credential="a\\"b\\\\c"; credential-type="password"',
    '<turns:t.example:443?transport=tcp>; rel="ice-server"; username="17:ann"; credential="a\\"b\\\\c"; credential-type="password"',
  ]);
});

test('fragmentKind: a new ufrag is an ICE restart, anything else trickle', () => {
  assert.equal(fragmentKind('a=ice-ufrag:new\r\na=ice-pwd:p\r\n', 'old'), 'restart');
  assert.equal(fragmentKind('a=ice-ufrag:old\r\na=mid:0\r\na=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n', 'old'), 'trickle');
  assert.equal(fragmentKind('a=mid:0\r\na=end-of-candidates\r\n', 'old'), 'trickle');
});

test('pathSegment: decoded, 1 to 128 characters, 400 otherwise', () => {
  assert.equal(pathSegment('cam%201', 'identity'), 'cam 1');
  assert.throws(() => pathSegment('%E0%A4%A', 'identity'), (e: unknown) => e instanceof WhipError && e.status === 400);
  assert.throws(() => pathSegment('', 'identity'), /identity: 1 to 128/);
  assert.throws(() => pathSegment('x'.repeat(129), 'session'), /session: 1 to 128/);
});
