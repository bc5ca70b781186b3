/**
 * The NAT matrix on real kernel NATs: for each pair of lab clients, two Chromium instances (each
 * in its own network namespace) join a room through `dari serve` in the "public" namespace; the
 * selected candidate pair (getStats) must be the path the seed notes promise, and video must
 * decode on both sides. `dari nat-check` must classify each NAT, checked against coturn's
 * turnutils_natdiscovery. Needs root; without it, every test skips with the reason.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { joinWithSdk, waitForMedia, type Participant } from '@dari/testkit';
import type { Browser } from 'playwright-core';
import { Lab, labUnavailable, listNamespaces, sweepStaleLabs } from '../src/netns.js';
import { buildTopology, SERVER_IP, TURN_PORT, type Topology, type Host } from '../src/topology.js';
import { DARI_BIN, chromiumIn, labToken, startDari } from '../src/dari.js';

const skip = labUnavailable();
let topo: Topology | undefined;
const browsers: Browser[] = [];
/** Rows for the closing report. */
const results: string[] = [];

before(() => {
  if (skip) return;
  const stale = sweepStaleLabs();
  if (stale.length) console.log(`# removed ${stale.length} stale lab namespaces`);
  const lab = new Lab();
  try {
    topo = buildTopology(lab);
  } catch (err) {
    lab.destroy();
    throw err;
  }
});

after(async () => {
  for (const b of browsers) await b.close().catch(() => undefined);
  const id = topo?.lab.id;
  topo?.lab.destroy();
  if (results.length) console.log(['# NAT matrix (path; time from connect to peer connection connected):', ...results.map((r) => `#   ${r}`)].join('\n'));
  if (id) assert.deepEqual(listNamespaces(id), [], 'the lab removed every namespace it created');
});

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve) => execFile(cmd, args, { timeout: timeoutMs }, (_err, stdout, stderr) => resolve(stdout + stderr)));
}

async function participant(host: Host, room: string): Promise<Participant> {
  const browser = await chromiumIn(host);
  browsers.push(browser);
  return joinWithSdk(browser, `http://${SERVER_IP}:7880`, `http://${SERVER_IP}:7880`, labToken(room, host.name), host.name);
}

interface Expect {
  path: 'direct' | 'relay';
  /** Allowed local candidate types on the first client's side. */
  localTypes?: string[];
  remoteTypes?: string[];
  relayProtocol?: string;
}

const SFU_ROOM = 'sfu-fw';

async function scenario(a: string, b: string, expect: Expect): Promise<void> {
  const t = topo!;
  const room = `${a}-${b}`;
  const pa = await participant(t.hosts[a]!, room);
  const pb = await participant(t.hosts[b]!, room);
  try {
    await Promise.all([waitForMedia(pa, [b], 45_000), waitForMedia(pb, [a], 45_000)]);
    const info = async (p: Participant) => (await p.page.evaluate(async () => (window as unknown as Record<string, any>)['room'].getConnectionInfo()))[0];
    const ia = await info(pa);
    const ib = await info(pb);
    const connectedMs = await pb.page.evaluate((id) => (window as unknown as Record<string, any>)['log'].peerConnectedAt[id], a);
    const describe = (i: any) => `${i.local.type}/${i.local.protocol}${i.local.relayProtocol ? `(${i.local.relayProtocol})` : ''} ↔ ${i.remote.type}/${i.remote.protocol}`;
    results.push(`${a} ↔ ${b}: ${describe(ia)}; ${Math.round(connectedMs)} ms`);
    assert.equal(ia.path, expect.path, `${a}: ${describe(ia)}`);
    assert.equal(ib.path, expect.path, `${b}: ${describe(ib)}`);
    if (expect.localTypes) assert.ok(expect.localTypes.includes(ia.local.type), `${a} local ${ia.local.type}`);
    if (expect.remoteTypes) assert.ok(expect.remoteTypes.includes(ia.remote.type), `${a} remote ${ia.remote.type}`);
    if (expect.relayProtocol) assert.equal(ia.local.relayProtocol, expect.relayProtocol, `${a} relay protocol`);
  } finally {
    await pa.page.context().close();
    await pb.page.context().close();
  }
}

test('lab: dari serve starts in the public namespace', { skip }, async () => {
  // One room runs through the SFU whatever its size (the SFU row); the others are 1:1 `auto` rooms, i.e. P2P.
  await startDari(topo!.lab, topo!.server, ['--set', `sfu.rooms.${SFU_ROOM}=sfu`]);
});

