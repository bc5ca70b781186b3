/**
 * An egress whose room empties while it starts (EgressManager.start racing roomLeft): start
 * answers the egress as `complete` (not a 500, not `starting`), its workers and its server-side
 * participant are gone and its media workers are released. Real SFU adapter and real GStreamer
 * workers; the room's participants are a table (signaling is not what this claims to test).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SfuManager } from '@dari/sfu';
import { checkGStreamer } from '@dari/media';
import type { ParticipantInfo } from '@dari/protocol';
import { EgressManager } from '../src/egress/egress-manager.js';
import { WorkerBudget } from '../src/egress/egress-types.js';
import { createLogger } from '../src/logger.js';

const someone: ParticipantInfo = { sid: 'PA_1', identity: 'ana', name: 'Ana', metadata: '', joinedAt: 0, grants: { canPublish: true, canSubscribe: true, canPublishData: true }, tracks: [], state: 'active' };

test('the room empties while a room-composite egress starts: complete, nothing left running', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dari-egress-race-'));
  const sfu = new SfuManager({ announcedAddresses: [], logger: createLogger('silent'), send: () => undefined });
  let people: ParticipantInfo[] = [someone];
  const budget = new WorkerBudget(2);
  const egress = new EgressManager({
    sfu,
    rooms: { participants: () => people, policy: () => 'sfu', setPolicy: () => undefined, setRecording: () => undefined },
    dir,
    gstreamer: () => checkGStreamer(),
    budget,
    composite: { width: 320, height: 240, fps: 15, maxBitrateBps: 500_000 },
    python: '/usr/bin/python3',
    logger: createLogger('silent'),
  });
  try {
    sfu.addServerParticipant('r', 'ana', 'ingress');
    // The room empties once the recorder has opened its file: the mixer is being wired to it.
    const starting = egress.start({ room: 'r', type: 'room-composite' });
    const id = await new Promise<string>((resolve, reject) => {
      const poll = setInterval(() => {
        const e = egress.list('r')[0];
        if (e && existsSync(e.file)) {
          clearInterval(poll);
          resolve(e.egressId);
        } else if (e && e.status !== 'starting') reject(new Error(`egress ${e.status} before its file was opened`));
      }, 1);
    });
    console.log('# file at', JSON.stringify(egress.list('r')[0]));
    people = [];
    egress.roomLeft('r');
    const info = await starting;
    assert.equal(info.egressId, id);
    assert.equal(info.status, 'complete', `status ${info.status} ${info.reason ?? ''}`);
    assert.equal(budget.inUse, 0, 'its media workers are released');
    assert.deepEqual(sfu.publications('r'), [], 'nothing of the egress in the room');
    assert.equal(egress.list('r')[0]?.status, 'complete');
  } finally {
    await egress.shutdown();
    await sfu.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
