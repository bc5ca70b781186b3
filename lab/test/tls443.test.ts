/**
 * The NAT matrix's 443-only row (issue #14 item 3): behind `fw443`, a firewall that lets nothing
 * out but TCP to the server's port 443 (coturn#508), Chromium loads the app over HTTPS, signals
 * over WSS and relays its media through TURN over TLS, all on port 443 of one `dari serve`
 * (`turn.tlsPort: 443`, sharing the HTTPS listener). In a P2P room with a cone client, and in an
 * SFU room (both legs). `dari nat-check` run behind it says TURN over TLS on 443 is needed and
 * offered. Needs root; without it every test skips with the reason.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { joinWithSdk, waitForMedia, type Participant } from '@dari/testkit';
import type { Browser } from 'playwright-core';
import { Lab, labUnavailable, listNamespaces, sweepStaleLabs } from '../src/netns.js';
import { buildTopology, HTTPS_PORT, SERVER_IP, TURN_PORT, type Topology, type Host } from '../src/topology.js';
import { DARI_BIN, chromiumIn, labCertificate, labToken, startDari } from '../src/dari.js';

const skip = labUnavailable();
let topo: Topology | undefined;
let cert: { cert: string; key: string } | undefined;
let origin = '';
const browsers: Browser[] = [];
const results: string[] = [];
const SFU_ROOM = 'sfu-443';

before(async () => {
  if (skip) return;
  sweepStaleLabs();
  const lab = new Lab();
  try {
    topo = buildTopology(lab);
  } catch (err) {
    lab.destroy();
    throw err;
  }
  cert = labCertificate();
  const server = await startDari(topo.lab, topo.server, ['--set', `turn.tlsPort=${HTTPS_PORT}`, '--set', `sfu.rooms.${SFU_ROOM}=sfu`], { port: HTTPS_PORT, tls: cert });
  origin = server.url;
});

after(async () => {
  for (const b of browsers) await b.close().catch(() => undefined);
  const id = topo?.lab.id;
  topo?.lab.destroy();
  if (cert) rmSync(dirname(cert.cert), { recursive: true, force: true });
  if (results.length) console.log(['# NAT matrix, 443-only row (path; time from connect to peer connection connected):', ...results.map((r) => `#   ${r}`)].join('\n'));
  if (id) assert.deepEqual(listNamespaces(id), [], 'the lab removed every namespace it created');
});

async function participant(host: Host, room: string): Promise<Participant> {
  // The lab's certificate is self-signed: the page, WSS and TURN over TLS all accept it.
  const browser = await chromiumIn(host, ['--ignore-certificate-errors']);
  browsers.push(browser);
  return joinWithSdk(browser, origin, origin, labToken(room, host.name), host.name);
}

interface Leg {
  local?: string;
  relayProtocol?: string;
  remote?: string;
  remoteAddress?: string;
  remotePort?: number;
}

/** The selected candidate pair of one of the page's peer connections (`room.getPeerConnection(name)`). */
function selectedPair(p: Participant, name: string): Promise<Leg> {
  return p.page.evaluate(async (name) => {
    const room = (window as unknown as Record<string, { getPeerConnection(n: string): RTCPeerConnection | undefined }>)['room']!;
    const report = await room.getPeerConnection(name)!.getStats();
    const byId = new Map<string, Record<string, unknown>>();
    report.forEach((s: Record<string, unknown>) => byId.set(s['id'] as string, s));
    const transport = [...byId.values()].find((s) => s['type'] === 'transport' && s['selectedCandidatePairId']);
    const pair = transport ? byId.get(transport['selectedCandidatePairId'] as string) : undefined;
    const local = pair ? byId.get(pair['localCandidateId'] as string) : undefined;
    const remote = pair ? byId.get(pair['remoteCandidateId'] as string) : undefined;
    // The relay's server side: the local relay candidate's url names the TURN server and port.
    return { local: local?.['candidateType'] as string, relayProtocol: local?.['relayProtocol'] as string, remote: remote?.['candidateType'] as string, remoteAddress: remote?.['address'] as string, remotePort: Number(/:(\d+)\?/.exec(String(local?.['url'] ?? ''))?.[1]) };
  }, name);
}

