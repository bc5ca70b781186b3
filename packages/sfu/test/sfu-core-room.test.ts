/**
 * The SFU core's room model with a manual clock, no werift: the subscription policy and explicit
 * subscriptions (server-side participants), active speakers, every ignore reason, and the rule
 * that the core does no I/O (no werift, sockets, timers or clock of its own).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Sim } from './sim.js';
import { SfuCore } from '../src/core/sfu-core.js';
import { IGNORE_REASONS, type IgnoreReason, type SfuAction } from '../src/core/sfu-core-types.js';
import type { SubscriptionPolicy } from '../src/core/subscription-policy.js';
import { OPUS } from '../src/rtp/codec.js';
import { VP8 } from '../src/rtp/vp8.js';

test('policy: browsers get every other participant\'s publications, server-side participants only what they subscribe to', () => {
  const sim = new Sim();
  sim.browser('ana');
  sim.browser('ben');
  sim.apply(sim.core.join('mix', 'mixer', 0));
  sim.apply(sim.core.addSubscriber({ id: 'mix/in', participant: 'mix', ready: true }, 0));
  sim.video('ana-cam', 'ana', false);
  sim.video('composite', 'mix', false);
  const subscribers = (pub: string) => ['ana', 'ben', 'mix/in'].filter((s) => sim.core.subscription(s, pub));
  assert.deepEqual(subscribers('ana-cam'), ['ben'], 'not to herself, not to the mixer by policy');
  assert.deepEqual(subscribers('composite'), ['ana', 'ben'], 'a server-side publication reaches browsers');
  sim.apply(sim.core.subscribe('mix/in', 'ana-cam', 0));
  assert.deepEqual(subscribers('ana-cam'), ['ben', 'mix/in']);
  // An MCU room: browsers get only the composite. Explicit subscriptions stay.
  const mcu: SubscriptionPolicy = { name: 'mcu', subscribes: (s, p) => s.participant.kind === 'browser' && p.participant.kind === 'mixer' };
  const mark = sim.actions.length;
  sim.apply(sim.core.setPolicy(mcu, 0));
  assert.deepEqual(subscribers('ana-cam'), ['mix/in']);
  assert.deepEqual(subscribers('composite'), ['ana', 'ben']);
  assert.deepEqual(sim.of('unsubscribe', mark).map((a) => `${a.subscription.subscriber} ${a.subscription.publication.id}`), ['ben ana-cam']);
  assert.deepEqual(sim.of('renegotiate', mark).map((a) => a.subscriber), ['ben']);
  sim.apply(sim.core.unsubscribe('mix/in', 'ana-cam', 0));
  assert.deepEqual(subscribers('ana-cam'), []);
});

test('active speakers: everyone hears of a change; a browser joining later is told the current list', () => {
  const sim = new Sim();
  sim.browser('ana');
  sim.browser('ben');
  sim.audio('ana-mic', 'ana', 20);
  sim.audio('ben-mic', 'ben', 127);
  sim.run(1000);
  const lists = sim.of('active-speakers');
  assert.equal(lists.length, 1);
  assert.deepEqual(lists[0]!.speakers.map((s) => s.identity), ['ana']);
  assert.equal(lists[0]!.to, undefined, 'to everyone');
  const mark = sim.actions.length;
  sim.browser('cid');
  assert.deepEqual(sim.of('active-speakers', mark), [{ type: 'active-speakers', speakers: [{ identity: 'ana', level: 0.1 }], to: 'cid' }]);
  sim.apply(sim.core.join('cam', 'ingress', sim.now));
  assert.equal(sim.of('active-speakers', mark).length, 1, 'server-side participants are not told');
  sim.apply(sim.core.leave('ana', sim.now));
  sim.run(300);
  assert.deepEqual(sim.of('active-speakers', mark).at(-1)!.speakers, [], 'a speaker who left drops out');
});

test('bad input is ignored with a reason, counted by reason, and changes nothing', () => {
  const core = new SfuCore();
  const reasons: IgnoreReason[] = [];
  const take = (actions: readonly SfuAction[]) => {
    for (const a of actions) if (a.type === 'ignore') reasons.push(a.reason);
  };
  core.join('ana', 'browser', 0);
  core.addSubscriber({ id: 'ana', participant: 'ana' }, 0);
  const video = { id: 'v', participant: 'ana', kind: 'video' as const, streamId: 's', layers: [{ rid: '' }], codec: VP8 };
  core.publish(video, 0);
  take(core.join('ana', 'browser', 0));
  take(core.leave('nobody', 0));
  take(core.publish({ ...video, id: 'x', participant: 'nobody' }, 0));
  take(core.publish(video, 0));
  take(core.unpublish('x', 0));
  take(core.rtp(core.publication('v')!, 3, { ssrc: 1, sequenceNumber: 1, timestamp: 1, payload: new Uint8Array(1), size: 13 }, null, 0, { forward: () => undefined }));
  take(core.addSubscriber({ id: 'ana', participant: 'ana' }, 0));
  take(core.removeSubscriber('nobody', 0));
  take(core.unsubscribe('ana', 'v', 0));
  take(core.trackSettings('ana', 'ben', 'ben-cam', 640, 360, 0));
  take(core.feedback({ type: 'remb', subscriber: 'ana', bitrateBps: -5 }, 0));
  take(core.publish({ id: 'a', participant: 'ana', kind: 'audio', streamId: 'a', layers: [{ rid: 'q' }, { rid: 'f' }], codec: OPUS }, 0));
  core.join('ben', 'browser', 0);
  core.addSubscriber({ id: 'ben', participant: 'ben' }, 0);
  take(core.feedback({ type: 'pli', subscription: core.subscription('ben', 'v')! }, 0));
  take(core.subscribe('ben', 'v', 0));
  assert.deepEqual(
    [...new Set(reasons)].sort(),
    [...IGNORE_REASONS].sort(),
    'each reason shows up (already-subscribed: ben is the policy\'s subscriber already; no-layer-forwarded: a PLI before its transport is up)',
  );
  const m = core.takeMetrics();
  assert.equal(Object.values(m.ignored).reduce((a, b) => a + (b ?? 0), 0), reasons.length, 'each counted');
  assert.equal(m.ignored['unknown-participant'], 2);
  assert.deepEqual(core.stats(), { participants: 2, publications: 1, subscriptions: 1 });
  assert.throws(() => new SfuCore({ keyframeRequestIntervalMs: -1 }), /keyframeRequestIntervalMs/);
  assert.throws(() => new SfuCore({ firstOutSsrc: 2 ** 32 }), /firstOutSsrc/);
});

/** Module specifiers and clock/timer uses of the core's sources and everything they import. */
function coreImportGraph(entry: string): { files: string[]; problems: string[] } {
  const problems: string[] = [];
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    problems.push(...ioProblems(text).map((p) => `${file}: ${p}`));
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)[^'";]*?from\s+['"]([^'"]+)['"]/g)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
    }
  };
  visit(entry);
  return { files: [...seen], problems };
}