test('same LAN: host ↔ host', { skip, timeout: 120_000 }, () => scenario('lanA', 'lanB', { path: 'direct', localTypes: ['host'], remoteTypes: ['host'] }));

test('public ↔ cone: direct, no relay', { skip, timeout: 120_000 }, () => scenario('pub', 'coneA', { path: 'direct' }));

test('cone ↔ cone (different NATs): direct through srflx/prflx', { skip, timeout: 120_000 }, () =>
  scenario('coneA', 'coneB', { path: 'direct', localTypes: ['srflx', 'prflx'], remoteTypes: ['srflx', 'prflx'] }));

test('cone ↔ symmetric: relay', { skip, timeout: 120_000 }, () => scenario('coneB', 'symA', { path: 'relay' }));

test('symmetric ↔ symmetric: relay', { skip, timeout: 120_000 }, () => scenario('symA', 'symB', { path: 'relay' }));

test('UDP-blocked ↔ cone: relay, reaching TURN over TCP', { skip, timeout: 120_000 }, () => scenario('fw', 'coneA', { path: 'relay', localTypes: ['relay'], relayProtocol: 'tcp' }));

test('SFU room: the UDP-blocked client publishes and subscribes through TURN over TCP', { skip, timeout: 120_000 }, async () => {
  const t = topo!;
  const fw = await participant(t.hosts['fw']!, SFU_ROOM);
  const cone = await participant(t.hosts['coneA']!, SFU_ROOM);
  try {
    await Promise.all([waitForMedia(fw, ['coneA'], 45_000), waitForMedia(cone, ['fw'], 45_000)]);
    // Both legs of the fw client (its publisher and subscriber peer connections to the SFU).
    const legs = await fw.page.evaluate(async () => {
      const room = (window as unknown as Record<string, any>)['room'];
      const leg = async (name: string) => {
        const report: RTCStatsReport = await room.getPeerConnection(name).getStats();
        const byId = new Map<string, any>();
        report.forEach((s: any) => byId.set(s.id, s));
        const transport = [...byId.values()].find((s) => s.type === 'transport' && s.selectedCandidatePairId);
        const pair = transport ? byId.get(transport.selectedCandidatePairId) : undefined;
        const local = pair ? byId.get(pair.localCandidateId) : undefined;
        const remote = pair ? byId.get(pair.remoteCandidateId) : undefined;
        return { local: local?.candidateType, relayProtocol: local?.relayProtocol, remote: remote?.candidateType, remoteAddress: remote?.address };
      };
      return { mode: room.mode, publisher: await leg('sfu:publisher'), subscriber: await leg('sfu') };
    });
    const [publisherMs, subscriberMs] = await fw.page.evaluate(() => ['sfu:publisher', 'sfu:subscriber'].map((leg) => (window as unknown as Record<string, any>)['log'].peerConnectedAt[leg] as number));
    results.push(`fw → SFU (sfu room): publisher leg ${legs.publisher.local}(${legs.publisher.relayProtocol}) ↔ ${legs.publisher.remote} ${legs.publisher.remoteAddress}, subscriber leg ${legs.subscriber.local}(${legs.subscriber.relayProtocol}) ↔ ${legs.subscriber.remote}; publisher leg connected ${Math.round(publisherMs!)} ms, subscriber leg ${Math.round(subscriberMs!)} ms (offered once the other side publishes)`);
    assert.equal(legs.mode, 'sfu');
    for (const leg of [legs.publisher, legs.subscriber]) {
      assert.equal(leg.local, 'relay', JSON.stringify(leg));
      assert.equal(leg.relayProtocol, 'tcp', JSON.stringify(leg));
      assert.equal(leg.remoteAddress, SERVER_IP, 'the SFU itself is the remote end');
    }
  } finally {
    await fw.page.context().close();
    await cone.page.context().close();
  }
});

