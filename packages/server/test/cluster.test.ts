/**
 * Scale-out at the protocol level: three `dari serve` processes in one real Redis (Debian's
 * redis-server on a free loopback port), plain WebSocket clients. Placement, relay both ways,
 * cluster-wide REST, a Redis restart mid-call, a node killed with SIGKILL, a node drained with
 * SIGTERM. Nodes heartbeat every 250 ms and are dead 1 s after the last one.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startRedis, type RedisProcess } from '@dari/testkit';
import { metric } from './turn-process.js';
import { TEST_NODE_TTL_MS, api, joinVia, resumeVia, spawnNode, until, type NodeProcess } from './cluster-helpers.js';
import { devToken, type Client } from './helpers.js';

let redis: RedisProcess;
const nodes = new Map<string, NodeProcess>();
const clients: Client[] = [];
const gone: NodeProcess[] = [];

before(async () => {
  redis = await startRedis();
  for (const n of await Promise.all(['A', 'B', 'C'].map((id) => spawnNode(redis.url, id)))) nodes.set(n.id, n);
  // Everyone sees everyone.
  for (const n of nodes.values()) await until(async () => ((await metric(`${n.url}/metrics`, 'dari_cluster_nodes')) === 3 ? true : undefined), 5000, `${n.id} sees 3 nodes`);
});

after(async () => {
  if (process.env['CLUSTER_TEST_LOGS']) for (const n of [...nodes.values(), ...gone]) console.log(`--- ${n.id}\n${n.log.join('\n')}`);
  for (const c of clients) c.close();
  await Promise.all([...nodes.values()].map((n) => n.kill()));
  await redis?.stop();
});

const node = (id: string): NodeProcess => nodes.get(id)!;
const keep = <T extends { client: Client }>(x: T): T => (clients.push(x.client), x);
const listed = async (via: string, room: string) => {
  const r = await api(node(via).url, '/api/rooms');
  return r.status === 200 ? (r.body['rooms'] as { room: string; node: string; participants: number }[]).find((x) => x.room === room) : undefined;
};

test('placement and relay: a room lives on one node, joins through any node reach it, both ways', async () => {
  const alice = keep(await joinVia(node('A').wsUrl, 'r1', 'alice'));
  assert.equal(alice.joined.node, 'A', 'least-loaded, tie to the node the join reached');
  const bob = keep(await joinVia(node('B').wsUrl, 'r1', 'bob'));
  assert.equal(bob.joined.node, 'A', 'relayed to the room node');
  assert.deepEqual(bob.joined.participants.map((p) => p.identity), ['alice']);
  await alice.client.next((m) => m.type === 'participant-joined' && m.participant.identity === 'bob');
  // Signals, SDP and errors cross the relay in both directions.
  bob.client.send({ type: 'signal', signal: { type: 'chat', data: 'hi', to: ['alice'] } });
  const sig = await alice.client.next((m) => m.type === 'signal');
  assert.ok(sig.type === 'signal' && sig.signal.from === 'bob' && sig.signal.data === 'hi');
  alice.client.send({ type: 'sdp', to: 'bob', description: { type: 'offer', sdp: 'v=0\r\n' } });
  const sdp = await bob.client.next((m) => m.type === 'sdp');
  assert.ok(sdp.type === 'sdp' && sdp.from === 'alice');
  bob.client.send('not json');
  await bob.client.error('BAD_JSON');
  // Cluster-wide REST from the third node.
  const r1 = await until(async () => { const r = await listed('C', 'r1'); return r?.participants === 2 ? r : undefined; }, 3000, 'r1 listed');
  assert.equal(r1.node, 'A');
  const info = await api(node('C').url, '/api/rooms?room=r1');
  assert.equal(info.status, 200);
  assert.equal(info.body['node'], 'A');
  assert.deepEqual((info.body['participants'] as { identity: string }[]).map((p) => p.identity).sort(), ['alice', 'bob']);
  assert.equal((await api(node('C').url, '/api/rooms?room=nope')).status, 404);
  // POST /api/rooms on any node places the room (B and C are tied and emptier than A: C keeps it).
  const created = await api(node('C').url, '/api/rooms', { method: 'POST', body: JSON.stringify({ room: 'r2', mode: 'p2p' }) });
  assert.equal(created.status, 200);
  assert.equal(created.body['node'], 'C');
  const carol = keep(await joinVia(node('B').wsUrl, 'r2', 'carol'));
  assert.equal(carol.joined.node, 'C');
  assert.equal(carol.joined.mode, 'p2p');
  assert.equal((await api(node('A').url, '/api/rooms', { method: 'POST', body: JSON.stringify({ room: 'r2', mode: 'bogus' }) })).status, 400);
  // Metrics.
  assert.ok((await metric(`${node('B').url}/metrics`, 'dari_cluster_relayed_messages_total', 'direction="to-room"')) >= 3);
  assert.ok((await metric(`${node('B').url}/metrics`, 'dari_cluster_relayed_messages_total', 'direction="to-client"')) >= 3);
  assert.equal(await metric(`${node('B').url}/metrics`, 'dari_cluster_relayed_sessions'), 2);
  assert.equal(await metric(`${node('A').url}/metrics`, 'dari_cluster_node_rooms', 'node="A"'), 1);
  // The node link refuses anyone without the cluster's signature.
  const status = await new Promise<number>((resolve) => {
    const ws = new WebSocket(`${node('A').url.replace('http', 'ws')}/cluster`);
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () => resolve(101));
    ws.on('error', () => undefined);
  });
  assert.equal(status, 401);
  // A relayed client that goes away is reconnecting on the room node, like a direct one.
  bob.client.close();
  const upd = await alice.client.next((m) => m.type === 'participant-updated' && m.participant.identity === 'bob');
  assert.ok(upd.type === 'participant-updated' && upd.participant.state === 'reconnecting');
  const back = keep(await joinVia(node('C').wsUrl, 'r1', 'bob', bob.joined.participant.sid));
  assert.equal(back.joined.resumed, true, 'resumed through a third node');
});

test('ingress and egress calls reach the room node from any node; lists gather every node', async () => {
  const post = (via: string, path: string, body: unknown) => api(node(via).url, path, { method: 'POST', body: JSON.stringify(body) });
  // r1 lives on A. A camera added through C joins r1 there (nothing listens on port 9: it stays
  // connecting/reconnecting, which is all this test needs); its URL's password is never returned.
  const cam = await post('C', '/api/ingress', { room: 'r1', url: 'rtsp://user:pw@127.0.0.1:9/cam', identity: 'cam1' });
  assert.equal(cam.status, 201, JSON.stringify(cam.body));
  assert.doesNotMatch(JSON.stringify(cam.body), /pw/);
  const id = cam.body['id'] as string;
  const info = await api(node('B').url, '/api/rooms?room=r1');
  assert.equal(info.body['node'], 'A');
  assert.ok((info.body['participants'] as { identity: string }[]).some((p) => p.identity === 'cam1'), 'the camera is a participant on A');
  const listed = await api(node('B').url, '/api/ingress');
  assert.deepEqual((listed.body['ingresses'] as { id: string; node: string }[]).map((i) => [i.id, i.node]), [[id, 'A']]);
  // Errors of the room node come back with their status: the identity is taken on A, a bad URL is A's 400.
  assert.equal((await post('B', '/api/ingress', { room: 'r1', url: 'rtsp://127.0.0.1:9/other', identity: 'cam1' })).status, 409);
  const bad = await post('B', '/api/ingress', { room: 'r1', url: 'http://127.0.0.1/cam', identity: 'cam2' });
  assert.equal(bad.status, 400);
  assert.equal((await post('B', '/api/ingress', { room: 'r1', url: 'rtsp://h/c' })).status, 400, 'identity missing: refused before any node is asked');
  // Egress: B does not hold r1, A does: A's answer (no such track) proves the call went there.
  const track = await post('B', '/api/egress', { room: 'r1', type: 'track', track: 'TR_none' });
  assert.equal(track.status, 404);
  assert.equal((track.body['error'] as { code: string }).code, 'TRACK_NOT_FOUND');
  assert.equal((await post('B', '/api/egress', { room: 'nowhere', type: 'room-composite' })).status, 404);
  assert.deepEqual((await api(node('C').url, '/api/egress')).body, { egresses: [] });
  assert.equal((await api(node('C').url, '/api/egress/EG_000000000000', { method: 'DELETE' })).status, 404);
  // Removal through a third node finds the camera on A.
  assert.equal((await api(node('B').url, `/api/ingress/${id}`, { method: 'DELETE' })).status, 200);
  assert.equal((await api(node('C').url, `/api/ingress/${id}`, { method: 'DELETE' })).status, 404);
  assert.equal((await api(node('C').url, '/api/ingress/%zz', { method: 'DELETE' })).status, 404, 'malformed escapes: 404, not a 500');
  assert.deepEqual((await api(node('A').url, '/api/ingress')).body, { ingresses: [] });
  await until(async () => {
    const r = await api(node('C').url, '/api/rooms?room=r1');
    return (r.body['participants'] as { identity: string }[]).every((p) => p.identity !== 'cam1') ? true : undefined;
  }, 3000, 'cam1 gone from r1');
});

/** A minimal valid offer (one Opus section): passes the SDP checks, never connected. */
const offer = (direction: 'sendonly' | 'recvonly') =>
  ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0',
    'a=fingerprint:sha-256 12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'c=IN IP4 0.0.0.0', 'a=mid:0', `a=${direction}`, 'a=ice-ufrag:abcd',
    'a=ice-pwd:abcdefghijklmnopqrstuvwx', 'a=setup:actpass', 'a=rtcp-mux', 'a=rtpmap:111 opus/48000/2', ''].join('\r\n');

