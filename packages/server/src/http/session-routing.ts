/**
 * WHIP and WHEP sessions in a cluster (docs/scaling.md). A session lives on its room's node, where
 * the room's SFU is; any node behind the load balancer may take its requests:
 * - `POST /whip` and `POST /whep/<identity>`: the node reads the bearer token's room, places the
 *   room if it is new (as a first join would) and, when the room lives elsewhere, passes the
 *   request on to that node and its answer back (SDP answer, `Location`, `ETag`, `Link`). The
 *   `Location` stays relative, so the session's later requests come through the load balancer too.
 * - `PATCH` and `DELETE` on a session this node does not hold are passed on to the other live
 *   nodes in turn until one holds it (a 404 from every node is this node's 404).
 * Passed-on requests carry `x-dari-forwarded: <HMAC-SHA256 of "METHOD path" with an API secret>`
 * (every node has the same API keys) and are never passed on again; a client cannot forge the
 * mark to make a node hold a room that lives elsewhere. The user's own bearer token goes with
 * them: the receiving node checks it as it checks any request.
 * The media then flows between the client and the room's node directly (its ICE candidates).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClusterRouter } from '../cluster/router.js';
import { WhipError } from './whip-policy.js';
import { bearerClaims, readBody, reply } from './whip.js';

/** Header marking a request one node passed on to another. */
export const FORWARDED_HEADER = 'x-dari-forwarded';

/** The mark of a request passed on by a node: base64url HMAC-SHA256 of `METHOD path` with `secret`. */
function mark(secret: string, method: string, path: string): string {
  return createHmac('sha256', secret).update(`${method} ${path}`).digest('base64url');
}

/** Whether `value` is a node's mark for this request (made with any of the API secrets). */
function markedByNode(keys: ReadonlyMap<string, string>, value: string, method: string, path: string): boolean {
  const got = Buffer.from(value);
  for (const secret of keys.values()) {
    const want = Buffer.from(mark(secret, method, path));
    if (want.length === got.length && timingSafeEqual(want, got)) return true;
  }
  return false;
}

/** Request headers a WHIP/WHEP endpoint reads (RFC 9725 §4). */
const REQUEST_HEADERS = ['authorization', 'content-type', 'if-match', 'accept'] as const;
/** Answer headers passed back to the client. */
const ANSWER_HEADERS = ['content-type', 'location', 'etag', 'link', 'accept-patch'] as const;

export interface SessionRouting {
  cluster: ClusterRouter;
  keys: ReadonlyMap<string, string>;
  /** Whether this node holds the session `path` names. */
  holds(path: string): boolean;
}

/**
 * Passes a WHIP/WHEP request on to the node it belongs to, when that is another node.
 * @returns true when the request was answered (passed on), false when this node should answer it
 */
export async function routeSession(r: SessionRouting, req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
  const forwarded = req.headers[FORWARDED_HEADER];
  if (typeof forwarded === 'string' && markedByNode(r.keys, forwarded, req.method ?? '', path)) return false;
  if (req.method === 'POST') {
    let room: string;
    try {
      room = (await bearerClaims(req, r.keys)).room;
    } catch {
      return false; // this node answers the 401
    }
    const home = await r.cluster.roomHome(room, true);
    if (home === undefined || home === r.cluster.id) return false;
    const url = r.cluster.nodeUrl(home);
    if (url === undefined) return false;
    return passOn(req, res, path, [url], r.keys);
  }
  // Any forwarded header stops a second hop (no loop between nodes whatever the mark says).
  if ((req.method === 'PATCH' || req.method === 'DELETE') && forwarded === undefined && !r.holds(path)) {
    const others = r.cluster.liveNodes().filter((n) => n !== r.cluster.id).map((n) => r.cluster.nodeUrl(n)).filter((u): u is string => u !== undefined);
    return passOn(req, res, path, others, r.keys);
  }
  return false;
}

/** Sends the request to each base URL in turn until one answers other than 404; relays that answer. */
async function passOn(req: IncomingMessage, res: ServerResponse, path: string, bases: string[], keys: ReadonlyMap<string, string>): Promise<boolean> {
  let body: string;
  try {
    body = await readBody(req);
  } catch (err) {
    if (!(err instanceof WhipError)) throw err;
    reply(res, err.status, { 'content-type': 'application/json; charset=utf-8' }, JSON.stringify({ error: { code: err.code, message: err.message } }));
    return true;
  }
  const secret = keys.values().next().value;
  const headers: Record<string, string> = secret === undefined ? {} : { [FORWARDED_HEADER]: mark(secret, req.method ?? '', path) };
  for (const name of REQUEST_HEADERS) {
    const v = req.headers[name];
    if (typeof v === 'string') headers[name] = v;
  }
  for (const base of bases) {
    let answer: Response;
    try {
      answer = await fetch(new URL(path, base), { method: req.method!, headers, ...(body.length > 0 && { body }), redirect: 'manual', signal: AbortSignal.timeout(10_000) });
    } catch (err) {
      if (bases.length === 1) {
        reply(res, 503, { 'content-type': 'application/json; charset=utf-8' }, JSON.stringify({ error: { code: 'CLUSTER_UNAVAILABLE', message: `the room's node did not answer: ${(err as Error).message}` } }));
        return true;
      }
      continue;
    }
    if (answer.status === 404 && bases.length > 1) {
      await answer.body?.cancel();
      continue;
    }
    const out: Record<string, string> = {};
    for (const name of ANSWER_HEADERS) {
      const v = answer.headers.get(name);
      if (v !== null) out[name] = v;
    }
    reply(res, answer.status, out, await answer.text());
    return true;
  }
  return false;
}
