/** End to end in real Chromium: P2P mesh calls through `dari serve`, chat signals, file transfer, leave, resume. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import type { RunningServer } from '../src/serve.js';
import { devToken, testServer } from './helpers.js';
import { joinWithSdk, launchChromium, waitForMedia, type Participant } from '@dari/testkit';

let server: RunningServer;
let browser: Browser;

before(async () => {
  server = await testServer({ signaling: { reconnectGraceMs: 10_000 }, sfu: { mode: 'p2p' } }); // the mesh (auto rooms: e2e-auto)
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

async function join(room: string, identity: string, signalingUrl = server.url): Promise<Participant> {
  return joinWithSdk(browser, server.url, signalingUrl, await devToken(room, identity), identity);
}

async function leaveAll(...ps: Participant[]): Promise<void> {
  for (const p of ps) await p.page.context().close();
}

const log = (p: Participant) => p.page.evaluate(() => (window as unknown as Record<string, any>)['log']);

test('two participants decode each other\'s video and receive audio', { timeout: 90_000 }, async () => {
  const a = await join('two', 'alice');
  const b = await join('two', 'bob');
  const [ma, mb] = await Promise.all([waitForMedia(a, ['bob']), waitForMedia(b, ['alice'])]);
  assert.ok(ma['bob']!.framesDecoded > 15 && ma['bob']!.audioPackets > 10);
  assert.ok(mb['alice']!.framesDecoded > 15 && mb['alice']!.audioPackets > 10);
  const info = await a.page.evaluate(async () => (await (window as unknown as Record<string, any>)['room'].getConnectionInfo())[0]);
  assert.equal(info.path, 'direct');
  assert.equal(info.local.type, 'host');
  await leaveAll(a, b);
});

test('three participants in a full mesh: chat broadcast and targeted signals, leave', { timeout: 120_000 }, async () => {
  const a = await join('three', 'alice');
  const b = await join('three', 'bob');
  const c = await join('three', 'carol');
  await Promise.all([waitForMedia(a, ['bob', 'carol']), waitForMedia(b, ['alice', 'carol']), waitForMedia(c, ['alice', 'bob'])]);

  // Broadcast: everyone, the sender included (OpenVidu semantics).
  await a.page.evaluate(() => (window as unknown as Record<string, any>)['room'].sendSignal('chat', JSON.stringify({ text: 'hello all' }), []));
  for (const p of [a, b, c]) {
    await p.page.waitForFunction(() => (window as unknown as Record<string, any>)['log'].signals.some((s: any) => s.type === 'chat' && s.data.includes('hello all')));
  }
  // Targeted: only carol. Then a broadcast marker proves bob's and alice's queues were flushed past it.
  await a.page.evaluate(() => (window as unknown as Record<string, any>)['room'].sendSignal('chat', 'for carol', ['carol']));
  await a.page.evaluate(() => (window as unknown as Record<string, any>)['room'].sendSignal('marker', '', []));
  for (const p of [a, b, c]) await p.page.waitForFunction(() => (window as unknown as Record<string, any>)['log'].signals.some((s: any) => s.type === 'marker'));
  const forCarol = async (p: Participant) => ((await log(p)).signals as any[]).filter((s) => s.data === 'for carol').length;
  assert.equal(await forCarol(c), 1);
  assert.equal(await forCarol(b), 0);
  assert.equal(await forCarol(a), 0);
  const carolChat = ((await log(c)).signals as any[]).find((s) => s.data === 'for carol');
  assert.equal(carolChat.from, 'alice');
  assert.deepEqual(carolChat.to, ['carol']);

  // Carol leaves: the others see the leave and her tracks go away.
  await c.page.evaluate(() => (window as unknown as Record<string, any>)['room'].disconnect());
  for (const p of [a, b]) {
    await p.page.waitForFunction(() => {
      const l = (window as unknown as Record<string, any>)['log'];
      return l.left.includes('carol') && l.unsubscribed.includes('carol:camera') && l.unsubscribed.includes('carol:microphone');
    });
    const remaining = await p.page.evaluate(() => [...(window as unknown as Record<string, any>)['room'].remoteParticipants.keys()]);
    assert.equal(remaining.length, 1);
    assert.ok(!remaining.includes('carol'));
  }
  // Alice and bob keep talking.
  await waitForMedia(a, ['bob']);
  await leaveAll(a, b, c);
});

test('a 5 MiB file arrives with an equal SHA-256, with progress on both sides', { timeout: 90_000 }, async () => {
  const a = await join('files', 'alice');
  const b = await join('files', 'bob');
  await waitForMedia(a, ['bob']);
  const sent = await a.page.evaluate(async () => {
    const w = window as unknown as Record<string, any>;
    const size = 5 * 1024 * 1024;
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i += 65536) crypto.getRandomValues(data.subarray(i, Math.min(size, i + 65536)));
    const progress: number[] = [];
    w['room'].on('fileProgress', (p: any) => progress.push(p.bytes));
    const sha = await w['room'].sendFile(new Blob([data]), 'bob', 'random.bin');
    const digest = await crypto.subtle.digest('SHA-256', data);
    const local = [...new Uint8Array(digest)].map((x) => x.toString(16).padStart(2, '0')).join('');
    return { sha, local, progressEvents: progress.length, last: progress[progress.length - 1] };
  });
  assert.equal(sent.sha, sent.local);
  assert.ok(sent.progressEvents > 10, `progress events: ${sent.progressEvents}`);
  assert.equal(sent.last, 5 * 1024 * 1024);
  await b.page.waitForFunction(() => (window as unknown as Record<string, any>)['log'].files.length === 1);
  const [file] = (await log(b)).files;
  assert.deepEqual(file, { name: 'random.bin', size: 5 * 1024 * 1024, sha256: sent.local, from: 'alice' });
  await leaveAll(a, b);
});

test('a signaling connection cut within the grace period resumes the session; media never stops', { timeout: 90_000 }, async () => {
  // A TCP proxy between alice's browser and the signaling server, which the test can cut.
  const target = new URL(server.url);
  const sockets = new Set<Socket>();
  const proxy = createServer((client) => {
    const upstream = new Socket();
    upstream.connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  try {
    const a = await join('resume', 'alice', proxyUrl);
    const b = await join('resume', 'bob');
    await Promise.all([waitForMedia(a, ['bob']), waitForMedia(b, ['alice'])]);
    const sidBefore = await a.page.evaluate(() => (window as unknown as Record<string, any>)['room'].localParticipant.sid);
    for (const s of sockets) s.destroy();
    await a.page.waitForFunction(() => (window as unknown as Record<string, any>)['log'].states.includes('reconnecting'));
    // While alice is away, bob signals her; the server holds it for her.
    await b.page.evaluate(() => (window as unknown as Record<string, any>)['room'].sendSignal('chat', 'while you were away', ['alice']));
    await a.page.waitForFunction(() => {
      const w = window as unknown as Record<string, any>;
      return w['log'].states.at(-1) === 'connected' && w['log'].signals.some((s: any) => s.data === 'while you were away');
    }, undefined, { timeout: 20_000 });
    const sidAfter = await a.page.evaluate(() => (window as unknown as Record<string, any>)['room'].localParticipant.sid);
    assert.equal(sidAfter, sidBefore);
    assert.deepEqual((await log(b)).left, [], 'bob never saw alice leave');
    assert.deepEqual((await log(a)).left, [], 'alice never dropped bob');
    await Promise.all([waitForMedia(a, ['bob']), waitForMedia(b, ['alice'])]);
    await leaveAll(a, b);
  } finally {
    for (const s of sockets) s.destroy();
    proxy.close();
  }
});