test('WHIP and WHEP through any node: the session lives on the room node, its requests reach it', async () => {
  const sdp = (via: string, path: string, token: string, body: string) =>
    fetch(`${node(via).url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/sdp' }, body });
  const del = async (via: string, path: string, token: string) => (await fetch(`${node(via).url}${path}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })).status;
  const inR1 = async (identity: string) => ((await api(node('C').url, '/api/rooms?room=r1')).body['participants'] as { identity: string }[]).some((p) => p.identity === identity);
  // A WHIP publisher posting to B joins r1 on A; the answer and Location come back through B.
  const obs = await devToken('r1', 'obs');
  const whip = await sdp('B', '/whip', obs, offer('sendonly'));
  assert.equal(whip.status, 201, await whip.clone().text());
  const location = whip.headers.get('location')!;
  assert.match(location, /^\/whip\/[^/]+$/, 'relative: later requests go through the load balancer too');
  assert.match(await whip.text(), /^v=0\r\n/);
  assert.ok(await inR1('obs'), 'the publisher is a participant of r1 (on A)');
  // A client's own forwarded mark is not a node's: its POST is still passed on to A.
  const forger = await devToken('r1', 'forger');
  const forged = await fetch(`${node('B').url}/whip`, { method: 'POST', headers: { authorization: `Bearer ${forger}`, 'content-type': 'application/sdp', 'x-dari-forwarded': '1' }, body: offer('sendonly') });
  assert.equal(forged.status, 201, await forged.clone().text());
  assert.ok(await inR1('forger'), 'the forger joined r1 on A, not a copy of r1 on B');
  assert.equal(await del('B', forged.headers.get('location')!, forger), 200);
  // A WHEP player posting to C plays it: only A's SFU has the publisher (C alone would answer 404).
  const viewer = await devToken('r1', 'viewer');
  const whep = await sdp('C', '/whep/obs', viewer, offer('recvonly'));
  assert.equal(whep.status, 201, await whep.clone().text());
  const playLocation = whep.headers.get('location')!;
  assert.match(playLocation, /^\/whep\/obs\/[^/]+$/);
  // PATCH/DELETE through nodes that do not hold the session find it on A.
  assert.equal(await del('B', playLocation, viewer), 200);
  assert.equal(await del('C', location, await devToken('r1', 'someone-else')), 403, "A's answer: the token is not the session's");
  assert.equal(await del('C', location, obs), 200);
  assert.equal(await del('B', location, obs), 404, 'gone on every node');
  await until(async () => ((await inR1('obs')) ? undefined : true), 3000, 'obs gone from r1');
});

