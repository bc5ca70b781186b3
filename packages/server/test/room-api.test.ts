/**
 * runRoomApi's cluster fan-out (http/room-api.ts): a list gathers the nodes that answer and names
 * the ones that don't; an id call is 404 only when every node answered. The node links are
 * replaced by a table of answers: this test is about the merge, not the RPC transport
 * (cluster.test and e2e-cluster run the real links).
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import { runRoomApi, RoomApiError, type RoomApiDeps } from '../src/http/room-api.js';
import { RpcError } from '../src/cluster/relay.js';
import type { ClusterRouter } from '../src/cluster/router.js';
import type { EgressManager } from '../src/egress/egress-manager.js';

type Answer = unknown | RpcError;

function deps(answers: Record<string, Answer>, here: { id: string; egresses: unknown[] }): RoomApiDeps {
  const cluster = {
    id: here.id,
    liveNodes: () => [here.id, ...Object.keys(answers)],
    callApi: async (node: string) => {
      const a = answers[node];
      if (a instanceof RpcError) throw a;
      return a;
    },
  } as unknown as ClusterRouter;
  const egress = {
    list: () => here.egresses,
    stop: async (id: string) => {
      throw new RoomApiError(404, 'EGRESS_NOT_FOUND', `no egress ${id}`);
    },
  } as unknown as EgressManager;
  return { cluster, egress };
}

test('a cluster list: entries of the nodes that answer, with their node; the silent ones in `unreachable`', async () => {
  const d = deps(
    { b: { egresses: [{ id: 'EG_b' }] }, c: new RpcError(503, 'CLUSTER_UNAVAILABLE', 'node c is not alive') },
    { id: 'a', egresses: [{ id: 'EG_a' }] },
  );
  assert.deepEqual(await runRoomApi(d, { action: 'egress-list' }), {
    egresses: [
      { id: 'EG_a', node: 'a' },
      { id: 'EG_b', node: 'b' },
    ],
    unreachable: [{ node: 'c', error: 'node c is not alive' }],
  });
  // Every node answering: no `unreachable` key at all.
  const all = deps({ b: { egresses: [] } }, { id: 'a', egresses: [] });
  assert.deepEqual(await runRoomApi(all, { action: 'egress-list' }), { egresses: [] });
});

test('a cluster list: a node without the manager lists nothing; no node answering is 503; another error is the answer', async () => {
  const noRecording = deps({ b: { egresses: [{ id: 'EG_b' }] } }, { id: 'a', egresses: [] });
  noRecording.egress = undefined; // this node has no recording: 404 here, an empty part of the list
  assert.deepEqual(await runRoomApi(noRecording, { action: 'egress-list' }), { egresses: [{ id: 'EG_b', node: 'b' }] });

  const none = deps({ b: new RpcError(503, 'CLUSTER_UNAVAILABLE', 'b down') }, { id: 'a', egresses: [] });
  none.egress = { list: () => { throw new RoomApiError(503, 'CLUSTER_UNAVAILABLE', 'a down'); } } as unknown as EgressManager;
  await assert.rejects(runRoomApi(none, { action: 'egress-list' }), (e: unknown) => e instanceof RoomApiError && e.status === 503 && e.code === 'CLUSTER_UNAVAILABLE' && /a \(a down\), b \(b down\)/.test(e.message));

  const broken = deps({ b: new RpcError(500, 'INTERNAL', 'boom') }, { id: 'a', egresses: [] });
  await assert.rejects(runRoomApi(broken, { action: 'egress-list' }), (e: unknown) => e instanceof RoomApiError && e.status === 500);
});

test('an id call: found on a later node; 404 when every node says no; 503 when a node that may hold it is silent', async () => {
  const found = deps({ b: new RpcError(404, 'EGRESS_NOT_FOUND', 'no'), c: { id: 'EG_x', status: 'complete' } }, { id: 'a', egresses: [] });
  assert.deepEqual(await runRoomApi(found, { action: 'egress-stop', id: 'EG_x' }), { id: 'EG_x', status: 'complete' });

  const nowhere = deps({ b: new RpcError(404, 'EGRESS_NOT_FOUND', 'no') }, { id: 'a', egresses: [] });
  await assert.rejects(runRoomApi(nowhere, { action: 'egress-stop', id: 'EG_x' }), (e: unknown) => e instanceof RoomApiError && e.status === 404 && e.code === 'EGRESS_NOT_FOUND');

  const silent = deps({ b: new RpcError(503, 'CLUSTER_UNAVAILABLE', 'b down') }, { id: 'a', egresses: [] });
  await assert.rejects(
    runRoomApi(silent, { action: 'egress-stop', id: 'EG_x' }),
    (e: unknown) => e instanceof RoomApiError && e.status === 503 && /not answering: b \(b down\)/.test(e.message),
  );

  // Any other error of the node that holds the id is that node's answer.
  const refused = deps({ b: new RpcError(409, 'CONFLICT', 'already stopping') }, { id: 'a', egresses: [] });
  await assert.rejects(runRoomApi(refused, { action: 'egress-stop', id: 'EG_x' }), (e: unknown) => e instanceof RoomApiError && e.status === 409);
});
