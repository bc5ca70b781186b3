/**
 * The room-scoped REST calls, RTSP ingress (`/api/ingress`) and egress (`/api/egress`), and the
 * node each one runs on. On one node they run here. In a cluster (docs/scaling.md, issue #13)
 * any node answers them:
 * - a call naming a room runs on the node the room lives on (an ingress places a room that is
 *   nowhere yet, as a first join would; an egress of a room that is nowhere is 404 here);
 * - a list gathers every live node's entries, each with its `node`; a node that does not answer
 *   is named in `unreachable` rather than failing the whole list;
 * - a call naming an id is tried on each live node, this one first, until one knows the id
 *   (404 only when every node answered that it does not).
 * Calls cross nodes as the node links' `api` RPC (authenticated links, packages/cluster).
 */
import { z } from 'zod';
import { StoreUnavailableError } from '@dari/cluster';
import { RpcError } from '../cluster/relay.js';
import type { ClusterRouter } from '../cluster/router.js';
import type { IngressManager } from '../ingress/ingress-manager.js';
import { IngressError } from '../ingress/ingress-policy.js';
import type { EgressManager } from '../egress/egress-manager.js';
import { EgressError } from '../egress/egress-types.js';
import { EgressRequestSchema } from './egress-routes.js';

/** An answer other than 2xx: HTTP status, error code, message. */
export class RoomApiError extends Error {
  override readonly name = 'RoomApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Body of `POST /api/ingress`: a camera for a room (the URL is checked by ingress-policy.ts). */
export const IngressRequestSchema = z.strictObject({
  room: z.string().min(1).max(256),
  url: z.string().min(1).max(4096),
  identity: z.string().min(1).max(256),
  name: z.string().max(256).optional(),
});

/** One room-scoped call, as it crosses a node link (validated again on arrival). */
export const RoomApiCallSchema = z.discriminatedUnion('action', [
  z.strictObject({ action: z.literal('ingress-add'), body: IngressRequestSchema }),
  z.strictObject({ action: z.literal('ingress-list') }),
  z.strictObject({ action: z.literal('ingress-remove'), id: z.string().min(1).max(64) }),
  z.strictObject({ action: z.literal('egress-start'), body: EgressRequestSchema }),
  z.strictObject({ action: z.literal('egress-list'), room: z.string().max(128).optional() }),
  z.strictObject({ action: z.literal('egress-stop'), id: z.string().min(1).max(64) }),
]);
export type RoomApiCall = z.infer<typeof RoomApiCallSchema>;

/** What runs the calls on this node (an absent manager answers 404) and the cluster, if any. */
export interface RoomApiDeps {
  ingress?: IngressManager | undefined;
  egress?: EgressManager | undefined;
  cluster?: ClusterRouter | undefined;
}

/**
 * Parses a request body into a call's body.
 * @throws RoomApiError 400 `INVALID_REQUEST` naming the field
 */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.code === 'unrecognized_keys' ? (issue as { keys: string[] }).keys[0] : issue?.path.join('.');
  throw new RoomApiError(400, 'INVALID_REQUEST', `${field || '(body)'}: ${issue?.message ?? 'invalid'}`);
}

/** Maps the errors a call may end in to its HTTP answer; anything else is rethrown as is. */
function asApiError(err: unknown): never {
  if (err instanceof RoomApiError) throw err;
  if (err instanceof IngressError || err instanceof EgressError || err instanceof RpcError) throw new RoomApiError(err.status, err.code, err.message);
  if (err instanceof StoreUnavailableError) throw new RoomApiError(503, 'CLUSTER_UNAVAILABLE', err.message);
  throw err;
}

/**
 * Runs a call on this node only.
 * @returns the JSON body of a 2xx answer
 * @throws RoomApiError (404 `NOT_FOUND` when this node has no such manager or id; the managers' own errors)
 */
export async function runHere(deps: RoomApiDeps, call: RoomApiCall): Promise<unknown> {
  try {
    switch (call.action) {
      case 'ingress-add':
        return await ingress(deps).add(call.body);
      case 'ingress-list':
        return { ingresses: ingress(deps).list() };
      case 'ingress-remove':
        if (!ingress(deps).remove(call.id)) throw new RoomApiError(404, 'NOT_FOUND', `no ingress ${JSON.stringify(call.id)}`);
        return { id: call.id, removed: true };
      case 'egress-start': {
        const { room, type, format, track } = call.body;
        return await egress(deps).start({ room, type, ...(format !== undefined && { format }), ...(track !== undefined && { track }) });
      }
      case 'egress-list':
        return { egresses: egress(deps).list(call.room) };
      case 'egress-stop':
        return await egress(deps).stop(call.id);
    }
  } catch (err) {
    return asApiError(err);
  }
}