const describe = (l: Leg) => `${l.local}(${l.relayProtocol ?? '-'}, TURN port ${l.remotePort}) ↔ ${l.remote} ${l.remoteAddress}`;

test('443 only ↔ cone (P2P): HTTPS, WSS and TURN over TLS on port 443', { skip, timeout: 120_000 }, async () => {
  const t = topo!;
  const fw = await participant(t.hosts['fw443']!, 'p2p-443');
  const cone = await participant(t.hosts['coneA']!, 'p2p-443');
  try {
    await Promise.all([waitForMedia(fw, ['coneA'], 45_000), waitForMedia(cone, ['fw443'], 45_000)]);
    const leg = await selectedPair(fw, 'coneA');
    const connectedMs = await fw.page.evaluate(() => (window as unknown as Record<string, { peerConnectedAt: Record<string, number> }>)['log']!.peerConnectedAt['coneA']!);
    results.push(`fw443 ↔ coneA (p2p room): ${describe(leg)}; ${Math.round(connectedMs)} ms`);
    assert.equal(leg.local, 'relay', describe(leg));
    assert.equal(leg.relayProtocol, 'tls', describe(leg));
    assert.equal(leg.remotePort, HTTPS_PORT, 'TURN over TLS on the HTTPS port');
  } finally {
    await fw.page.context().close();
    await cone.page.context().close();
  }
});

test('443 only in an SFU room: both legs through TURN over TLS on port 443', { skip, timeout: 120_000 }, async () => {
  const t = topo!;
  const fw = await participant(t.hosts['fw443']!, SFU_ROOM);
  const cone = await participant(t.hosts['coneB']!, SFU_ROOM);
  try {
    await Promise.all([waitForMedia(fw, ['coneB'], 45_000), waitForMedia(cone, ['fw443'], 45_000)]);
    const publisher = await selectedPair(fw, 'sfu:publisher');
    const subscriber = await selectedPair(fw, 'sfu');
    results.push(`fw443 → SFU (sfu room): publisher leg ${describe(publisher)}, subscriber leg ${describe(subscriber)}`);
    for (const leg of [publisher, subscriber]) {
      assert.equal(leg.local, 'relay', describe(leg));
      assert.equal(leg.relayProtocol, 'tls', describe(leg));
      assert.equal(leg.remotePort, HTTPS_PORT);
      assert.equal(leg.remoteAddress, SERVER_IP, 'the SFU itself is the remote end');
    }
  } finally {
    await fw.page.context().close();
    await cone.page.context().close();
  }
});

test('dari nat-check behind the 443-only firewall: TURN over TLS on 443 needed, and offered', { skip, timeout: 60_000 }, async () => {
  const host = topo!.hosts['fw443']!;
  const out = await new Promise<string>((resolve) =>
    execFile('ip', ['netns', 'exec', host.ns, process.execPath, DARI_BIN, 'nat-check', '--stun', `${SERVER_IP}:${TURN_PORT}`, '--json'], { timeout: 45_000 }, (_e, stdout, stderr) => resolve(stdout + stderr)),
  );
  const report = JSON.parse(out) as { outlook: string; udp: boolean; tcp: boolean; tls: string; verdict: string };
  results.push(`nat-check fw443: udp ${report.udp}, tcp ${report.tcp}, tls ${report.tls} → ${report.outlook}: ${report.verdict}`);
  assert.equal(report.udp, false);
  assert.equal(report.tcp, false);
  assert.equal(report.tls, 'stun');
  assert.equal(report.outlook, 'turn-tls-needed');
});
