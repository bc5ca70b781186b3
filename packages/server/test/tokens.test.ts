import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { ErrorCode, SignalingError } from '@dari/protocol';
import { mintToken, verifyToken, parseDurationS } from '../src/tokens.js';

const KEY = 'k1';
const SECRET = 'a-secret-of-at-least-thirty-two-characters';
const keys = new Map([[KEY, SECRET]]);

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof SignalingError && err.code === code);
}

test('a minted token verifies with its claims and grants', async () => {
  const now = Date.UTC(2026, 0, 1);
  const jwt = await mintToken({ apiKey: KEY, apiSecret: SECRET, room: 'r', identity: 'alice', name: 'Alice', ttlS: 3600, grants: { canPublish: false }, now });
  const claims = await verifyToken(jwt, keys, now + 1000);
  assert.equal(claims.room, 'r');
  assert.equal(claims.sub, 'alice');
  assert.equal(claims.name, 'Alice');
  assert.equal(claims.iss, KEY);
  assert.equal(claims.exp, now / 1000 + 3600);
  assert.deepEqual(claims.grants, { canPublish: false });
});

test('missing token is TOKEN_MISSING', async () => {
  await rejectsWith(verifyToken(undefined, keys), ErrorCode.TOKEN_MISSING);
  await rejectsWith(verifyToken('', keys), ErrorCode.TOKEN_MISSING);
});

test('expired token is TOKEN_EXPIRED', async () => {
  const now = Date.UTC(2026, 0, 1);
  const jwt = await mintToken({ apiKey: KEY, apiSecret: SECRET, room: 'r', identity: 'a', ttlS: 60, now });
  await rejectsWith(verifyToken(jwt, keys, now + 61_000), ErrorCode.TOKEN_EXPIRED);
});

test('a token signed with another secret is TOKEN_INVALID', async () => {
  const jwt = await mintToken({ apiKey: KEY, apiSecret: 'another-secret-of-at-least-thirty-two-chars', room: 'r', identity: 'a' });
  await rejectsWith(verifyToken(jwt, keys), ErrorCode.TOKEN_INVALID);
});

test('a token from an unknown API key is TOKEN_INVALID', async () => {
  const jwt = await mintToken({ apiKey: 'other', apiSecret: SECRET, room: 'r', identity: 'a' });
  await rejectsWith(verifyToken(jwt, keys), ErrorCode.TOKEN_INVALID);
});

test('garbage and alg=none tokens are TOKEN_INVALID', async () => {
  await rejectsWith(verifyToken('not-a-jwt', keys), ErrorCode.TOKEN_INVALID);
  const header = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
  const body = Buffer.from(JSON.stringify({ iss: KEY, sub: 'a', room: 'r', exp: 9e9 })).toString('base64url');
  await rejectsWith(verifyToken(`${header}.${body}.`, keys), ErrorCode.TOKEN_INVALID);
});

test('a validly signed token without a room claim is TOKEN_INVALID', async () => {
  const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer(KEY).setSubject('a').setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
  await rejectsWith(verifyToken(jwt, keys), ErrorCode.TOKEN_INVALID);
});

test('durations parse to seconds and bad ones throw RangeError', () => {
  assert.equal(parseDurationS('90'), 90);
  assert.equal(parseDurationS('90s'), 90);
  assert.equal(parseDurationS('30m'), 1800);
  assert.equal(parseDurationS('1h'), 3600);
  assert.equal(parseDurationS('2d'), 172800);
  assert.throws(() => parseDurationS('1w'), RangeError);
  assert.throws(() => parseDurationS('0'), RangeError);
  assert.throws(() => parseDurationS(''), RangeError);
});
