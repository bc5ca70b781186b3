/** Scale-out configuration: redis.url and cluster.* keys, each bad value named in the error. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../src/config.js';

const load = (set: string[], flags: Record<string, string> = {}) => loadConfig({ set, ...flags }, {});

test('without redis.url Dari is one node; with it, the cluster keys get their defaults', () => {
  assert.equal(load([]).config.redis.url, undefined);
  // No turn.secret needed: its default derives from the API keys, which every node shares.
  const c = load([], { 'redis-url': 'redis://127.0.0.1:6379/2' }).config;
  assert.equal(c.redis.url, 'redis://127.0.0.1:6379/2');
  assert.deepEqual(
    { selector: c.cluster.selector, hb: c.cluster.heartbeatIntervalMs, ttl: c.cluster.nodeTtlMs, drain: c.cluster.drainTimeoutS, prefix: c.cluster.keyPrefix },
    { selector: 'least-loaded', hb: 1000, ttl: 3000, drain: 300, prefix: 'dari:' },
  );
  assert.equal(loadConfig({}, { DARI_REDIS__URL: 'rediss://u:p@redis.example:6380', DARI_TURN__ENABLED: 'false' }).config.redis.url, 'rediss://u:p@redis.example:6380');
});

test('bad scale-out settings: a ConfigError naming the key', () => {
  const cases: [string[], Record<string, string>, string][] = [
    [[], { 'redis-url': 'http://127.0.0.1:6379' }, 'redis.url'],
    [['turn.enabled=false', 'cluster.selector=busiest'], { 'redis-url': 'redis://h:1' }, 'cluster.selector'],
    [['turn.enabled=false', 'cluster.nodeId=has space'], { 'redis-url': 'redis://h:1' }, 'cluster.nodeId'],
    [['turn.enabled=false', 'cluster.nodeUrl=ftp://x'], { 'redis-url': 'redis://h:1' }, 'cluster.nodeUrl'],
    [['turn.enabled=false', 'cluster.heartbeatIntervalMs=1000', 'cluster.nodeTtlMs=1500'], { 'redis-url': 'redis://h:1' }, 'cluster.nodeTtlMs'],
    [['turn.enabled=false', 'cluster.drainTimeoutS=-1'], { 'redis-url': 'redis://h:1' }, 'cluster.drainTimeoutS'],
    [['turn.enabled=false', 'dev=true'], { 'redis-url': 'redis://h:1', host: '0.0.0.0' }, 'cluster.nodeUrl'],
  ];
  for (const [set, flags, key] of cases) {
    assert.throws(() => load(set, flags), (err: unknown) => err instanceof ConfigError && err.key === key, `${key}: ${JSON.stringify([set, flags])}`);
  }
});
