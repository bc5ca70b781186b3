import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../src/config.js';
import { DEV_API_KEY } from '../src/tokens.js';

function file(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'dari-config-'));
  const path = join(dir, 'dari.yaml');
  writeFileSync(path, text);
  return path;
}

function throwsKey(fn: () => unknown, key: string): void {
  assert.throws(fn, (err: unknown) => err instanceof ConfigError && err.key === key && err.message.includes(key));
}

test('defaults: 127.0.0.1:7880, dev mode with the dev key', () => {
  const r = loadConfig({}, {});
  assert.equal(r.config.host, '127.0.0.1');
  assert.equal(r.config.port, 7880);
  assert.equal(r.devMode, true);
  assert.deepEqual([...r.keys.keys()], [DEV_API_KEY]);
  assert.equal(r.config.signaling.maxMessageBytes, 65536);
  assert.equal(r.config.signaling.reconnectGraceMs, 10000);
});

test('file < environment < flags', () => {
  const path = file('port: 9000\nsignaling:\n  reconnectGraceMs: 1000\n  joinTimeoutMs: 3000\n');
  const r = loadConfig({ config: path, port: '9002' }, { DARI_PORT: '9001', DARI_SIGNALING__RECONNECT_GRACE_MS: '2000' });
  assert.equal(r.config.port, 9002);
  assert.equal(r.config.signaling.reconnectGraceMs, 2000);
  assert.equal(r.config.signaling.joinTimeoutMs, 3000);
  const viaEnvFile = loadConfig({}, { DARI_CONFIG: path });
  assert.equal(viaEnvFile.config.port, 9000);
});

test('keys from DARI_KEYS turn dev mode off', () => {
  const r = loadConfig({}, { DARI_KEYS: 'prod: a-production-secret-that-is-long-enough' });
  assert.equal(r.devMode, false);
  assert.equal(r.keys.get('prod'), 'a-production-secret-that-is-long-enough');
});

test('invalid values name their key', () => {
  throwsKey(() => loadConfig({ port: 'abc' }, {}), 'port');
  throwsKey(() => loadConfig({}, { DARI_SIGNALING__MAX_MESSAGE_BYTES: 'lots' }), 'signaling.maxMessageBytes');
  throwsKey(() => loadConfig({ config: file('log:\n  level: loud\n') }, {}), 'log.level');
  throwsKey(() => loadConfig({ config: file('keys:\n  k: short\n') }, {}), 'keys.k');
  throwsKey(() => loadConfig({ set: ['signaling.rateLimitPerS=-1'] }, {}), 'signaling.rateLimitPerS');
  throwsKey(() => loadConfig({ set: ['signaling.maxParticipantsPerRoom=1001'] }, {}), 'signaling.maxParticipantsPerRoom');
  throwsKey(() => loadConfig({ config: file('rtc:\n  iceServers:\n    - {}\n') }, {}), 'rtc.iceServers.0.urls');
});

test('unknown keys are refused by name', () => {
  throwsKey(() => loadConfig({ config: file('prot: 1\n') }, {}), 'prot');
  throwsKey(() => loadConfig({ config: file('signaling:\n  maxMessageByte: 5\n') }, {}), 'signaling.maxMessageByte');
});

test('an unreadable or non-YAML file names the config key', () => {
  throwsKey(() => loadConfig({ config: '/nonexistent/dari.yaml' }, {}), 'config');
  throwsKey(() => loadConfig({ config: file('a: [1,\n') }, {}), 'config');
  throwsKey(() => loadConfig({ config: file('- 1\n- 2\n') }, {}), 'config');
});

test('dev mode refuses a non-loopback bind unless --dev', () => {
  throwsKey(() => loadConfig({ host: '0.0.0.0' }, {}), 'host');
  const r = loadConfig({ host: '0.0.0.0', dev: true }, {});
  assert.equal(r.devMode, true);
  assert.equal(r.loopbackOnly, false);
  const keyed = loadConfig({ host: '0.0.0.0', keys: 'k: a-production-secret-that-is-long-enough' }, {});
  assert.equal(keyed.devMode, false);
  for (const host of ['127.0.0.1', '127.0.0.2', '::1', 'localhost']) assert.equal(loadConfig({ host }, {}).loopbackOnly, true, host);
});

test('sfu.compositeFallback: on by default with documented thresholds; a key turns it off; bad values name their key', () => {
  const d = loadConfig({}, {}).config.sfu.compositeFallback;
  assert.deepEqual(d, { enabled: true, rampUpMs: 5000, holdMs: 2000, recoverRatio: 1.5, probeIntervalMs: 20_000, maxProbeIntervalMs: 160_000, probeMs: 10_000, unmeasuredVideoBps: 150_000, audioBps: 40_000, stopAfterMs: 10_000 });
  assert.equal(loadConfig({ set: ['sfu.compositeFallback.enabled=false'] }, {}).config.sfu.compositeFallback.enabled, false);
  assert.equal(loadConfig({}, { DARI_SFU__COMPOSITE_FALLBACK__HOLD_MS: '500' }).config.sfu.compositeFallback.holdMs, 500);
  throwsKey(() => loadConfig({ set: ['sfu.compositeFallback.enabled=maybe'] }, {}), 'sfu.compositeFallback.enabled');
  throwsKey(() => loadConfig({ set: ['sfu.compositeFallback.holdMs=-1'] }, {}), 'sfu.compositeFallback.holdMs');
  throwsKey(() => loadConfig({ set: ['sfu.compositeFallback.recoverRatio=0.5'] }, {}), 'sfu.compositeFallback.recoverRatio');
  throwsKey(() => loadConfig({ config: file('sfu:\n  compositeFallback:\n    probeIntervalMs: 30000\n    maxProbeIntervalMs: 20000\n') }, {}), 'sfu.compositeFallback.maxProbeIntervalMs');
  throwsKey(() => loadConfig({ config: file('sfu:\n  compositeFallback:\n    hold: 1\n') }, {}), 'sfu.compositeFallback.hold');
});
