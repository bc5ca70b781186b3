/**
 * `dari turn` sharded over worker threads (SO_REUSEPORT listeners, one per worker), on both UDP
 * data paths: the kernel spreads client 5-tuples over the workers, each allocation lives in one,
 * quotas hold across them, TURN REST credentials and nonces work in every one, and /metrics
 * sums them.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import {
  Attr, MessageBuilder, Method, decodeMessage, getAttribute, longTermKey, nodeHmac, readErrorCode, readString, restCredentials, writeRequestedTransport,
  writeString, type StunMessage,
} from '@dari/stun';
import { freeUdpPort, metric, startTurn } from './turn-process.js';

const PATHS = (process.env.DARI_TURN_PATHS ?? 'native,typescript').split(',');

/** One client 5-tuple: a UDP socket that sends requests and waits for their answers. */
async function client(port: number): Promise<{ socket: Socket; transact(b: MessageBuilder): Promise<StunMessage> }> {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  const waiting = new Map<string, (m: StunMessage) => void>();
  socket.on('message', (msg) => {
    const r = decodeMessage(msg);
    if (r.ok) waiting.get(Buffer.from(r.value.transactionId).toString('hex'))?.(r.value);
  });
  return {
    socket,
    transact(b) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no answer in 3 s')), 3000);
        waiting.set(Buffer.from(b.transactionId).toString('hex'), (m) => {
          clearTimeout(timer);
          resolve(m);
        });
        socket.send(b.build(), port, '127.0.0.1');
      });
    },
  };
}

const allocate = () => new MessageBuilder('request', Method.Allocate).add(Attr.REQUESTED_TRANSPORT, writeRequestedTransport(17));
const errorCode = (m: StunMessage) => {
  const e = getAttribute(m, Attr.ERROR_CODE);
  const r = e ? readErrorCode(e.value) : undefined;
  return r?.ok ? r.value.code : 0;
};

/** Allocate from `n` client 5-tuples at once; TURN REST credentials when a secret is given. @returns each final answer's error code (0 = success) */
async function allocateFrom(port: number, n: number, restSecret?: string): Promise<number[]> {
  const clients = await Promise.all(Array.from({ length: n }, () => client(port)));
  try {
    return await Promise.all(
      clients.map(async (c, i) => {
        let answer = await c.transact(allocate());
        if (restSecret !== undefined && errorCode(answer) === 401) {
          const { username, password } = restCredentials(restSecret, `user${i}`, 600);
          const nonce = (readString(getAttribute(answer, Attr.NONCE)!.value) as { value: string }).value;
          const b = allocate().add(Attr.USERNAME, writeString(username)).add(Attr.REALM, writeString('example.org')).add(Attr.NONCE, writeString(nonce));
          answer = await c.transact(b.integrity(longTermKey(username, 'example.org', password), nodeHmac));
        }
        return errorCode(answer);
      }),
    );
  } finally {
    for (const c of clients) c.socket.close();
  }
}

for (const path of PATHS) describe(`${path} path, 2 workers`, () => {
  const start = async (args: string[]) => {
    const prom = await freeUdpPort();
    const t = await startTurn(['--fast-path', path, '--relay-threads', '2', '--listening-ip', '127.0.0.1', '--listening-port', '0', '--realm', 'example.org', '--prometheus', '--prometheus-port', String(prom), ...args]);
    return { t, m: `http://127.0.0.1:${prom}/metrics` };
  };

  test('the kernel spreads client 5-tuples over both workers; each allocation lives in one; /metrics sums them', async () => {
    const { t, m } = await start(['--no-auth']);
    try {
      const codes = await allocateFrom(t.port, 48);
      assert.deepEqual(codes, new Array(48).fill(0));
      await t.waitForLog(/"allocation created"/, 48);
      const byWorker = [0, 1].map((w) => t.log.filter((l) => l.includes('"allocation created"') && l.includes(`"worker":${w}`)).length);
      assert.equal(byWorker[0]! + byWorker[1]!, 48);
      assert.ok(byWorker[0]! > 0 && byWorker[1]! > 0, `allocations per worker: ${byWorker.join(' + ')}`);
      assert.equal(await metric(m, 'dari_turn_allocations'), 48);
      assert.equal(await metric(m, 'dari_turn_allocations_total'), 48);
      assert.equal(await metric(m, 'dari_turn_workers', `path="${path}"`), 2);
    } finally {
      assert.equal(await t.stop(), 0);
    }
  });

  test('the user quota and the total quota hold across workers (486 past them)', async () => {
    const { t, m } = await start(['--no-auth', '--user-quota', '5']);
    try {
      const codes = await allocateFrom(t.port, 16);
      assert.equal(codes.filter((c) => c === 0).length, 5, codes.join(' '));
      assert.equal(codes.filter((c) => c === 486).length, 11, codes.join(' '));
      assert.equal(await metric(m, 'dari_turn_quota_rejections_total', 'scope="user"'), 11);
    } finally {
      await t.stop();
    }
    const total = await start(['--use-auth-secret', '--static-auth-secret', 'rest-secret', '--total-quota', '7']);
    try {
      const codes = await allocateFrom(total.t.port, 16, 'rest-secret');
      assert.equal(codes.filter((c) => c === 0).length, 7, codes.join(' '));
      assert.equal(codes.filter((c) => c === 486).length, 9, codes.join(' '));
    } finally {
      await total.t.stop();
    }
  });

  test('TURN REST credentials and nonces are good in every worker', async () => {
    const { t, m } = await start(['--use-auth-secret', '--static-auth-secret', 'rest-secret']);
    try {
      const codes = await allocateFrom(t.port, 24, 'rest-secret');
      assert.deepEqual(codes, new Array(24).fill(0));
      await t.waitForLog(/"allocation created"/, 24);
      const byWorker = [0, 1].map((w) => t.log.filter((l) => l.includes('"allocation created"') && l.includes(`"worker":${w}`)).length);
      assert.ok(byWorker[0]! > 0 && byWorker[1]! > 0, `allocations per worker: ${byWorker.join(' + ')}`);
      assert.equal(await metric(m, 'dari_turn_auth_failures_total', 'reason="no-credentials"'), 24, 'one 401 per client, then success');
    } finally {
      await t.stop();
    }
  });
});
