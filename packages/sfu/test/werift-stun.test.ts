import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Connection } from 'werift';
import { disableWeriftDefaultStun } from '../src/werift/patches/index.js';

test('werift ICE has no STUN server unless one is configured (no traffic to stun.l.google.com)', () => {
  const stunOf = (options: Record<string, unknown>) => (new (Connection as unknown as new (controlling: boolean, o: object) => { stunServer?: unknown })(true, options)).stunServer;
  assert.deepEqual(stunOf({}), ['stun.l.google.com', 19302], 'werift 0.25 falls back to Google: the patch is needed');
  assert.equal(disableWeriftDefaultStun(), true);
  assert.equal(disableWeriftDefaultStun(), true, 'idempotent');
  assert.equal(stunOf({}), undefined);
  assert.deepEqual(stunOf({ stunServer: ['127.0.0.1', 3478] }), ['127.0.0.1', 3478], 'a configured server still counts');
});
