/**
 * `dari serve` stopped (SIGTERM) and started again on the same ports, as an operator restarts it:
 * the rooms come back from the state file, participants resume with their sids (peer
 * connections untouched), `joined.node` changes (the SFU legs start over), and TURN credentials
 * and nonces handed out before the restart are still accepted after it. Real processes, real
 * sockets; the Chromium side is e2e-restart.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TurnClient } from '@dari/testkit';
import type { ServerMessage } from '@dari/protocol';
import { Client } from './helpers.js';
import { firstServe, serve, stop } from './serve-process.js';
import { defaultStateFile, takeStateFile, writeStateFile } from '../src/signaling/state-file.js';

const joinedOf = (m: ServerMessage) => m as Extract<ServerMessage, { type: 'joined' }>;

test('restart: participants resume with their sids on the restarted server; an sfu room comes back on a new node id', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dari-restart-'));
  const stateFile = join(dir, 'rooms.json');
  try {
    const { serving: first, args } = await firstServe((port) => ['--port', String(port), '--set', 'turn.enabled=false', '--set', `signaling.stateFile=${stateFile}`, '--set', 'sfu.rooms.big=sfu']);
    const server = { wsUrl: first.ws } as never;
    const a = await Client.join(server, 'call', 'alice');
    const b = await Client.join(server, 'call', 'bob');
    const c = await Client.join(server, 'big', 'carol');
    await a.client.next((m) => m.type === 'participant-joined');
    assert.equal(await stop(first), 0, 'dari serve exits 0 on SIGTERM');
    for (const x of [a, b, c]) {
      assert.equal(await x.client.closed, 1012, 'close code 1012 (service restart)');
      assert.ok(x.client.messages.some((m) => m.type === 'closing' && m.reason === 'reconnect'), 'closing: reconnect');
    }
    assert.ok(existsSync(stateFile), 'the rooms were saved');
    assert.ok(first.log.some((l) => l.includes('rooms saved for a restart')));

    const second = await serve(args);
    const server2 = { wsUrl: second.ws } as never;
    assert.ok(!existsSync(stateFile), 'the state file is consumed at start');
    assert.ok(second.log.some((l) => l.includes('rooms restored') && l.includes('"rooms":2') && l.includes('"participants":3')), second.log.join('\n'));
    const a2 = await Client.join(server2, 'call', 'alice', { resume: { sid: a.joined.participant.sid } });
    assert.equal(a2.joined.resumed, true);
    assert.equal(a2.joined.participant.sid, a.joined.participant.sid);
    assert.deepEqual(a2.joined.participants.map((p) => [p.identity, p.sid, p.state]), [['bob', b.joined.participant.sid, 'reconnecting']]);
    assert.ok(a.joined.node && a2.joined.node && a2.joined.node !== a.joined.node, `joined.node changes with the process: ${a.joined.node} → ${a2.joined.node}`);
    const b2 = await Client.join(server2, 'call', 'bob', { resume: { sid: b.joined.participant.sid } });
    assert.equal(b2.joined.resumed, true);
    const back = await a2.client.next((m) => m.type === 'participant-updated' && m.participant.identity === 'bob');
    assert.equal(back.type === 'participant-updated' && back.participant.state, 'active', 'alice sees bob back, never a leave');
    assert.ok(!a2.client.messages.some((m) => m.type === 'participant-left'));
    const c2 = await Client.join(server2, 'big', 'carol', { resume: { sid: c.joined.participant.sid } });
    assert.equal(c2.joined.resumed, true);
    assert.equal(joinedOf(c2.joined).mode, 'sfu');
    for (const x of [a2.client, b2.client, c2.client]) {
      x.send({ type: 'leave' });
      await x.closed;
    }

    // Every room empty: a stop saves nothing and says server-shutdown (1001), as before.
    const idle = await Client.open(second.ws);
    assert.equal(await stop(second), 0);
    assert.equal(await idle.closed, 1001);
    assert.ok(idle.messages.some((m) => m.type === 'closing' && m.reason === 'server-shutdown'));
    assert.ok(!existsSync(stateFile));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('restart: a participant that does not come back within the grace period leaves', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dari-restart-'));
  const stateFile = join(dir, 'rooms.json');
  try {
    const { serving: first, args } = await firstServe((port) => ['--port', String(port), '--set', 'turn.enabled=false', '--set', `signaling.stateFile=${stateFile}`, '--set', 'signaling.reconnectGraceMs=1500']);
    const a = await Client.join({ wsUrl: first.ws } as never, 'g', 'alice');
    const b = await Client.join({ wsUrl: first.ws } as never, 'g', 'bob');
    await stop(first);
    await Promise.all([a.client.closed, b.client.closed]);
    const second = await serve(args);
    const a2 = await Client.join({ wsUrl: second.ws } as never, 'g', 'alice', { resume: { sid: a.joined.participant.sid } });
    assert.equal(a2.joined.resumed, true);
    // The grace runs from the restarted server's start.
    const left = await a2.client.next((m) => m.type === 'participant-left', 8000);
    assert.ok(left.type === 'participant-left' && left.identity === 'bob' && left.reason === 'disconnected');
    a2.client.close();
    await stop(second);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('restart: TURN credentials from before the restart allocate after it, with the same nonce (no 438), derived or configured secret', { timeout: 60_000 }, async () => {
  for (const extra of [[], ['--set', 'turn.secret=a-configured-turn-secret']]) {
    const { serving: first, args } = await firstServe((port, turnPort) => ['--port', String(port), '--set', `turn.port=${turnPort}`, '--set', 'signaling.stateFile=', ...extra]);
    const turnPort = Number(args.find((a) => a.startsWith('turn.port='))!.split('=')[1]);
    const { client, joined } = await Client.join({ wsUrl: first.ws } as never, 'turn', 'alice');
    client.close();
    const turn = joined.iceServers.find((s) => s.username !== undefined)!;
    const creds = { username: turn.username!, password: turn.credential! };
    const udp = await TurnClient.udp({ address: '127.0.0.1', port: turnPort });
    const before = await udp.allocate(creds);
    assert.ok(before.ok, `allocate before the restart: ${JSON.stringify(before)}`);
    assert.equal(before.requests, 2, 'the usual 401 challenge, then success');
    const nonce = udp.nonce;
    await stop(first);

    const second = await serve(args);
    // The allocation died with the process; the same 5-tuple allocates again with the old nonce.
    const after = await udp.allocate(creds);
    assert.ok(after.ok, `allocate after the restart: ${JSON.stringify(after)}`);
    assert.equal(after.requests, 1, 'the nonce issued before the restart is accepted: no 401/438 round trip');
    assert.equal(udp.nonce, nonce);
    udp.close();
    await stop(second);
  }
  // Different API keys derive a different secret: the same credentials are refused (the test can fail).
  const { serving: first, args: firstArgs } = await firstServe((port, turnPort) => ['--port', String(port), '--set', `turn.port=${turnPort}`, '--set', 'signaling.stateFile=']);
  const turnPort = Number(firstArgs.find((a) => a.startsWith('turn.port='))!.split('=')[1]);
  const port = Number(firstArgs[1]);
  const { client, joined } = await Client.join({ wsUrl: first.ws } as never, 'turn', 'alice');
  client.close();
  await stop(first);
  const turn = joined.iceServers.find((s) => s.username !== undefined)!;
  const keyed = await serve(['--port', String(port), '--set', `turn.port=${turnPort}`, '--set', 'signaling.stateFile=', '--keys', 'k1: a-real-api-secret-of-at-least-32-chars!']);
  const udp = await TurnClient.udp({ address: '127.0.0.1', port: turnPort });
  const refused = await udp.allocate({ username: turn.username!, password: turn.credential! });
  assert.equal(refused.ok, false);
  assert.equal(refused.code, 401);
  udp.close();
  await stop(keyed);
});

test('state file: default path, atomic write, discarded when stale or malformed', () => {
  assert.equal(defaultStateFile('127.0.0.1', 0), undefined, 'an ephemeral port has no state file');
  assert.equal(defaultStateFile('::', 7880, { XDG_STATE_HOME: '/var/lib/x' }), '/var/lib/x/dari/rooms-__-7880.json');
  assert.equal(defaultStateFile('127.0.0.1', 7880, { HOME: '/home/u' }), '/home/u/.local/state/dari/rooms-127.0.0.1-7880.json');
  const dir = mkdtempSync(join(tmpdir(), 'dari-state-'));
  const file = join(dir, 'sub', 'rooms.json');
  try {
    assert.deepEqual(takeStateFile(file, 0, 10_000), { kind: 'none' });
    const state = { version: 1 as const, node: 'ND_x', at: 1_000_000, rooms: [] };
    writeStateFile(file, state);
    assert.deepEqual(takeStateFile(file, 1_005_000, 10_000), { kind: 'rooms', state });
    assert.equal(existsSync(file), false, 'taken once');
    writeStateFile(file, state);
    const stale = takeStateFile(file, 1_010_000, 10_000);
    assert.equal(stale.kind, 'discarded');
    assert.match(stale.kind === 'discarded' ? stale.why : '', /past the 10 s a saved room is kept/);
    writeFileSync(file, '{"version":2}');
    assert.match(JSON.stringify(takeStateFile(file, 0, 10_000)), /not a version 1 state file \(version/);
    writeFileSync(file, 'garbage');
    assert.deepEqual(takeStateFile(file, 0, 10_000), { kind: 'discarded', why: 'not JSON' });
    assert.equal(existsSync(file), false);
    writeStateFile(file, state);
    assert.equal(readFileSync(file, 'utf8'), JSON.stringify(state));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