test('the meeting app\'s connection inspector shows the relayed TCP path behind the UDP-blocked firewall', { skip, timeout: 120_000 }, async () => {
  const t = topo!;
  const open = async (host: Host) => {
    const browser = await chromiumIn(host);
    browsers.push(browser);
    const page = await (await browser.newContext()).newPage();
    await page.goto(`http://${SERVER_IP}:7880/?room=inspect&name=${host.name}&join=1`);
    return page;
  };
  const fw = await open(t.hosts['fw']!);
  const cone = await open(t.hosts['coneB']!);
  try {
    await fw.waitForSelector('.tile.remote[data-name="coneB"] .inspect-btn', { timeout: 45_000 });
    await fw.click('.tile.remote[data-name="coneB"] .inspect-btn');
    await fw.waitForFunction(() => document.querySelector('#insp-path')?.textContent === 'Relayed through TURN', undefined, { timeout: 45_000 });
    assert.equal(await fw.textContent('#insp-why'), 'Relayed over TCP: UDP is blocked on your network.');
    assert.match((await fw.textContent('#insp-local')) ?? '', /^relay · UDP · TURN over TCP · 203\.0\.113\.10:\d+$/);
    await fw.waitForFunction(() => /^\d+×\d+/.test(document.querySelector('#insp-resolution')?.textContent ?? ''), undefined, { timeout: 30_000 });
    const local = await fw.$$eval('#insp-local-candidates li', (els) => els.map((e) => e.textContent ?? ''));
    assert.ok(local.some((c) => c.includes('host')) && local.some((c) => c.includes('relay')), local.join(' | '));
    assert.ok(!local.some((c) => c.startsWith('srflx')), 'no srflx: UDP to STUN is blocked');
    await cone.click('.tile.remote[data-name="fw"] .inspect-btn');
    await cone.waitForFunction(() => document.querySelector('#insp-path')?.textContent !== 'Not connected yet' && !!document.querySelector('#insp-path')?.textContent, undefined, { timeout: 30_000 });
    assert.equal(await cone.textContent('#insp-why'), 'Relayed: their network does not allow direct connections.');
  } finally {
    await fw.context().close();
    await cone.context().close();
  }
});

const expectedNat: Record<string, { outlook: string; mapping?: string; filtering?: string }> = {
  pub: { outlook: 'direct-likely', mapping: 'endpoint-independent' },
  coneA: { outlook: 'direct-likely', mapping: 'endpoint-independent', filtering: 'address-and-port-dependent' },
  symA: { outlook: 'turn-needed', mapping: 'address-and-port-dependent', filtering: 'address-and-port-dependent' },
  fw: { outlook: 'turn-tcp-needed' },
  lanA: { outlook: 'direct-likely', mapping: 'endpoint-independent', filtering: 'address-and-port-dependent' },
};

test('dari nat-check classifies every lab NAT, in agreement with turnutils_natdiscovery', { skip, timeout: 180_000 }, async () => {
  const rows: string[] = [];
  for (const [name, want] of Object.entries(expectedNat)) {
    const host = topo!.hosts[name]!;
    const out = await run('ip', ['netns', 'exec', host.ns, process.execPath, DARI_BIN, 'nat-check', '--stun', `${SERVER_IP}:${TURN_PORT}`, '--json'], 30_000);
    const report = JSON.parse(out) as { outlook: string; mapping?: string; filtering?: string; verdict: string };
    assert.equal(report.outlook, want.outlook, `${name}: ${out}`);
    if (want.mapping) assert.equal(report.mapping, want.mapping, `${name} mapping`);
    if (want.filtering) assert.equal(report.filtering, want.filtering, `${name} filtering`);
    const coturn = await run('ip', ['netns', 'exec', host.ns, 'turnutils_natdiscovery', '-m', '-f', '-p', String(TURN_PORT), SERVER_IP], 60_000);
    const theirMapping = /NAT with (.+?) Mapping!/.exec(coturn)?.[1] ?? /(No NAT)/.exec(coturn)?.[1] ?? 'no answer';
    const theirFiltering = /NAT with (.+?) Filtering!/.exec(coturn)?.[1] ?? 'no answer';
    const normalise = (s: string) => s.toLowerCase().replace(/ /g, '-');
    const agree = report.mapping === undefined || report.mapping === null ? theirMapping === 'no answer' : normalise(theirMapping) === report.mapping || (theirMapping === 'No NAT' && name === 'pub');
    rows.push(`${name}: dari ${report.mapping ?? '-'} / ${report.filtering ?? '-'} (${report.outlook}); coturn ${theirMapping} / ${theirFiltering}${agree ? '' : '  <-- DISAGREE'}`);
    assert.ok(agree, `mapping disagreement for ${name}: dari ${report.mapping}, coturn ${theirMapping}`);
  }
  results.push(...rows.map((r) => `nat-check ${r}`));
});
