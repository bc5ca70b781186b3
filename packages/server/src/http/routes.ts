/**
 * The HTTP plane: health, metrics, the REST API (tokens, rooms), the SDK bundle and the meeting
 * app. All handlers answer JSON errors `{error: {code, message}}` with a fitting status.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import sirv from 'sirv';
import { z } from 'zod';
import { Grants } from '@dari/protocol';
import { mintToken, parseDurationS } from '../tokens.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { RoomPolicy, SignalingCore } from '../signaling/core.js';
import { StoreUnavailableError } from '@dari/cluster';
import { RpcError } from '../cluster/relay.js';
import type { ClusterRouter } from '../cluster/router.js';
import { WhipService } from './whip.js';
import { WhepService } from './whep.js';
import { routeSession } from './session-routing.js';
import type { IngressManager } from '../ingress/ingress-manager.js';
import type { EgressManager } from '../egress/egress-manager.js';
import type { McuManager } from '../mcu/mcu-manager.js';
import { EgressError } from '../egress/egress-types.js';
import { EgressRequestSchema, matchEgressRoute } from './egress-routes.js';
import { IngressRequestSchema, RoomApiError, parseBody, runRoomApi } from './room-api.js';

/** Where the built browser assets live (built by `npm run build`). */
export const MEET_DIST = fileURLToPath(new URL('../../../../meet/dist/', import.meta.url));
export const SDK_DIST = fileURLToPath(new URL('../../../../client/dist/', import.meta.url));

/** Largest accepted REST request body, bytes. */
const MAX_BODY_BYTES = 64 * 1024;

const TokenRequest = z.strictObject({
  room: z.string().min(1).max(256),
  identity: z.string().min(1).max(256),
  name: z.string().max(256).optional(),
  metadata: z.string().max(4096).optional(),
  /** Lifetime: seconds, or a duration such as "1h". Default 6 h. */
  ttl: z.union([z.number().positive(), z.string()]).optional(),
  grants: Grants.partial().optional(),
});

