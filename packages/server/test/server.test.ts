import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { ErrorCode } from '@dari/protocol';
import type { RunningServer } from '../src/serve.js';
import { Client, devToken, testServer } from './helpers.js';
import { mintToken, verifyToken } from '../src/tokens.js';

let server: RunningServer;
before(async () => {
  server = await testServer({ signaling: { maxViolations: 5, reconnectGraceMs: 2000 } });
});
after(() => server.close());

test('GET /healthz is 200 and /metrics is Prometheus text', async () => {
  const h = await fetch(`${server.url}/healthz`);
  assert.equal(h.status, 200);
  const m = await fetch(`${server.url}/metrics`);
  assert.equal(m.status, 200);
  const text = await m.text();
  assert.match(text, /^dari_participants \d+$/m);
  assert.match(text, /^dari_signaling_connections \d+$/m);
});

test('two clients join, relay offer/answer and candidates, and exchange signals', async () => {
  const { client: a } = await Client.join(server, 'relay', 'alice');
  const { client: b, joined } = await Client.join(server, 'relay', 'bob');
  assert.deepEqual(joined.participants.map((p) => p.identity), ['alice']);
  await a.next((m) => m.type === 'participant-joined');
  b.send({ type: 'sdp', to: 'alice', description: { type: 'offer', sdp: 'v=0\r\n' } });
  const offer = await a.next((m) => m.type === 'sdp');
  assert.ok(offer.type === 'sdp' && offer.from === 'bob' && offer.description.type === 'offer');
  a.send({ type: 'sdp', to: 'bob', description: { type: 'answer', sdp: 'v=0\r\n' } });
  a.send({ type: 'candidate', to: 'bob', candidate: { candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 } });
  assert.equal((await b.next((m) => m.type === 'sdp')).type, 'sdp');
  assert.equal((await b.next((m) => m.type === 'candidate')).type, 'candidate');
  b.send({ type: 'signal', signal: { type: 'chat', data: 'hello', to: [] } });
  for (const c of [a, b]) {
    const s = await c.next((m) => m.type === 'signal');
    assert.ok(s.type === 'signal' && s.signal.data === 'hello' && s.signal.from === 'bob');
  }
  a.close();
  b.close();
});

test('bad frames over a real socket get typed errors; abuse closes with 1008; others keep going', async () => {
  const { client: victim } = await Client.join(server, 'abuse', 'victim');
  const { client: bad } = await Client.join(server, 'abuse', 'bad');
  await victim.next((m) => m.type === 'participant-joined');
  bad.send('{"type":');
  await bad.error(ErrorCode.BAD_JSON);
  bad.send({ type: 'nope' });
  await bad.error(ErrorCode.UNKNOWN_TYPE);
  bad.send({ type: 'signal', signal: { type: 'x', data: 'y'.repeat(70 * 1024) } });
  await bad.error(ErrorCode.MESSAGE_TOO_LARGE);
  bad.send({ type: 'signal', signal: { type: 'x', to: ['ghost'] } });
  await bad.error(ErrorCode.TARGET_NOT_FOUND);
  bad.send({ type: 'sdp', to: 'ghost', description: { type: 'offer', sdp: 'v=0' } });
  await bad.error(ErrorCode.TARGET_NOT_FOUND);
  assert.equal(bad.closeCode, null);
  bad.send('x');
  assert.equal(await bad.closed, 1008);
  // The victim's session is intact: it can still signal itself, and sees bad as reconnecting.
  victim.send({ type: 'signal', signal: { type: 'ping-self', to: ['victim'] } });
  assert.equal((await victim.next((m) => m.type === 'signal')).type, 'signal');
  victim.close();
});

test('a binary frame larger than the hard cap closes only that connection (1009)', async () => {
  const { client: ok } = await Client.join(server, 'huge', 'ok');
  const { client: big } = await Client.join(server, 'huge', 'big');
  big.send(Buffer.alloc(2 * 1024 * 1024, 0x61));
  assert.equal(await big.closed, 1009);
  ok.send({ type: 'ping', ts: 1 });
  assert.equal((await ok.next((m) => m.type === 'pong')).type, 'pong');
  ok.close();
});

