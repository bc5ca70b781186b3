/**
 * FallbackManager (the server's side of the composite fallback) without a composite: no GStreamer
 * or no free media worker skips the fallback. The subscriber keeps its videos and is told
 * `composite-unavailable`, the reason is logged once per room, and a recovery says `sfu` again. An
 * mcu room's events are not its business. (The composite itself: e2e-fallback.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SfuManager, type CompositeFallbackEvent } from '@dari/sfu';
import type { ServerMessage } from '@dari/protocol';
import type { GStreamerStatus } from '@dari/media';
import { FallbackManager } from '../src/mcu/fallback-manager.js';
import { WorkerBudget } from '../src/egress/egress-types.js';
import { createLogger } from '../src/logger.js';

function setup(options: { gstreamer?: boolean; workers?: number; mcu?: boolean } = {}) {
  const sent: { identity: string; message: ServerMessage }[] = [];
  const lines: string[] = [];
  const logger = createLogger('info', { write: (line: string | Uint8Array) => (lines.push(String(line)), true) } as NodeJS.WritableStream);
  let counted = 0;
  const sfu = new SfuManager({ announcedAddresses: [], logger: createLogger('silent'), send: () => undefined });
  const manager = new FallbackManager({
    sfu,
    gstreamer: async (): Promise<GStreamerStatus> => (options.gstreamer === false ? { ok: false, reason: 'no vp8enc', packages: ['gstreamer1.0-plugins-good'], hint: 'install gstreamer1.0-plugins-good' } : { ok: true, version: '1.22' }),
    budget: new WorkerBudget(options.workers ?? 1),
    composite: { width: 320, height: 240, fps: 15, maxBitrateBps: 500_000 },
    python: '/usr/bin/python3',
    nameOf: () => undefined,
    send: (_room, identity, _sid, message) => sent.push({ identity, message }),
    isMcuRoom: () => options.mcu === true,
    stopAfterMs: 10,
    counted: () => counted++,
    logger,
  });
  return { manager, sent, lines, counted: () => counted, sfu };
}

const on = (identity: string): CompositeFallbackEvent => ({ identity, sid: `PA_${identity}`, on: true, reason: 'estimate-below-need', estimateBps: 90_000, needBps: 200_000 });
const off = (identity: string, reason: CompositeFallbackEvent['reason'] = 'probe'): CompositeFallbackEvent => ({ identity, sid: `PA_${identity}`, on: false, reason, estimateBps: 300_000, needBps: 200_000 });
const skipped = (lines: string[]) => lines.filter((l) => l.includes('composite fallback skipped')).length;

test('past mcu.maxWorkers: the subscriber keeps its videos and is told composite-unavailable; logged once per room', async () => {
  const { manager, sent, lines, counted, sfu } = setup({ workers: 0 });
  manager.event('r', on('ana'));
  manager.event('r', on('ben'));
  assert.deepEqual(sent.map((s) => [s.identity, s.message]), [
    ['ana', { type: 'media-path', path: 'sfu', reason: 'composite-unavailable', estimateBps: 90_000, needBps: 200_000 }],
    ['ben', { type: 'media-path', path: 'sfu', reason: 'composite-unavailable', estimateBps: 90_000, needBps: 200_000 }],
  ]);
  assert.equal(skipped(lines), 1);
  assert.match(lines.find((l) => l.includes('skipped'))!, /mcu\.maxWorkers/);
  assert.equal(counted(), 2);
  assert.equal(manager.size, 0, 'no composite');
  assert.deepEqual(manager.subscribers('r').sort(), ['ana', 'ben']);
  manager.event('r', off('ana'));
  manager.event('r', off('ben', 'left'));
  assert.deepEqual(sent.slice(2).map((s) => [s.identity, s.message.type === 'media-path' && s.message.path, s.message.type === 'media-path' && s.message.reason]), [['ana', 'sfu', 'probe']], 'a subscriber that left is told nothing');
  assert.deepEqual(manager.subscribers('r'), []);
  await manager.close();
  await sfu.close();
});

test('without GStreamer: skipped with the hint in the log', async () => {
  const { manager, sent, lines, sfu } = setup({ gstreamer: false });
  manager.event('r', on('ana'));
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(sent.map((s) => s.message.type === 'media-path' && s.message.reason), ['composite-unavailable']);
  assert.equal(skipped(lines), 1);
  assert.match(lines.find((l) => l.includes('skipped'))!, /gstreamer1\.0-plugins-good/);
  await manager.close();
  await sfu.close();
});

test('an mcu room: the events are ignored (the room has its own composite)', async () => {
  const { manager, sent, counted, sfu } = setup({ mcu: true });
  manager.event('r', on('ana'));
  assert.deepEqual(sent, []);
  assert.equal(counted(), 0);
  assert.deepEqual(manager.subscribers('r'), []);
  await sfu.close();
});
