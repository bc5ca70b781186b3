/**
 * WHIP (RFC 9725) over HTTP: `POST /whip` with a Dari access token as bearer token (room and
 * identity from the token, `canPublish` required) and an SDP offer makes the publisher a
 * participant of kind ingress (`ingress.type: whip`) in the token's room; its media goes
 * through the SFU (sfu/werift/whip-session.ts). The session's URL (`Location: /whip/<id>`) takes
 * `PATCH` (trickled candidates, RFC 8840 SDP fragments, and ICE restarts, §4.3.2) and `DELETE` (ends it). `OPTIONS`
 * answers CORS preflights. ICE servers go out in `Link` headers (§4.6). Errors are JSON
 * `{error: {code, message}}` with the status RFC 9725 names. Requests, tokens and the SFU are
 * I/O; the rules are whip-policy.ts's.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { SignalingError, type IceServer, type TokenClaims } from '@dari/protocol';
import { SfuApiError, sdpProblem, type SfuManager } from '@dari/sfu';
import { verifyToken } from '../tokens.js';
import type { Logger } from '../logger.js';
import type { SignalingAdapter } from '../signaling/ws-adapter.js';
import { CORS_HEADERS, MAX_SDP_BYTES, SDPFRAG_TYPE, SDP_TYPE, WhipError, bearerToken, fragmentKind, iceServerLinks, iceUfrag, pathSegment, requireContentType } from './whip-policy.js';

export interface WhipContext {
  keys: ReadonlyMap<string, string>;
  signaling: SignalingAdapter;
  sfu: SfuManager;
  /** ICE servers for a participant (the `joined` message's), advertised in Link headers. */
  iceServers: (identity: string) => IceServer[];
  logger: Logger;
}

/** A live WHIP session. */
interface WhipSession {
  id: string;
  room: string;
  identity: string;
  sid: string;
  etag: string;
}

/** WHIP sessions and their HTTP handler. */
export class WhipService {
  private readonly sessions = new Map<string, WhipSession>();
  private readonly log: Logger;

  constructor(private readonly ctx: WhipContext) {
    this.log = ctx.logger.child({ plane: 'whip' });
  }

  /** Live sessions (tests, metrics). */
  get size(): number {
    return this.sessions.size;
  }

  /** Whether this service answers `path`. */
  static handles(path: string): boolean {
    return path === '/whip' || path.startsWith('/whip/');
  }

  /** Whether `path` (`/whip/<id>`) names a session held here. */
  holds(path: string): boolean {
    try {
      return this.sessions.has(decodeURIComponent(path.slice('/whip/'.length)));
    } catch {
      return false;
    }
  }

  /** Answers one request under /whip. Never throws. */
  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    try {
      await this.route(req, res, path);
    } catch (err) {
      if (err instanceof WhipError) return reply(res, err.status, { 'content-type': 'application/json; charset=utf-8' }, JSON.stringify({ error: { code: err.code, message: err.message } }));
      this.log.error({ err, path }, 'whip request failed');
      if (!res.headersSent) reply(res, 500, { 'content-type': 'application/json; charset=utf-8' }, JSON.stringify({ error: { code: 'INTERNAL', message: 'internal error' } }));
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (req.method === 'OPTIONS') return reply(res, 204, {});
    if (path === '/whip') {
      if (req.method !== 'POST') throw new WhipError(405, 'METHOD_NOT_ALLOWED', 'use POST on /whip');
      return this.create(req, res);
    }
    const id = pathSegment(path.slice('/whip/'.length), 'session');
    const session = this.sessions.get(id);
    if (!session) throw new WhipError(404, 'NOT_FOUND', `no WHIP session ${JSON.stringify(id)}`);
    await this.authorizeSession(req, session);
    if (req.method === 'DELETE') {
      this.end(session, 'deleted');
      return reply(res, 200, {});
    }
    if (req.method === 'PATCH') return this.patch(req, res, session);
    throw new WhipError(405, 'METHOD_NOT_ALLOWED', 'use PATCH or DELETE on a WHIP session');
  }

  /** POST /whip: a new publisher. */
  private async create(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const claims = await this.claims(req);
    if (claims.grants?.canPublish === false) throw new WhipError(403, 'PERMISSION_DENIED', 'the token does not grant canPublish');
    requireContentType(req.headers['content-type'], SDP_TYPE);
    const offer = await readBody(req);
    const problem = sdpProblem(offer);
    if (problem) throw new WhipError(400, 'INVALID_SDP', `SDP offer: ${problem}`);
    const added = this.ctx.signaling.core.addIngressParticipant(claims.room, { identity: claims.sub, name: claims.name, metadata: claims.metadata, ingress: { type: 'whip', state: 'connecting' } }, Date.now());
    if ('error' in added) throw new WhipError(409, added.error === 'room-full' ? 'ROOM_FULL' : 'IDENTITY_TAKEN', added.message);
    this.ctx.signaling.run(added.actions);
    let answer: string;
    try {
      answer = await this.ctx.sfu.whipPublish(claims.room, claims.sub, added.sid, offer);
    } catch (err) {
      this.ctx.signaling.run(this.ctx.signaling.core.removeIngressParticipant(claims.room, claims.sub));
      if (err instanceof SfuApiError) throw new WhipError(err.reason === 'bad-option' ? 400 : 409, err.reason === 'bad-option' ? 'INVALID_SDP' : 'IDENTITY_TAKEN', err.message);
      throw err;
    }
    const session: WhipSession = { id: randomBytes(12).toString('base64url'), room: claims.room, identity: claims.sub, sid: added.sid, etag: `"${randomBytes(6).toString('hex')}"` };
    this.sessions.set(session.id, session);
    this.watch(session);
    this.publishTracks(session, 'active');
    this.log.info({ room: session.room, identity: session.identity, session: session.id }, 'whip session started');
    const headers: Record<string, string | string[]> = {
      'content-type': SDP_TYPE,
      location: `/whip/${session.id}`,
      etag: session.etag,
      'accept-patch': SDPFRAG_TYPE,
    };
    const links = iceServerLinks(this.ctx.iceServers(claims.sub));
    if (links.length > 0) headers.link = links;
    reply(res, 201, headers, answer);
  }