test('a flood over the rate limit gets RATE_LIMITED', async () => {
  const { client } = await Client.join(server, 'flood', 'flooder');
  for (let i = 0; i < 300; i++) client.send({ type: 'ping', ts: i });
  await client.error(ErrorCode.RATE_LIMITED);
  client.close();
});

test('missing, expired, badly signed and wrong-room tokens are refused with their codes', async () => {
  const cases: [string, unknown][] = [
    [ErrorCode.INVALID_MESSAGE, { type: 'join', v: 1 }],
    [ErrorCode.TOKEN_EXPIRED, { type: 'join', v: 1, token: await devToken('t', 'a', { ttlS: 1, now: Date.now() - 60_000 }) }],
    [ErrorCode.TOKEN_INVALID, { type: 'join', v: 1, token: await mintToken({ apiKey: 'devkey', apiSecret: 'x'.repeat(40), room: 't', identity: 'a' }) }],
    [ErrorCode.ROOM_MISMATCH, { type: 'join', v: 1, room: 'other', token: await devToken('t', 'a') }],
  ];
  for (const [code, msg] of cases) {
    const c = await Client.open(server.wsUrl);
    c.send(msg);
    const err = await c.error(code);
    assert.equal(err.type, 'error');
    if (code !== ErrorCode.INVALID_MESSAGE) assert.equal(await c.closed, 4001, code);
    else c.close();
  }
});

test('a reconnect within the grace period resumes the same session', async () => {
  const { client: a, joined } = await Client.join(server, 'resume', 'alice');
  const { client: b } = await Client.join(server, 'resume', 'bob');
  a.ws.terminate();
  const upd = await b.next((m) => m.type === 'participant-updated');
  assert.ok(upd.type === 'participant-updated' && upd.participant.state === 'reconnecting');
  b.send({ type: 'signal', signal: { type: 'chat', data: 'missed you', to: ['alice'] } });
  const { client: a2, joined: again } = await Client.join(server, 'resume', 'alice', { resume: { sid: joined.participant.sid } });
  assert.equal(again.resumed, true);
  assert.equal(again.participant.sid, joined.participant.sid);
  const s = await a2.next((m) => m.type === 'signal');
  assert.ok(s.type === 'signal' && s.signal.data === 'missed you');
  assert.ok(!b.messages.some((m) => m.type === 'participant-left'));
  a2.close();
  b.close();
});

test('a dropped participant that does not come back leaves after the grace period', async () => {
  const { client: a } = await Client.join(server, 'grace', 'alice');
  const { client: b } = await Client.join(server, 'grace', 'bob');
  a.ws.terminate();
  const left = await b.next((m) => m.type === 'participant-left', 6000);
  assert.ok(left.type === 'participant-left' && left.reason === 'disconnected');
  b.close();
});

test('a second tab with the same identity replaces the first', async () => {
  const { client: first } = await Client.join(server, 'tabs', 'alice');
  const { client: other } = await Client.join(server, 'tabs', 'bob');
  const { client: second } = await Client.join(server, 'tabs', 'alice');
  assert.equal(await first.closed, 4000);
  assert.ok(first.messages.some((m) => m.type === 'closing' && m.reason === 'replaced'));
  const left = await other.next((m) => m.type === 'participant-left');
  assert.ok(left.type === 'participant-left' && left.reason === 'replaced');
  await other.next((m) => m.type === 'participant-joined');
  second.close();
  other.close();
});

