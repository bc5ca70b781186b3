/**
 * The addon over real loopback sockets: Binding answered natively with the TypeScript core's exact
 * bytes, ChannelData / Send / Data relayed for installed state, drops counted by reason, the
 * rest handed to JavaScript in batches, SO_REUSEPORT sharing, recvmmsg/sendmmsg batching, close.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { Attr, Method, MessageBuilder, TurnServer, decodeChannelData, decodeMessage, getAttribute, readXorAddress, tupleKey, writeRequestedTransport } from '@dari/stun';
import { bindingRequest, channelData, engine, next, send, sendIndication, text, udp } from './helpers.js';

const FUTURE = () => Date.now() + 60_000;

test('a Binding request is answered by the addon with the bytes the TypeScript core would send', async (t) => {
  const made = engine();
  if (!made) return t.skip('DARI_SKIP_NATIVE=1');
  const { engine: e } = made;
  const { index, port } = e.listen('127.0.0.1', 0, false, 1 << 20);
  const client = await udp();
  try {
    const request = new MessageBuilder('request', Method.Binding).add(Attr.SOFTWARE, text('test client')).fingerprint().build();
    await send(client, request, port);
    const { data } = await next(client);
    const core = new TurnServer({ software: 'Dari' });
    const tuple = { key: tupleKey('udp', '127.0.0.1', client.port, '127.0.0.1', port), protocol: 'udp' as const, address: '127.0.0.1', port: client.port, family: 4 as const, localAddress: '127.0.0.1', localPort: port };
    const expected = core.handleClient(tuple, request, Date.now()).find((a) => a.kind === 'send');
    assert.ok(expected && expected.kind === 'send');
    assert.deepEqual([...data], [...expected.data]);
    const c = e.counters();
    assert.equal(c.bindings, 1);
    assert.equal(c.deferred, 0);
    assert.equal(index, 0);
  } finally {
    client.close();
    await e.close();
  }
});

test('datagrams the fast path does not take reach JavaScript in a batch, and send() answers from the listener', async (t) => {
  const made = engine();
  if (!made) return t.skip('DARI_SKIP_NATIVE=1');
  const { engine: e, batches } = made;
  const { index, port } = e.listen('127.0.0.1', 0, false, 1 << 20);
  const client = await udp();
  try {
    const allocate = new MessageBuilder('request', Method.Allocate).add(Attr.REQUESTED_TRANSPORT, writeRequestedTransport(17)).build();
    await send(client, allocate, port);
    await send(client, channelData(0x4000, text('no allocation yet')), port);
    // Wait until JavaScript has both, then answer through the engine.
    while (batches.flat().length < 2) await new Promise((r) => setImmediate(r));
    const got = batches.flat();
    assert.deepEqual(got.map((d) => [d.listener, d.address, d.port]), [[index, '127.0.0.1', client.port], [index, '127.0.0.1', client.port]]);
    assert.deepEqual([...got[0]!.data], [...allocate]);
    e.send(index, '127.0.0.1', client.port, text('answer'));
    assert.equal((await next(client)).data.toString(), 'answer');
    assert.equal(e.counters().deferred, 2);
  } finally {
    client.close();
    await e.close();
  }
});

test('installed allocations relay ChannelData, Send indications and Data indications both ways', async (t) => {
  const made = engine();
  if (!made) return t.skip('DARI_SKIP_NATIVE=1');
  const { engine: e } = made;
  const { index, port } = e.listen('127.0.0.1', 0, false, 1 << 20);
  const [client, peer, peer2] = [await udp(), await udp(), await udp()];
  try {
    assert.equal(e.bindRelay(7, '127.0.0.1', 0, 1 << 19), null);
    e.allocation(7, index, '127.0.0.1', client.port, 4, FUTURE(), 0);
    e.permission(7, '127.0.0.1', FUTURE());
    e.channel(7, 0x4001, '127.0.0.1', peer.port, FUTURE());

    await send(client, channelData(0x4001, text('hello')), port);
    const atPeer = await next(peer);
    assert.equal(atPeer.data.toString(), 'hello');
    const relayPort = atPeer.from.port;
    assert.notEqual(relayPort, port);

    await send(peer, text('world'), relayPort);
    const cd = decodeChannelData((await next(client)).data);
    assert.ok(cd.ok);
    assert.equal(cd.value.channel, 0x4001);
    assert.equal(Buffer.from(cd.value.data).toString(), 'world');

    await send(client, sendIndication({ address: '127.0.0.1', port: peer2.port }, text('ping')), port);
    const at2 = await next(peer2);
    assert.equal(at2.data.toString(), 'ping');
    assert.equal(at2.from.port, relayPort);

    await send(peer2, text('pong!'), relayPort);
    const ind = decodeMessage((await next(client)).data);
    assert.ok(ind.ok);
    assert.equal(ind.value.cls, 'indication');
    assert.equal(ind.value.method, Method.Data);
    const from = readXorAddress(getAttribute(ind.value, Attr.XOR_PEER_ADDRESS)!.value, ind.value.transactionId);
    assert.deepEqual(from.ok && from.value, { family: 4, address: '127.0.0.1', port: peer2.port });
    assert.equal(Buffer.from(getAttribute(ind.value, Attr.DATA)!.value).toString(), 'pong!');

    const c = e.counters();
    assert.deepEqual([c.toPeerPackets, c.toPeerBytes, c.toClientPackets, c.toClientBytes], [2, 9, 2, 10]);
    assert.equal(c.allocations, 1);
  } finally {
    for (const s of [client, peer, peer2]) s.close();
    await e.close();
  }
});

test('without a live permission or channel, or over the bandwidth limit, datagrams are dropped and counted by reason', async (t) => {
  const made = engine();
  if (!made) return t.skip('DARI_SKIP_NATIVE=1');
  const { engine: e } = made;
  const { index, port } = e.listen('127.0.0.1', 0, false, 1 << 20);
  const [client, peer] = [await udp(), await udp()];
  // A Binding after the datagrams under test: its answer means they were all processed.
  const processed = async () => {
    await send(client, bindingRequest(), port);
    await next(client);
  };
  try {
    assert.equal(e.bindRelay(1, '127.0.0.1', 0, 1 << 19), null);
    e.allocation(1, index, '127.0.0.1', client.port, 4, FUTURE(), 100); // 100 bytes/s
    e.channel(1, 0x4001, '127.0.0.1', peer.port, FUTURE());
    e.permission(1, '127.0.0.1', Date.now() - 1); // already expired
    await send(client, channelData(0x4001, text('x')), port);
    await send(client, channelData(0x4002, text('x')), port); // no such channel
    await processed();
    assert.equal(e.counters().ignored['no-permission'], 1);
    assert.equal(e.counters().ignored['unknown-channel'], 1);

    e.permission(1, '127.0.0.1', FUTURE());
    await send(client, channelData(0x4001, new Uint8Array(80)), port); // within 100 bytes
    assert.equal((await next(peer)).data.length, 80);
    await send(client, channelData(0x4001, new Uint8Array(80)), port); // bucket has ~20 left
    await send(client, new Uint8Array([0xc0, 1, 2, 3, 4]), port); // neither STUN nor ChannelData
    await processed();
    const c = e.counters();
    assert.equal(c.ignored['bandwidth-limit'], 1);
    assert.equal(c.ignored['not-stun'], 1);
    assert.equal(c.toPeerPackets, 1);
  } finally {
    client.close();
    peer.close();
    await e.close();
  }
});

test('listeners share a port with SO_REUSEPORT and the kernel spreads clients over them; without it the port is taken', async (t) => {
  const a = engine();
  const b = engine();
  if (!a || !b) return t.skip('DARI_SKIP_NATIVE=1');
  const { port } = a.engine.listen('127.0.0.1', 0, true, 1 << 20);
  b.engine.listen('127.0.0.1', port, true, 1 << 20);
  const c = engine()!;
  assert.throws(() => c.engine.listen('127.0.0.1', port, false, 1 << 20), { code: 'EADDRINUSE' });
  const clients = await Promise.all(Array.from({ length: 24 }, () => udp()));
  try {
    await Promise.all(clients.map(async (s) => {
      await send(s, bindingRequest(), port);
      await next(s);
    }));
    const [na, nb] = [a.engine.counters().bindings, b.engine.counters().bindings];
    assert.equal(na + nb, 24);
    assert.ok(na > 0 && nb > 0, `both listeners answered (${na} + ${nb})`);
  } finally {
    for (const s of clients) s.close();
    await Promise.all([a.engine.close(), b.engine.close(), c.engine.close()]);
  }
});

test('datagrams are read and written in batches (recvmmsg/sendmmsg)', async (t) => {
  const made = engine();
  if (!made) return t.skip('DARI_SKIP_NATIVE=1');
  const { engine: e } = made;
  const { port } = e.listen('127.0.0.1', 0, false, 4 << 20);
  const client = await udp();
  client.setRecvBufferSize(4 << 20);
  const n = 300;
  let answers = 0;
  const all = new Promise<void>((resolve) => client.on('message', () => ++answers === n && resolve()));
  try {
    // Queued in the listener's buffer before the engine's poll callback runs.
    for (let i = 0; i < n; i++) client.send(bindingRequest(), port, '127.0.0.1');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${answers}/${n} answers`)), 5000)))]).finally(() => clearTimeout(timer));
    const c = e.counters();
    assert.equal(c.recvDatagrams, n);
    assert.ok(c.recvDatagrams / c.recvCalls > 4, `receive batches of ${(c.recvDatagrams / c.recvCalls).toFixed(1)}`);
    assert.equal(c.sendDatagrams, n);
    assert.ok(c.sendDatagrams / c.sendCalls > 4, `send batches of ${(c.sendDatagrams / c.sendCalls).toFixed(1)}`);
  } finally {
    client.close();
    await e.close();
  }
});

test('relay ports in use are reported by errno name, and close() frees every port', async (t) => {
  const made = engine();
  if (!made) return t.skip('DARI_SKIP_NATIVE=1');
  const { engine: e } = made;
  const taken = await udp();
  const { port } = e.listen('127.0.0.1', 0, false, 1 << 20);
  assert.equal(e.bindRelay(1, '127.0.0.1', taken.port, 1 << 19), 'EADDRINUSE');
  assert.equal(e.bindRelay(2, '127.0.0.1', 0, 1 << 19), null);
  taken.close();
  await e.close();
  await e.close(); // idempotent
  assert.throws(() => e.counters(), { code: 'ERR_CLOSED' });
  const again = engine()!;
  assert.equal(again.engine.listen('127.0.0.1', port, false, 1 << 20).port, port);
  await again.engine.close();
});

test('bad arguments are TypeErrors naming the call', async (t) => {
  const made = engine();
  if (!made) return t.skip('DARI_SKIP_NATIVE=1');
  const { engine: e } = made;
  try {
    assert.throws(() => e.listen('not an address', 0, false, 0), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /listen\(address/ });
    assert.throws(() => e.channel(1, 0x3fff, '127.0.0.1', 1, 0), { name: 'TypeError', message: /channel\(/ });
    assert.throws(() => e.send(5, '127.0.0.1', 1, new Uint8Array(1)), { name: 'TypeError', message: /send\(/ });
  } finally {
    await e.close();
  }
});

test('a worker thread that exits with its engine open closes the sockets and the process carries on', async (t) => {
  if (!engine()) return t.skip('DARI_SKIP_NATIVE=1');
  const url = new URL('../src/index.js', import.meta.url).href;
  const source = `
    import { parentPort } from 'node:worker_threads';
    const { FastPathEngine, loadFastPath } = await import(${JSON.stringify(url)});
    const load = loadFastPath();
    const e = new FastPathEngine(load.Engine, { software: null, answerBinding: true, onBatch() {} });
    const { port } = e.listen('127.0.0.1', 0, false, 1 << 20);
    for (let i = 1; i <= 50; i++) e.bindRelay(i, '127.0.0.1', 0, 1 << 16);
    parentPort.postMessage(port);`;
  const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(source)}`));
  const [port] = (await new Promise((resolve, reject) => {
    worker.once('message', (m) => resolve([m]));
    worker.once('error', reject);
  })) as [number];
  assert.equal(await worker.terminate(), 1);
  // The listener's port is free again: the cleanup hook closed it.
  const again = engine()!;
  assert.equal(again.engine.listen('127.0.0.1', port, false, 1 << 20).port, port);
  await again.engine.close();
});
