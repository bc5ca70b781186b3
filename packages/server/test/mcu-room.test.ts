/**
 * McuRoom.stop() while start() runs (as the fallback's stop timer, a policy change or shutdown
 * may do): start rejects with McuRoomStoppedError and nothing of the room is left: no worker, no
 * mixer participant, no composite publication. Real SFU adapter and a real GStreamer worker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SfuManager } from '@dari/sfu';
import { MediaError } from '@dari/media';
import { McuRoom, McuRoomStoppedError } from '../src/mcu/mcu-room.js';
import { createLogger } from '../src/logger.js';

function setup() {
  const sfu = new SfuManager({ announcedAddresses: [], logger: createLogger('silent'), send: () => undefined });
  const mcu = new McuRoom({
    sfu,
    room: 'r',
    identity: 'dari-fallback-1',
    composite: { width: 320, height: 240, fps: 15, maxBitrateBps: 500_000 },
    python: '/usr/bin/python3',
    nameOf: () => undefined,
    logger: createLogger('silent'),
    fallback: true,
  });
  return { sfu, mcu };
}

async function assertNothingLeft(sfu: SfuManager, mcu: McuRoom): Promise<void> {
  assert.deepEqual(sfu.publications('r'), [], 'no composite publication');
  await assert.rejects(mcu.mixer.stats(), (e: unknown) => e instanceof MediaError && e.code === 'WORKER_STOPPED', 'the worker is stopped');
}

test('stopped before its worker is up: start rejects McuRoomStoppedError, nothing left', { timeout: 20_000 }, async () => {
  const { sfu, mcu } = setup();
  const starting = mcu.start();
  await mcu.stop();
  await assert.rejects(starting, McuRoomStoppedError);
  await assertNothingLeft(sfu, mcu);
  await sfu.close();
});

test('stopped once the composite is published: start rejects, the participant and its publication are gone', { timeout: 20_000 }, async () => {
  const { sfu, mcu } = setup();
  // The adapter's room hook: stop at the moment the composite video is published.
  sfu.addServerParticipant('r', 'someone', 'ingress');
  const room = (sfu as unknown as { room(name: string): { onPublication(l: (ref: { id: string }) => void): () => void } }).room('r');
  let stopping: Promise<void> | undefined;
  room.onPublication(() => (stopping ??= mcu.stop()));
  await assert.rejects(mcu.start(), McuRoomStoppedError);
  await stopping;
  assert.ok(stopping, 'the composite was published before the stop');
  await assertNothingLeft(sfu, mcu);
  await sfu.close();
});