/** What a sans-I/O module must not do. */
function ioProblems(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)[^'";]*?from\s+['"]([^'"]+)['"]/g)) {
    if (/^(werift|(node:)?(dgram|net|tls|http|https|timers|child_process|worker_threads))(\/|$)/.test(m[1]!)) out.push(`imports ${m[1]}`);
  }
  for (const call of ['Date.now(', 'setTimeout(', 'setInterval(', 'setImmediate(', 'performance.now(', 'process.hrtime']) if (text.includes(call)) out.push(`uses ${call}`);
  return out;
}

test('the core does no I/O: nothing under src/core (or what it imports) uses werift, sockets, timers or a clock', () => {
  const src = join(dirname(fileURLToPath(import.meta.url)), '../../src');
  const { files, problems } = coreImportGraph(join(src, 'core/index.ts'));
  const coreFiles = readdirSync(join(src, 'core')).map((f) => join(src, 'core', f));
  for (const f of coreFiles) assert.ok(files.includes(f), `${f} is reachable from core/index.ts, so it is checked`);
  assert.ok(files.some((f) => f.endsWith('rtp/vp8.ts')), 'imports are followed');
  assert.deepEqual(problems, []);
  // The check can fail: each of these is caught.
  assert.deepEqual(ioProblems("import { RtpPacket } from 'werift';\nimport dgram from 'node:dgram';\nexport { x } from 'net';\nconst t = Date.now();"), ['imports werift', 'imports node:dgram', 'imports net', 'uses Date.now(']);
});
