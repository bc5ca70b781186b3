/**
 * An egress whose room empties while it starts (EgressManager.start racing roomLeft): start
 * answers the egress as `complete` (not a 500, not `starting`), its workers and its server-side
 * participant are gone and its media workers are released. Real SFU adapter and real GStreamer
 * workers; the room's participants are a table (signaling is not what this claims to test).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SfuManager } from '@dari/sfu';
import { checkGStreamer, CompositeMixer } from '@dari/media';
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
    // The room empties right after the mixer is wired to the recorder (its last `addOutput`), before
    // the egress's participant enters the room: the moment end() and start() overlap most. The
    // mixer is real; its method is wrapped only to find that moment.
    const addOutput = CompositeMixer.prototype.addOutput;
    let emptied = false;
    CompositeMixer.prototype.addOutput = async function (this: CompositeMixer, spec) {
      const result = await addOutput.call(this, spec);
      if (spec.kind === 'mix' && !emptied) {
        emptied = true;
        people = [];
        egress.roomLeft('r');
        // Let that end() finish (its workers stopped, its participant removed) before start goes on.
        for (let i = 0; i < 500 && egress.list('r')[0]?.status === 'starting'; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return result;
    };
    let info;
    try {
      info = await egress.start({ room: 'r', type: 'room-composite' });
    } finally {
      CompositeMixer.prototype.addOutput = addOutput;
    }
    assert.ok(emptied, 'the room emptied while the egress started');
    assert.equal(info.status, 'complete', `status ${info.status} ${info.reason ?? ''}`);
    assert.equal(budget.inUse, 0, 'its media workers are released');
    assert.equal(sfu.metrics().participants, 1, 'only ana in the room: the egress added no participant after its end');
    assert.equal(egress.list('r')[0]?.status, 'complete');
  } finally {
    await egress.shutdown();
    await sfu.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
