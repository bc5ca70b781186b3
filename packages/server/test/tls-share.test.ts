/**
 * TURN over TLS sharing the HTTPS port (`turn.tlsPort` = `port`), for networks that let only
 * TCP 443 out: HTTPS, WSS signaling and TURN over TLS answer on one listener, told apart by ALPN
 * or by the first byte after the handshake. Real sockets and a self-signed certificate; the NAT
 * lab (lab/test/tls443.test.ts) runs Chromium behind a firewall that opens only 443.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, get, type Server as HttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import WebSocket from 'ws';
import { TurnClient } from '@dari/testkit';
import { ConfigError } from '../src/config.js';
import { isStunFirstByte } from '../src/http/tls-share.js';
import { natCheck } from '../src/nat-check/run.js';
import { devToken, testServer } from './helpers.js';

function selfSigned(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}

let httpsOnly: HttpsServer | undefined;
/** A plain HTTPS server (no TURN) on an ephemeral port, closed after the tests. */
async function httpsOnlyPort(dir: string): Promise<number> {
  const { cert, key } = selfSigned(dir);
  httpsOnly = createHttpsServer({ cert: readFileSync(cert), key: readFileSync(key) }, (_req, res) => res.end('ok'));
  await new Promise<void>((r) => httpsOnly!.listen(0, '127.0.0.1', r));
  return (httpsOnly.address() as { port: number }).port;
}
after(() => httpsOnly?.close());