function ingress(deps: RoomApiDeps): IngressManager {
  if (!deps.ingress) throw new RoomApiError(404, 'NOT_FOUND', 'RTSP ingest is not available on this server');
  return deps.ingress;
}

function egress(deps: RoomApiDeps): EgressManager {
  if (!deps.egress) throw new RoomApiError(404, 'NOT_FOUND', 'recording is not available on this server');
  return deps.egress;
}

/**
 * Runs a call where it belongs: here without a cluster, else on the room's node, on every node
 * (lists) or on the node that knows the id.
 * @returns the JSON body of a 2xx answer. Lists in a cluster: each entry with its `node`; when
 *   some nodes do not answer, the others' entries and `unreachable: [{node, error}]`; a node
 *   without the manager (404) lists nothing.
 * @throws RoomApiError (503 `CLUSTER_UNAVAILABLE` when Redis or the room's node does not answer,
 *   when no node answers a list, or when an id is on no answering node and some node did not answer)
 */
export async function runRoomApi(deps: RoomApiDeps, call: RoomApiCall): Promise<unknown> {
  const cluster = deps.cluster;
  if (!cluster) return runHere(deps, call);
  try {
    switch (call.action) {
      case 'ingress-add':
      case 'egress-start': {
        const home = await cluster.roomHome(call.body.room, call.action === 'ingress-add');
        return home === undefined || home === cluster.id ? await runHere(deps, call) : await cluster.callApi(home, call);
      }
      case 'ingress-list':
      case 'egress-list': {
        const key = call.action === 'ingress-list' ? 'ingresses' : 'egresses';
        const nodes = cluster.liveNodes();
        const unreachable: { node: string; error: string }[] = [];
        const lists = await Promise.all(
          nodes.map(async (node) => {
            try {
              const body = (node === cluster.id ? await runHere(deps, call) : await cluster.callApi(node, call)) as Record<string, unknown>;
              const list = Array.isArray(body[key]) ? (body[key] as Record<string, unknown>[]) : [];
              return list.map((entry) => ({ ...entry, node }));
            } catch (err) {
              if (statusOf(err) === 404) return []; // a node without this manager has nothing to list
              if (!unanswered(err)) throw err;
              unreachable.push({ node, error: errorText(err) });
              return [];
            }
          }),
        );
        if (unreachable.length === nodes.length) throw new RoomApiError(503, 'CLUSTER_UNAVAILABLE', `no node answered: ${unreachable.map((u) => `${u.node} (${u.error})`).join(', ')}`);
        return unreachable.length === 0 ? { [key]: lists.flat() } : { [key]: lists.flat(), unreachable };
      }
      case 'ingress-remove':
      case 'egress-stop': {
        const what = call.action === 'ingress-remove' ? 'ingress' : 'egress';
        const silent: string[] = [];
        for (const node of cluster.liveNodes()) {
          try {
            return node === cluster.id ? await runHere(deps, call) : await cluster.callApi(node, call);
          } catch (err) {
            if (statusOf(err) === 404) continue;
            if (!unanswered(err)) throw err;
            silent.push(`${node} (${errorText(err)})`);
          }
        }
        if (silent.length > 0) throw new RoomApiError(503, 'CLUSTER_UNAVAILABLE', `no ${what} ${JSON.stringify(call.id)} on the nodes that answered; not answering: ${silent.join(', ')}`);
        throw new RoomApiError(404, call.action === 'ingress-remove' ? 'NOT_FOUND' : 'EGRESS_NOT_FOUND', `no ${what} ${JSON.stringify(call.id)} on any node`);
      }
    }
  } catch (err) {
    return asApiError(err);
  }
}

function statusOf(err: unknown): number | undefined {
  return err instanceof RoomApiError || err instanceof RpcError ? err.status : undefined;
}

/** A node that did not answer: its link is down or it is not alive (relay.ts maps transport errors and timeouts to this). */
function unanswered(err: unknown): boolean {
  return (err instanceof RoomApiError || err instanceof RpcError) && err.code === 'CLUSTER_UNAVAILABLE';
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Serves a call another node forwarded here (the cluster's `api` RPC).
 * @throws RpcError with the call's HTTP status and code
 */
export async function serveForwarded(deps: RoomApiDeps, params: unknown): Promise<unknown> {
  const parsed = RoomApiCallSchema.safeParse(params);
  if (!parsed.success) throw new RpcError(400, 'INVALID_REQUEST', `forwarded call: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  try {
    return await runHere(deps, parsed.data);
  } catch (err) {
    if (err instanceof RoomApiError) throw new RpcError(err.status, err.code, err.message);
    throw err;
  }
}