test('Redis down: rooms go on, joins that need another node fail typed; Redis back: the cluster reconciles', async () => {
  const dave = keep(await joinVia(node('A').wsUrl, 'r3', 'dave'));
  const owner = dave.joined.node!;
  const other = ['A', 'B', 'C'].find((id) => id !== owner && id !== 'A')!;
  const erin = keep(await joinVia(node(other).wsUrl, 'r3', 'erin'));
  assert.equal(erin.joined.node, owner);
  await until(() => listed('A', 'r3'), 3000, 'r3 listed');
  await redis.kill();
  await until(async () => ((await metric(`${node(other).url}/metrics`, 'dari_cluster_redis_up')) === 0 ? true : undefined), 3000, 'redis_up 0');
  // The call goes on, relay included.
  erin.client.send({ type: 'signal', signal: { type: 'chat', data: 'still here', to: ['dave'] } });
  await dave.client.next((m) => m.type === 'signal' && m.signal.data === 'still here');
  // A new room needs the cluster: typed error, close 1013 (the SDK retries).
  const refused = await joinVia(node(other).wsUrl, 'r4', 'fay').catch((err: { frame?: { code?: string } }) => err.frame);
  assert.equal((refused as { code?: string } | undefined)?.code, 'CLUSTER_UNAVAILABLE');
  // The room's node still takes joins into the room it holds.
  keep(await joinVia(node(owner).wsUrl, 'r3', 'gus'));
  assert.equal((await api(node('A').url, '/api/rooms')).status, 503);
  await redis.restart();
  // Every node registers again and re-claims its rooms by itself.
  await until(async () => { const r = await listed(other, 'r3'); return r?.node === owner ? r : undefined; }, 5000, 'r3 back in redis');
  await until(async () => ((await listed('B', 'r1'))?.node === 'A' ? true : undefined), 3000, 'r1 back');
  const hal = keep(await joinVia(node(other).wsUrl, 'r3', 'hal'));
  assert.equal(hal.joined.node, owner, 'placement after the restart finds the room on its node');
  assert.deepEqual(hal.joined.participants.map((p) => p.identity).sort(), ['dave', 'erin', 'gus']);
});