function healthz(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(`${url}/healthz`, { rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

const PATHS = (process.env.DARI_TURN_PATHS ?? 'native,typescript').split(',') as ('native' | 'typescript')[];

for (const path of PATHS) test(`turn.tlsPort = port: HTTPS, WSS and TURN over TLS on one port; the embedded TURN server on 2 worker threads, ${path} path`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dari-tls-share-'));
  const tls = selfSigned(dir);
  // Port 0 for both: one ephemeral port, shared.
  const server = await testServer({ tls, turn: { port: 0, tlsPort: 0, workers: 2, fastPath: path } });
  const udpClients: TurnClient[] = [];
  try {
    const port = Number(new URL(server.url).port);
    assert.equal(server.turn!.service.workers, 2, 'dari serve shards its TURN server like dari turn');
    assert.equal(server.turn!.service.fastPath, path);
    assert.equal(await healthz(server.url), 200, 'HTTPS answers');
    const ws = new WebSocket(server.wsUrl, { rejectUnauthorized: false });
    await once(ws, 'open');
    ws.send(JSON.stringify({ type: 'join', v: 1, token: await devToken('tls443', 'alice') }));
    const [data] = await once(ws, 'message');
    const joined = JSON.parse(String(data)) as { type: string; iceServers: { urls: string | string[]; username?: string; credential?: string }[] };
    assert.equal(joined.type, 'joined', 'WSS signaling on the same port');
    const turn = joined.iceServers.find((s) => s.username !== undefined)!;
    assert.ok([turn.urls].flat().includes(`turns:127.0.0.1:${port}?transport=tcp`), `turns: URL on the HTTPS port: ${JSON.stringify(turn.urls)}`);
    const creds = { username: turn.username!, password: turn.credential! };
    assert.equal(server.turn!.service.endpoints.filter((e) => e.protocol === 'tls').length, 1, 'no TLS listener of its own');

    // A browser's TURN client: no ALPN, an Allocate first.
    const plain = await TurnClient.tls({ address: '127.0.0.1', port });
    assert.equal(plain.alpn, false);
    const a = await plain.allocate(creds);
    assert.ok(a.ok && a.relay, `allocation over TLS on the HTTPS port: ${JSON.stringify(a)}`);
    assert.equal((await plain.binding())?.address, '127.0.0.1', 'Binding over the same connection: XOR-MAPPED-ADDRESS');
    // RFC 7443 ALPN.
    const alpn = await TurnClient.tls({ address: '127.0.0.1', port }, { ALPNProtocols: ['stun.turn'] });
    assert.equal(alpn.alpn, 'stun.turn');
    assert.ok((await alpn.allocate(creds)).ok);
    assert.equal((await server.turn!.service.snapshot()).allocations, 2);
    // UDP clients reach the workers (SO_REUSEPORT), with the same credentials; the TLS ones are
    // served in the main thread; /metrics' figures are the sum.
    const udpPort = server.turn!.service.endpoints.find((e) => e.protocol === 'udp')!.port;
    for (let i = 0; i < 8; i++) {
      const c = await TurnClient.udp({ address: '127.0.0.1', port: udpPort });
      udpClients.push(c);
      const r = await c.allocate(creds);
      assert.ok(r.ok && r.relay, `UDP allocation ${i}: ${JSON.stringify(r)}`);
    }
    const snap = await server.turn!.service.snapshot();
    assert.equal(snap.allocations, 10, 'allocations summed over the workers and the main thread');
    assert.deepEqual(snap.workers, { native: path === 'native' ? 2 : 0, typescript: path === 'typescript' ? 2 : 0 });

    // A STUN-looking frame that is not STUN (no magic cookie) goes to TURN, which ignores it with a reason.
    const ignoredNow = async () => Object.values((await server.turn!.service.snapshot()).counters.ignored).reduce((a, b) => a + b, 0);
    const ignoredBefore = await ignoredNow();
    const junk = connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    await once(junk, 'secureConnect');
    junk.write(Buffer.from([0x00, 0x01, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef, ...new Array(12).fill(0)]));
    const deadline = Date.now() + 5000;
    while ((await ignoredNow()) === ignoredBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const { ignored } = (await server.turn!.service.snapshot()).counters;
    assert.equal(ignored['not-stun'] + ignored.malformed > 0, true, 'ignored as not STUN');
    junk.destroy();
    // Neither STUN nor an HTTP method: the HTTP server answers 400 and closes.
    const garbage = connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    await once(garbage, 'secureConnect');
    let answer = '';
    garbage.on('data', (d) => (answer += d));
    garbage.write('\x80\x81 not a request\r\n\r\n');
    await once(garbage, 'close');
    assert.match(answer, /^HTTP\/1\.1 400/);
    assert.equal(await healthz(server.url), 200, 'HTTPS goes on');
    plain.close();
    alpn.close();
    ws.close();
    if (path !== PATHS[0]) return; // nat-check is the same whatever the path
    // nat-check, with UDP and TCP to the STUN port refused: STUN over TLS on the shared port answers.
    const closed = Number(new URL(server.url).port) === 9 ? 10 : 9; // discard: nothing listens on loopback
    const report = await natCheck({ address: '127.0.0.1', port: closed }, 50, { port });
    assert.equal(report.outlook, 'turn-tls-needed', JSON.stringify(report));
    assert.equal(report.tls, 'stun');
    // Against a plain HTTPS server that does not share the port: TLS answers, STUN does not.
    const https = await natCheck({ address: '127.0.0.1', port: closed }, 50, { port: await httpsOnlyPort(dir) });
    assert.equal(https.tls, 'tls-only');
    assert.match(https.verdict, /set turn\.tlsPort/);
  } finally {
    for (const c of udpClients) c.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sharing the port: the first byte tells STUN from HTTP', () => {
  for (const b of [0x00, 0x01, 0x3f]) assert.equal(isStunFirstByte(b), true);
  for (const c of 'GPHDOCT') assert.equal(isStunFirstByte(c.charCodeAt(0)), false, c);
  assert.equal(isStunFirstByte(0x40), false, 'ChannelData never opens a connection');
});

test('turn.tlsPort = port needs HTTPS, and uses its certificate', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dari-tls-share-'));
  const tls = selfSigned(dir);
  try {
    await assert.rejects(testServer({ port: 5443, turn: { tlsPort: 5443, tls } }), (err: unknown) => err instanceof ConfigError && err.key === 'turn.tlsPort' && /plain HTTP/.test(err.message));
    await assert.rejects(testServer({ port: 5443, tls, turn: { tlsPort: 5443, tls } }), (err: unknown) => err instanceof ConfigError && err.key === 'turn.tls' && /remove turn\.tls/.test(err.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