  /** PATCH /whip/<id>: trickled candidates (RFC 9725 §4.3.1), or an ICE restart (§4.3.2) when the fragment's ufrag is new. */
  private async patch(req: IncomingMessage, res: ServerResponse, session: WhipSession): Promise<void> {
    requireContentType(req.headers['content-type'], SDPFRAG_TYPE);
    const ifMatch = req.headers['if-match'];
    if (ifMatch !== undefined && ifMatch !== '*' && ifMatch !== session.etag) throw new WhipError(412, 'PRECONDITION_FAILED', `If-Match: the session's entity tag is ${session.etag}`);
    const fragment = await readBody(req);
    const remote = this.ctx.sfu.whipRemoteDescription(session.room, session.identity);
    if (fragmentKind(fragment, remote ? iceUfrag(remote) : undefined) === 'restart') {
      // RFC 9725 §4.3.2: 200 with our new credentials and candidates, and a new entity tag.
      let answer: string;
      try {
        answer = await this.ctx.sfu.whipRestartIce(session.room, session.identity, fragment);
      } catch (err) {
        if (err instanceof SfuApiError) throw new WhipError(400, 'INVALID_REQUEST', err.message);
        throw err;
      }
      session.etag = `"${randomBytes(6).toString('hex')}"`;
      this.log.info({ room: session.room, identity: session.identity, session: session.id }, 'whip ICE restart');
      return reply(res, 200, { 'content-type': SDPFRAG_TYPE, etag: session.etag }, answer);
    }
    try {
      await this.ctx.sfu.whipTrickle(session.room, session.identity, fragment);
    } catch (err) {
      if (err instanceof SfuApiError) throw new WhipError(400, 'INVALID_CANDIDATE', err.message);
      throw err;
    }
    reply(res, 204, {});
  }

  /** Ends a session: the participant leaves the room and the SFU. */
  end(session: WhipSession, why: string): void {
    if (this.sessions.get(session.id) !== session) return;
    this.sessions.delete(session.id);
    // A browser that joined with this identity since replaced the publisher: leave it alone.
    this.ctx.sfu.whipLeave(session.room, session.identity, session.sid);
    this.ctx.signaling.run(this.ctx.signaling.core.removeIngressParticipant(session.room, session.identity, session.sid));
    this.log.info({ room: session.room, identity: session.identity, session: session.id, why }, 'whip session ended');
  }

  /** Ends every session (server shutdown). */
  close(): void {
    for (const s of [...this.sessions.values()]) this.end(s, 'server-shutdown');
  }

  /** The publisher's tracks and state in the room's presence. */
  private publishTracks(session: WhipSession, state: 'active' | 'reconnecting'): void {
    const tracks = this.ctx.sfu
      .publications(session.room)
      .filter((p) => p.participant === session.identity && !p.closed)
      .map((p) => ({ sid: p.id.slice(0, 64), source: p.kind === 'video' ? ('camera' as const) : ('microphone' as const), kind: p.kind, streamId: p.streamId.slice(0, 128) || session.identity, muted: false }));
    this.ctx.signaling.run(this.ctx.signaling.core.updateIngressParticipant(session.room, session.identity, { tracks, ingress: { type: 'whip', state } }));
  }

  /** A publisher whose connection fails or closes without a DELETE ends too. */
  private watch(session: WhipSession): void {
    this.ctx.sfu.whipConnectionState(session.room, session.identity, (state) => {
      if (state === 'failed' || state === 'closed') this.end(session, `connection ${state}`);
    });
  }

  private claims(req: IncomingMessage): Promise<TokenClaims> {
    return bearerClaims(req, this.ctx.keys);
  }

  /** PATCH and DELETE need a token of the session's room and identity (RFC 9725 §4.5). */
  private async authorizeSession(req: IncomingMessage, session: WhipSession): Promise<void> {
    const claims = await this.claims(req);
    if (claims.room !== session.room || claims.sub !== session.identity) throw new WhipError(403, 'PERMISSION_DENIED', 'the token is not for this session\'s room and identity');
  }
}

/**
 * The verified claims of the request's bearer token (a Dari access token).
 * @throws WhipError 401 (no bearer token, or one that does not verify: the code says why)
 */
export async function bearerClaims(req: IncomingMessage, keys: ReadonlyMap<string, string>): Promise<TokenClaims> {
  const token = bearerToken(req.headers.authorization);
  try {
    return await verifyToken(token, keys);
  } catch (err) {
    if (err instanceof SignalingError) throw new WhipError(401, err.code, err.message);
    throw err;
  }
}

export function reply(res: ServerResponse, status: number, headers: Record<string, string | string[]>, body?: string): void {
  res.writeHead(status, { ...CORS_HEADERS, 'cache-control': 'no-store', ...headers });
  res.end(body);
}

/** The request body as UTF-8, at most {@link MAX_SDP_BYTES}. @throws WhipError 413 */
export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_SDP_BYTES) throw new WhipError(413, 'BODY_TOO_LARGE', `body exceeds ${MAX_SDP_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