test('POST /api/token needs the API key and secret and mints a verifiable token', async () => {
  const body = JSON.stringify({ room: 'api', identity: 'svc', name: 'Service', ttl: '10m', grants: { canPublish: false } });
  const noAuth = await fetch(`${server.url}/api/token`, { method: 'POST', body });
  assert.equal(noAuth.status, 401);
  const wrong = await fetch(`${server.url}/api/token`, { method: 'POST', body, headers: { authorization: `Basic ${Buffer.from('devkey:nope').toString('base64')}` } });
  assert.equal(wrong.status, 401);
  const auth = { authorization: `Basic ${Buffer.from('devkey:dari-dev-secret-not-for-production-use').toString('base64')}` };
  const bad = await fetch(`${server.url}/api/token`, { method: 'POST', body: '{"room":', headers: auth });
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'BAD_JSON');
  const invalid = await fetch(`${server.url}/api/token`, { method: 'POST', body: JSON.stringify({ room: 'x' }), headers: auth });
  assert.equal(invalid.status, 400);
  const ok = await fetch(`${server.url}/api/token`, { method: 'POST', body, headers: auth });
  assert.equal(ok.status, 200);
  const { token } = (await ok.json()) as { token: string };
  const claims = await verifyToken(token, new Map([['devkey', 'dari-dev-secret-not-for-production-use']]));
  assert.equal(claims.room, 'api');
  assert.equal(claims.grants?.canPublish, false);
  assert.ok(claims.exp - Date.now() / 1000 <= 600);
});

test('the dev token endpoint works in dev mode and is off with real keys', async () => {
  const r = await fetch(`${server.url}/api/dev/token?room=dev&identity=a&name=A`);
  assert.equal(r.status, 200);
  const keyed = await testServer({ keys: { prod: 'a-production-secret-that-is-long-enough' } });
  try {
    const off = await fetch(`${keyed.url}/api/dev/token?room=dev&identity=a`);
    assert.equal(off.status, 404);
    // A dev token does not open a server with real keys.
    const c = await Client.open(keyed.wsUrl);
    c.send({ type: 'join', v: 1, token: await devToken('r', 'a') });
    await c.error(ErrorCode.TOKEN_INVALID);
  } finally {
    await keyed.close();
  }
});

test('shutdown tells connected clients and closes them with 1001', async () => {
  const own = await testServer();
  const { client } = await Client.join(own, 'bye', 'alice');
  await own.close();
  assert.equal(await client.closed, 1001);
  assert.ok(client.messages.some((m) => m.type === 'closing' && m.reason === 'server-shutdown'));
});

test('an upgrade on another path is refused', async () => {
  const ws = new WebSocket(server.url.replace('http', 'ws') + '/elsewhere');
  const err = await new Promise<Error>((resolve) => ws.on('error', resolve));
  assert.ok(err);
});

test('the join hands out the embedded STUN/TURN server with working REST credentials', async () => {
  const { restPassword } = await import('@dari/stun');
  const own = await testServer({ turn: { port: 0, secret: 'a-known-turn-secret' } });
  try {
    const { client, joined } = await Client.join(own, 'ice', 'alice');
    const port = own.turn!.service.endpoints.find((e) => e.protocol === 'udp')!.port;
    const stun = joined.iceServers.find((s) => String(s.urls).startsWith('stun:'));
    assert.equal(stun?.urls, `stun:127.0.0.1:${port}`);
    const turn = joined.iceServers.find((s) => Array.isArray(s.urls) && s.urls.some((u) => u.startsWith('turn:')))!;
    assert.deepEqual(turn.urls, [`turn:127.0.0.1:${port}?transport=udp`, `turn:127.0.0.1:${port}?transport=tcp`]);
    const [expiry, user] = turn.username!.split(':');
    assert.equal(user, 'alice');
    assert.ok(Math.abs(Number(expiry) - (Date.now() / 1000 + 3600)) < 60, 'default TTL 3600 s');
    assert.equal(turn.credential, restPassword('a-known-turn-secret', turn.username!));
    const metrics = await (await fetch(`${own.url}/metrics`)).text();
    assert.match(metrics, /^dari_turn_allocations 0$/m);
    client.close();
  } finally {
    await own.close();
  }
});