test('node death: its rooms move once its heartbeat expires, and participants resume there', async () => {
  const ivy = keep(await joinVia(node('A').wsUrl, 'r5', 'ivy'));
  const dead = ivy.joined.node!;
  const via = ['A', 'B', 'C'].filter((id) => id !== dead);
  const jon = keep(await joinVia(node(via[0]!).wsUrl, 'r5', 'jon'));
  const kim = keep(await joinVia(node(via[1]!).wsUrl, 'r5', 'kim'));
  await until(async () => ((await listed(via[0]!, 'r5'))?.participants === 3 ? true : undefined), 3000, 'snapshot of 3');
  const t0 = Date.now();
  await node(dead).kill();
  gone.push(node(dead));
  nodes.delete(dead);
  // Relayed clients are told to reconnect at once; everyone resumes through a live node.
  const closedCodes = await Promise.all([ivy, jon, kim].map((p) => p.client.closed));
  assert.ok(closedCodes.filter((c) => c === 1012).length >= 2, `relayed clients told to reconnect: ${closedCodes}`);
  const urls = via.map((id) => node(id).wsUrl);
  const resumed = await Promise.all([ivy, jon, kim].map((p, i) => resumeVia([urls[i % 2]!, urls[(i + 1) % 2]!], 'r5', p.joined.participant.identity, p.joined.participant.sid)));
  const took = Date.now() - t0;
  for (const r of resumed) keep(r);
  for (const [i, r] of resumed.entries()) {
    assert.equal(r.joined.resumed, true, 'same session: peer connections survive');
    assert.equal(r.joined.participant.sid, [ivy, jon, kim][i]!.joined.participant.sid);
    assert.notEqual(r.joined.node, dead);
  }
  assert.equal(new Set(resumed.map((r) => r.joined.node)).size, 1, 'one new node');
  assert.ok(took < TEST_NODE_TTL_MS + 4000, `back ${took} ms after the kill (TTL ${TEST_NODE_TTL_MS} ms)`);
  // The room goes on: a signal reaches everyone on the new node.
  resumed[0]!.client.send({ type: 'signal', signal: { type: 'chat', data: 'moved' } });
  await Promise.all(resumed.slice(1).map((r) => r.client.next((m) => m.type === 'signal' && m.signal.data === 'moved')));
  const newNode = resumed[0]!.joined.node!;
  assert.equal(await metric(`${node(newNode).url}/metrics`, 'dari_cluster_rooms_adopted_total'), 1);
  await until(async () => ((await metric(`${node(via[0]!).url}/metrics`, 'dari_cluster_nodes')) === 2 ? true : undefined), 3000, '2 nodes');
  await until(async () => ((await listed(via[1]!, 'r5'))?.node === newNode ? true : undefined), 3000, 'r5 listed on its new node');
});