export interface RouteContext {
  keys: ReadonlyMap<string, string>;
  devMode: boolean;
  core: SignalingCore;
  /** Sets a room's topology policy and moves a live room (the signaling adapter's). */
  setRoomPolicy: (room: string, policy: RoomPolicy) => void;
  /** Scale-out: room listing and policy reach every node. */
  cluster?: ClusterRouter | undefined;
  metrics: Metrics;
  logger: Logger;
  /** WHIP publishing (RFC 9725): /whip and its sessions. */
  whip?: WhipService | undefined;
  /** WHEP playback: /whep/<identity> and its sessions. */
  whep?: WhepService | undefined;
  /** RTSP cameras: /api/ingress. */
  ingress?: IngressManager | undefined;
  /** Recording (`/api/egress`); absent: 404. */
  egress?: EgressManager | undefined;
  /** `mode: 'mcu'` is refused (503) when it cannot run (no GStreamer, no worker left). */
  mcu?: McuManager | undefined;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'BODY_TOO_LARGE', `request body exceeds ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'BAD_JSON', 'request body is not valid JSON');
  }
}

/** A path segment decoded, or '' when its escapes are malformed (`%zz`): an id no one has. */
function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return '';
  }
}

/** Checks `Authorization: Basic base64(apiKey:apiSecret)`; returns the key and its secret. */
function authenticate(req: IncomingMessage, keys: ReadonlyMap<string, string>): { apiKey: string; apiSecret: string } {
  const header = req.headers.authorization ?? '';
  const m = /^Basic\s+(.+)$/i.exec(header);
  if (!m) throw new HttpError(401, 'UNAUTHORIZED', 'use HTTP Basic authentication with API key and secret');
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  const apiKey = decoded.slice(0, i);
  const secret = keys.get(apiKey);
  if (i <= 0 || secret === undefined || secret !== decoded.slice(i + 1)) throw new HttpError(401, 'UNAUTHORIZED', 'unknown API key or wrong secret');
  return { apiKey, apiSecret: secret };
}

/** Body of `POST /api/rooms`. */
const RoomRequest = z.strictObject({ room: z.string().min(1).max(128), mode: z.enum(['auto', 'p2p', 'sfu', 'mcu']) });

function parseTokenRequest(body: unknown): z.infer<typeof TokenRequest> & { ttlS: number | undefined } {
  const parsed = TokenRequest.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new HttpError(400, 'INVALID_REQUEST', `${issue?.path.join('.') || '(body)'}: ${issue?.message ?? 'invalid'}`);
  }
  let ttlS: number | undefined;
  try {
    const ttl = parsed.data.ttl;
    ttlS = ttl === undefined ? undefined : typeof ttl === 'number' ? ttl : parseDurationS(ttl);
  } catch (err) {
    throw new HttpError(400, 'INVALID_REQUEST', `ttl: ${(err as Error).message}`);
  }
  return { ...parsed.data, ttlS };
}

/** Runs a cluster-wide call; Redis or a node that does not answer becomes 503 CLUSTER_UNAVAILABLE. */
async function clustered<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof StoreUnavailableError) throw new HttpError(503, 'CLUSTER_UNAVAILABLE', err.message);
    if (err instanceof RpcError) throw new HttpError(err.status, err.code, err.message);
    throw err;
  }
}

/** Builds the request handler for the HTTP server. */
export function createRoutes(ctx: RouteContext): (req: IncomingMessage, res: ServerResponse) => void {
  const log = ctx.logger.child({ plane: 'http' });
  const noBuild = (what: string) => (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.end(`${what} is not built; run npm run build\n`);
  };
  const meet = existsSync(MEET_DIST) ? sirv(MEET_DIST, { single: true, etag: true }) : noBuild('the meeting app');
  const sdk = existsSync(SDK_DIST) ? sirv(SDK_DIST, { etag: true }) : noBuild('the SDK');

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    if (path === '/healthz') return json(res, 200, { status: 'ok' });
    // For load balancers: 503 while the node drains, so new connections go elsewhere.
    if (path === '/readyz') return ctx.cluster?.node.state === 'draining' ? json(res, 503, { status: 'draining' }) : json(res, 200, { status: 'ok' });
    if (path === '/metrics') {
      const text = await ctx.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': ctx.metrics.registry.contentType });
      res.end(text);
      return;
    }
    if (path === '/api/token') {
      if (req.method !== 'POST') throw new HttpError(405, 'METHOD_NOT_ALLOWED', 'use POST');
      const { apiKey, apiSecret } = authenticate(req, ctx.keys);
      const body = parseTokenRequest(await readJson(req));
      const token = await mintToken({ apiKey, apiSecret, ...body });
      return json(res, 200, { token });
    }
    if (path === '/api/dev/token') {
      // Dev mode only: lets the meeting app get a token without a backend of its own.
      if (!ctx.devMode) throw new HttpError(404, 'NOT_FOUND', 'the dev token endpoint is off when API keys are configured');
      const body = req.method === 'POST' ? await readJson(req) : Object.fromEntries(url.searchParams);
      const { ttlS, ...rest } = parseTokenRequest(body);
      const [apiKey, apiSecret] = [...ctx.keys][0]!;
      const token = await mintToken({ apiKey, apiSecret, ...rest, ttlS });
      return json(res, 200, { token });
    }
    if (path === '/api/rooms' && req.method === 'POST') {
      // LiveKit's CreateRoom, with Dari's topology: {room, mode: auto|p2p|sfu|mcu}.
      authenticate(req, ctx.keys);
      const parsed = RoomRequest.safeParse(await readJson(req));
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new HttpError(400, 'INVALID_REQUEST', `${issue?.path.join('.') || '(body)'}: ${issue?.message ?? 'invalid'}`);
      }
      if (parsed.data.mode === 'mcu') await ctx.mcu?.check();
      if (ctx.cluster) {
        const { node, current } = await clustered(() => ctx.cluster!.setRoomPolicy(parsed.data.room, parsed.data.mode));
        return json(res, 200, { room: parsed.data.room, mode: parsed.data.mode, current, node });
      }
      ctx.setRoomPolicy(parsed.data.room, parsed.data.mode);
      return json(res, 200, { room: parsed.data.room, mode: parsed.data.mode, current: ctx.core.roomMode(parsed.data.room) ?? null });
    }
    if (path === '/api/rooms') {
      authenticate(req, ctx.keys);
      const room = url.searchParams.get('room');
      if (room !== null) {
        const found = ctx.cluster ? await clustered(() => ctx.cluster!.roomInfo(room)) : undefined;
        const participants = found?.participants ?? ctx.core.roomInfo(room);
        if (!participants) throw new HttpError(404, 'NOT_FOUND', `no room ${JSON.stringify(room)}`);
        return json(res, 200, { room, participants, ...(found ? { node: found.node } : {}) });
      }
      if (ctx.cluster) return json(res, 200, { rooms: await clustered(() => ctx.cluster!.rooms()) });
      return json(res, 200, { rooms: ctx.core.listRooms() });
    }
    if (WhipService.handles(path) || WhepService.handles(path)) {
      const service = WhipService.handles(path) ? ctx.whip : ctx.whep;
      if (!service) throw new HttpError(404, 'NOT_FOUND', `${WhipService.handles(path) ? 'WHIP' : 'WHEP'} is not available on this server`);
      // In a cluster the session lives on its room's node (session-routing.ts).
      if (ctx.cluster && (await clustered(() => routeSession({ cluster: ctx.cluster!, keys: ctx.keys, holds: (p) => service.holds(p) }, req, res, path)))) return;
      return service.handle(req, res, path);
    }
    // Ingress and egress run on their room's node (room-api.ts).
    if (path === '/api/ingress' || path.startsWith('/api/ingress/')) {
      authenticate(req, ctx.keys);
      if (!ctx.ingress) throw new HttpError(404, 'NOT_FOUND', 'RTSP ingest is not available on this server');
      if (path === '/api/ingress' && req.method === 'GET') return json(res, 200, await runRoomApi(ctx, { action: 'ingress-list' }));
      if (path === '/api/ingress' && req.method === 'POST') {
        const body = parseBody(IngressRequestSchema, await readJson(req));
        return json(res, 201, await runRoomApi(ctx, { action: 'ingress-add', body }));
      }
      if (path.startsWith('/api/ingress/') && req.method === 'DELETE') {
        const id = safeDecode(path.slice('/api/ingress/'.length));
        if (id.length === 0 || id.length > 64) throw new HttpError(404, 'NOT_FOUND', `no ingress ${JSON.stringify(id.slice(0, 64))}`);
        return json(res, 200, await runRoomApi(ctx, { action: 'ingress-remove', id }));
      }
      throw new HttpError(405, 'METHOD_NOT_ALLOWED', 'GET or POST /api/ingress, DELETE /api/ingress/<id>');
    }
    if ((path === '/api/egress' || path.startsWith('/api/egress/')) && ctx.egress) {
      authenticate(req, ctx.keys);
      const egressRoute = matchEgressRoute(req.method ?? 'GET', path);
      if (egressRoute === undefined) throw new HttpError(404, 'NOT_FOUND', `no route ${path}`);
      if (egressRoute === null) throw new HttpError(405, 'METHOD_NOT_ALLOWED', 'use POST /api/egress, GET /api/egress, DELETE /api/egress/<id>');
      if (egressRoute.action === 'list') return json(res, 200, await runRoomApi(ctx, { action: 'egress-list', ...(url.searchParams.has('room') && { room: url.searchParams.get('room')!.slice(0, 128) }) }));
      if (egressRoute.action === 'stop') return json(res, 200, await runRoomApi(ctx, { action: 'egress-stop', id: egressRoute.egressId }));
      return json(res, 200, await runRoomApi(ctx, { action: 'egress-start', body: parseBody(EgressRequestSchema, await readJson(req)) }));
    }
    if (path.startsWith('/api/')) throw new HttpError(404, 'NOT_FOUND', `no route ${path}`);
    if (path.startsWith('/sdk/')) {
      req.url = path.slice(4) + url.search;
      return sdk(req, res, () => json(res, 404, { error: { code: 'NOT_FOUND', message: path } }));
    }
    meet(req, res, () => json(res, 404, { error: { code: 'NOT_FOUND', message: path } }));
  }

  return (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof HttpError || err instanceof EgressError || err instanceof RoomApiError) return json(res, err.status, { error: { code: err.code, message: err.message } });
      log.error({ err, url: req.url }, 'request failed');
      if (!res.headersSent) json(res, 500, { error: { code: 'INTERNAL', message: 'internal error' } });
      else res.destroy();
    });
  };
}
