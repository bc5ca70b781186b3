import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { WriteBatcher } from '../src/signaling/write-batch.js';

/** A loopback TCP connection; `writes` counts the server socket's calls down to libuv (_write/_writev). */
async function socketPair(): Promise<{ server: net.Socket; client: net.Socket; writes: () => number; close(): void }> {
  const listener = net.createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const { port } = listener.address() as net.AddressInfo;
  const accepted = once(listener, 'connection');
  const client = net.connect(port, '127.0.0.1');
  const [server] = (await accepted) as [net.Socket];
  let writes = 0;
  const s = server as unknown as Record<'_write' | '_writev', (...args: unknown[]) => void>;
  for (const name of ['_write', '_writev'] as const) {
    const orig = s[name];
    s[name] = function (this: unknown, ...args: unknown[]) {
      writes++;
      orig.apply(this, args);
    };
  }
  return { server, client, writes: () => writes, close: () => (client.destroy(), server.destroy(), listener.close()) };
}

async function received(client: net.Socket, bytes: number): Promise<string> {
  let text = '';
  while (text.length < bytes) text += String((await once(client, 'data'))[0]);
  return text;
}

test('frames written in one turn leave in one write, in order, when the turn ends', async () => {
  const { server, client, writes, close } = await socketPair();
  try {
    // Unbatched, each write is its own call (the spy works).
    server.write('x');
    server.write('y');
    assert.equal(writes(), 2);
    assert.equal(await received(client, 2), 'xy');

    const batch = new WriteBatcher();
    batch.hold(server);
    server.write('a');
    server.write('b');
    batch.hold(server);
    server.write('c');
    assert.equal(writes(), 2, 'held until the turn ends');
    await new Promise<void>((resolve) => process.nextTick(resolve));
    assert.equal(writes(), 3, 'one write for the three frames');
    assert.equal(await received(client, 3), 'abc');
  } finally {
    close();
  }
});

test('flush() writes held frames at once (before a socket is destroyed)', async () => {
  const { server, client, writes, close } = await socketPair();
  try {
    const batch = new WriteBatcher();
    batch.hold(server);
    server.write('bye');
    batch.flush();
    assert.equal(writes(), 1);
    server.end();
    assert.equal(await received(client, 3), 'bye');
    await new Promise<void>((resolve) => process.nextTick(resolve)); // the scheduled flush finds nothing held
    assert.equal(writes(), 1);
  } finally {
    close();
  }
});
