/** The egress API's pure parts: routes, the worker budget, pruning ended egresses, the `mcu.*` and `recording.*` config keys. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matchEgressRoute } from '../src/http/egress-routes.js';
import { EgressError, WorkerBudget, endedToDrop } from '../src/egress/egress-types.js';
import { defaultRecordingDir } from '../src/egress/recording-dir.js';
import { ConfigError, validateConfig } from '../src/config.js';

test('egress routes: start, list, stop by DELETE or POST …/stop; other methods are null; malformed ids 404', () => {
  assert.deepEqual(matchEgressRoute('POST', '/api/egress'), { action: 'start' });
  assert.deepEqual(matchEgressRoute('GET', '/api/egress'), { action: 'list' });
  assert.deepEqual(matchEgressRoute('DELETE', '/api/egress/EG_0123456789ab'), { action: 'stop', egressId: 'EG_0123456789ab' });
  assert.deepEqual(matchEgressRoute('POST', '/api/egress/EG_0123456789ab/stop'), { action: 'stop', egressId: 'EG_0123456789ab' });
  assert.equal(matchEgressRoute('PUT', '/api/egress'), null);
  assert.equal(matchEgressRoute('GET', '/api/egress/EG_0123456789ab'), null);
  assert.equal(matchEgressRoute('GET', '/api/rooms'), undefined);
  for (const id of ['..%2F..%2Fetc%2Fpasswd', 'EG_x', '%00', '%zz']) {
    assert.throws(() => matchEgressRoute('DELETE', `/api/egress/${id}`), (e: unknown) => e instanceof EgressError && e.status === 404 && e.code === 'EGRESS_NOT_FOUND');
  }
});

test('worker budget: takes up to the limit, then 503 TOO_MANY_WORKERS; release is idempotent', () => {
  const budget = new WorkerBudget(3);
  const a = budget.take(2);
  const b = budget.take(1);
  assert.throws(() => budget.take(1), (e: unknown) => e instanceof EgressError && e.status === 503 && e.code === 'TOO_MANY_WORKERS' && /mcu\.maxWorkers = 3/.test(e.message));
  a();
  a();
  assert.equal(budget.inUse, 1);
  b();
  assert.equal(budget.inUse, 0);
});

test('ended egresses are dropped from the list past recording.keepEnded (oldest first) or recording.keepEndedS; running ones never', () => {
  const e = (egressId: string, endedAt?: number) => ({ egressId, ...(endedAt !== undefined && { endedAt }) });
  const list = [e('running'), e('old', 1000), e('newer', 5000), e('newest', 9000), e('running2')];
  assert.deepEqual(endedToDrop(list, 10_000, 100, 3_600_000), []);
  assert.deepEqual(endedToDrop(list, 10_000, 2, 3_600_000), ['old']);
  assert.deepEqual(endedToDrop(list, 10_000, 0, 3_600_000).sort(), ['newer', 'newest', 'old']);
  assert.deepEqual(endedToDrop(list, 10_000, 100, 6000).sort(), ['old'], 'ended over 6 s ago');
});

test('config: mcu.* and recording.dir defaults; each bad value names its key', () => {
  const c = validateConfig({});
  assert.deepEqual(c.mcu, { width: 640, height: 360, fps: 15, maxBitrateBps: 1_500_000, maxWorkers: 8, python: '/usr/bin/python3' });
  assert.deepEqual(c.recording, { keepEnded: 100, keepEndedS: 3600 });
  assert.equal(validateConfig({ sfu: { mode: 'mcu', rooms: { town: 'mcu' } } }).sfu.mode, 'mcu');
  const bad: [Record<string, unknown>, string][] = [
    [{ mcu: { width: 641 } }, 'mcu.width'],
    [{ mcu: { fps: 0 } }, 'mcu.fps'],
    [{ mcu: { maxWorkers: 0 } }, 'mcu.maxWorkers'],
    [{ mcu: { maxBitrateBps: 10 } }, 'mcu.maxBitrateBps'],
    [{ mcu: { codec: 'h264' } }, 'mcu.codec'],
    [{ recording: { dir: '' } }, 'recording.dir'],
    [{ recording: { keepEnded: -1 } }, 'recording.keepEnded'],
    [{ recording: { keepEndedS: 1.5 } }, 'recording.keepEndedS'],
    [{ sfu: { mode: 'mesh' } }, 'sfu.mode'],
  ];
  for (const [raw, key] of bad) assert.throws(() => validateConfig(raw), (e: unknown) => e instanceof ConfigError && e.key === key, key);
  assert.equal(defaultRecordingDir({ HOME: '/home/ana' }), '/home/ana/.local/share/dari/recordings');
  assert.equal(defaultRecordingDir({ XDG_DATA_HOME: '/data', HOME: '/home/ana' }), '/data/dari/recordings');
});