test('drain (SIGTERM): no new rooms, the room goes on until drainTimeoutS, then moves and its clients resume elsewhere', async () => {
  const d = await spawnNode(redis.url, 'D', ['cluster.selector=local', 'cluster.drainTimeoutS=1.5']);
  nodes.set('D', d);
  const live = [...nodes.keys()].filter((id) => id !== 'D');
  await until(async () => ((await metric(`${node(live[0]!).url}/metrics`, 'dari_cluster_nodes')) === 3 ? true : undefined), 3000, 'D seen');
  const lea = keep(await joinVia(d.wsUrl, 'r6', 'lea'));
  assert.equal(lea.joined.node, 'D', 'selector local');
  const max = keep(await joinVia(node(live[0]!).wsUrl, 'r6', 'max'));
  assert.equal(max.joined.node, 'D');
  await until(async () => ((await listed(live[0]!, 'r6'))?.participants === 2 ? true : undefined), 3000, 'r6 snapshot');
  const exited = d.term();
  await until(async () => ((await fetch(`${d.url}/readyz`)).status === 503 ? true : undefined), 2000, 'readyz 503');
  // A new room joined through the draining node goes elsewhere.
  const ned = keep(await joinVia(d.wsUrl, 'r7', 'ned'));
  assert.notEqual(ned.joined.node, 'D');
  // The room's participants are told to reconnect after drainTimeoutS, and resume on another node.
  const told = await lea.client.next((m) => m.type === 'closing', 5000);
  assert.ok(told.type === 'closing' && told.reason === 'reconnect');
  await max.client.next((m) => m.type === 'closing' && m.reason === 'reconnect', 5000);
  const urls = live.map((id) => node(id).wsUrl);
  const [l2, m2] = await Promise.all([resumeVia(urls, 'r6', 'lea', lea.joined.participant.sid), resumeVia([...urls].reverse(), 'r6', 'max', max.joined.participant.sid)]);
  keep(l2);
  keep(m2);
  assert.equal(l2.joined.resumed, true);
  assert.equal(m2.joined.resumed, true);
  assert.notEqual(l2.joined.node, 'D');
  assert.equal(l2.joined.node, m2.joined.node);
  assert.equal(await exited, 0, 'the drained node exits cleanly');
  gone.push(d);
  nodes.delete('D');
});
