/** HTTPS and WSS with a configured certificate (a self-signed one made by openssl for the test). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { get } from 'node:https';
import { once } from 'node:events';
import WebSocket from 'ws';
import { ConfigError } from '../src/config.js';
import { devToken, testServer } from './helpers.js';

function selfSigned(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'dari-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}

test('with a certificate, Dari serves HTTPS and WSS', async () => {
  const tls = selfSigned();
  const server = await testServer({ tls });
  try {
    assert.match(server.url, /^https:/);
    assert.match(server.wsUrl, /^wss:/);
    const status = await new Promise<number>((resolve, reject) => {
      get(`${server.url}/healthz`, { rejectUnauthorized: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    assert.equal(status, 200);
    const ws = new WebSocket(server.wsUrl, { rejectUnauthorized: false });
    await once(ws, 'open');
    ws.send(JSON.stringify({ type: 'join', v: 1, token: await devToken('tls', 'alice') }));
    const [data] = await once(ws, 'message');
    assert.equal(JSON.parse(String(data)).type, 'joined');
    ws.close();
  } finally {
    await server.close();
  }
});

test('an unreadable certificate is a config error naming tls.cert', async () => {
  await assert.rejects(testServer({ tls: { cert: '/nonexistent.pem', key: '/nonexistent.key' } }), (err: unknown) => err instanceof ConfigError && err.key === 'tls.cert');
});
