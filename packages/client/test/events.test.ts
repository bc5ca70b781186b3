/**
 * No swallowed errors: a listener that throws never breaks the emitter, and in a Room its
 * exception reaches the `error` event (STYLE.md practice 7). The Room test uses Node's own
 * WebSocket against a closed loopback port: a real connection attempt, no server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { ErrorCode, SignalingError } from '@dari/protocol';
import { ClientError, ClientErrorCode } from '../src/errors.js';
import { TypedEmitter } from '../src/events.js';
import { Room } from '../src/room.js';

class Emitter extends TypedEmitter<{ ping: (n: number) => void }> {
  readonly failures: [string, unknown][] = [];
  fire(n: number): boolean {
    return this.emit('ping', n);
  }
  protected override listenerFailed(event: string, error: unknown): void {
    this.failures.push([event, error]);
  }
}

test('a throwing listener does not stop the others, and its exception goes to listenerFailed', () => {
  const e = new Emitter();
  const got: number[] = [];
  const boom = new Error('boom');
  e.on('ping', () => {
    throw boom;
  });
  e.on('ping', (n) => got.push(n));
  e.once('ping', (n) => got.push(n * 10));
  assert.equal(e.fire(1), true);
  assert.equal(e.fire(2), true);
  assert.deepEqual(got, [1, 10, 2], 'once ran once, the second listener every time');
  assert.deepEqual(e.failures, [['ping', boom], ['ping', boom]]);
});

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('Room: an app listener that throws reaches the error event as LISTENER_FAILED, with the exception as cause', async () => {
  const room = new Room();
  const errors: (SignalingError | ClientError)[] = [];
  const bug = new TypeError('app bug');
  const states: string[] = [];
  room.on('connectionStateChanged', () => {
    throw bug;
  });
  room.on('connectionStateChanged', (s) => states.push(s));
  room.on('error', (e) => errors.push(e));
  const port = await closedPort();
  await assert.rejects(room.connect(`http://127.0.0.1:${port}`, 'x.y.z'), (err: unknown) => err instanceof SignalingError && err.code === ErrorCode.INTERNAL);
  assert.deepEqual(states, ['connecting', 'disconnected'], 'the other listener kept hearing every state');
  assert.equal(errors.length, 2);
  for (const e of errors) {
    assert.ok(e instanceof ClientError);
    assert.equal(e.code, ClientErrorCode.LISTENER_FAILED);
    assert.equal(e.details['event'], 'connectionStateChanged');
    assert.equal(e.cause, bug);
    assert.match(e.message, /connectionStateChanged threw: app bug/);
  }
});

test('Room: an error listener that throws goes to the console instead of looping', async () => {
  const room = new Room();
  let calls = 0;
  room.on('connectionStateChanged', () => {
    throw new Error('first');
  });
  room.on('error', () => {
    calls++;
    throw new Error('second');
  });
  const logged: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void logged.push(args);
  try {
    const port = await closedPort();
    await assert.rejects(room.connect(`ws://127.0.0.1:${port}`, 'x.y.z'));
  } finally {
    console.error = original;
  }
  assert.equal(calls, 2, 'one error event per failed listener call');
  assert.equal(logged.length, 2);
  assert.match(String(logged[0]![0]), /listener for error threw: second/);
});
