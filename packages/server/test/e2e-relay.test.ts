/**
 * Chromium through Dari's own TURN server: with iceTransportPolicy 'relay' and only our TURN
 * server configured, a call connects over relay candidates, with the client reaching TURN over
 * UDP, and over TCP (`?transport=tcp`).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { restCredentials } from '@dari/stun';
import type { RunningServer } from '../src/serve.js';
import { devToken, testServer } from './helpers.js';
import { joinWithSdk, launchChromium, waitForMedia } from '@dari/testkit';

const SECRET = 'e2e-relay-test-secret';
let server: RunningServer;
let browser: Browser;

before(async () => {
  server = await testServer({ turn: { port: 0, secret: SECRET } });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

for (const transport of ['udp', 'tcp'] as const) {
  test(`a call relayed through Dari's TURN, client to TURN over ${transport.toUpperCase()}`, { timeout: 90_000 }, async () => {
    const port = server.turn!.service.endpoints.find((e) => e.protocol === transport)!.port;
    const join = async (identity: string) => {
      const { username, password } = restCredentials(SECRET, identity, 600);
      const iceServers = [{ urls: `turn:127.0.0.1:${port}?transport=${transport}`, username, credential: password }];
      return joinWithSdk(browser, server.url, server.url, await devToken(`relay-${transport}`, identity), identity, true, { iceServers, iceTransportPolicy: 'relay' });
    };
    const allocationsBefore = (await server.turn!.service.snapshot()).allocations;
    const a = await join('alice');
    const b = await join('bob');
    await Promise.all([waitForMedia(a, ['bob']), waitForMedia(b, ['alice'])]);
    for (const p of [a, b]) {
      const [info] = await p.page.evaluate(async () => (window as unknown as Record<string, any>)['room'].getConnectionInfo());
      assert.equal(info.path, 'relay');
      assert.equal(info.local.type, 'relay');
      assert.equal(info.local.relayProtocol, transport);
      assert.equal(info.remote.type, 'relay');
    }
    const after = await server.turn!.service.snapshot();
    assert.ok(after.allocations >= allocationsBefore + 2);
    assert.ok(after.counters.toPeerPackets > 100);
    await a.page.context().close();
    await b.page.context().close();
  });
}
