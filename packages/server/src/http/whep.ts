/**
 * WHEP: `POST /whep/<identity>` with a bearer token of the room (`canSubscribe`) and a recvonly
 * SDP offer plays that participant's audio and video (sfu/werift/whep-session.ts). The session
 * (`Location: /whep/<identity>/<id>`) takes `PATCH` (trickled candidates) and `DELETE`, under the
 * same rules as a WHIP session (whip.ts): CORS, Link headers, status codes. The viewer is not a
 * participant others see.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { SfuApiError, sdpProblem, type SfuManager, type WhepViewer } from '@dari/sfu';
import type { IceServer } from '@dari/protocol';
import type { Logger } from '../logger.js';
import { CORS_HEADERS, SDPFRAG_TYPE, SDP_TYPE, WhipError, fragmentKind, iceServerLinks, iceUfrag, pathSegment, requireContentType } from './whip-policy.js';
import { bearerClaims, readBody, reply } from './whip.js';

export interface WhepContext {
  keys: ReadonlyMap<string, string>;
  sfu: SfuManager;
  iceServers: (identity: string) => IceServer[];
  logger: Logger;
}

interface WhepSession {
  id: string;
  room: string;
  /** The token's identity (who watches). */
  identity: string;
  target: string;
  etag: string;
  viewer: WhepViewer;
}

export class WhepService {
  private readonly sessions = new Map<string, WhepSession>();
  private readonly log: Logger;

  constructor(private readonly ctx: WhepContext) {
    this.log = ctx.logger.child({ plane: 'whep' });
  }

  get size(): number {
    return this.sessions.size;
  }

  static handles(path: string): boolean {
    return path.startsWith('/whep/');
  }

  /** Whether `path` (`/whep/<identity>/<id>`) names a session held here. */
  holds(path: string): boolean {
    const parts = path.slice('/whep/'.length).split('/');
    try {
      return parts.length === 2 && this.sessions.has(decodeURIComponent(parts[1]!));
    } catch {
      return false;
    }
  }

  /** Answers one request under /whep/. Never throws. */
  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    try {
      await this.route(req, res, path);
    } catch (err) {
      if (err instanceof WhipError) return reply(res, err.status, { 'content-type': 'application/json; charset=utf-8' }, JSON.stringify({ error: { code: err.code, message: err.message } }));
      this.log.error({ err, path }, 'whep request failed');
      if (!res.headersSent) reply(res, 500, { 'content-type': 'application/json; charset=utf-8' }, JSON.stringify({ error: { code: 'INTERNAL', message: 'internal error' } }));
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (req.method === 'OPTIONS') return reply(res, 204, {});
    const parts = path.slice('/whep/'.length).split('/');
    if (parts.length === 1) {
      if (req.method !== 'POST') throw new WhipError(405, 'METHOD_NOT_ALLOWED', 'use POST on /whep/<identity>');
      return this.create(req, res, pathSegment(parts[0]!, 'identity'));
    }
    if (parts.length !== 2) throw new WhipError(404, 'NOT_FOUND', `no route ${path}`);
    const session = this.sessions.get(pathSegment(parts[1]!, 'session'));
    if (!session) throw new WhipError(404, 'NOT_FOUND', `no WHEP session ${JSON.stringify(parts[1])}`);
    const claims = await bearerClaims(req, this.ctx.keys);
    if (claims.room !== session.room || claims.sub !== session.identity) throw new WhipError(403, 'PERMISSION_DENIED', "the token is not for this session's room and identity");
    if (req.method === 'DELETE') {
      this.end(session, 'deleted');
      return reply(res, 200, {});
    }
    if (req.method !== 'PATCH') throw new WhipError(405, 'METHOD_NOT_ALLOWED', 'use PATCH or DELETE on a WHEP session');
    requireContentType(req.headers['content-type'], SDPFRAG_TYPE);
    const ifMatch = req.headers['if-match'];
    if (ifMatch !== undefined && ifMatch !== '*' && ifMatch !== session.etag) throw new WhipError(412, 'PRECONDITION_FAILED', `If-Match: the session's entity tag is ${session.etag}`);
    const fragment = await readBody(req);
    const remote = session.viewer.pc.remoteDescription?.sdp;
    if (fragmentKind(fragment, remote ? iceUfrag(remote) : undefined) === 'restart') throw new WhipError(422, 'ICE_RESTART_UNSUPPORTED', 'WHEP sessions do not do ICE restarts; end the session and play again');
    let mid: string | null = session.viewer.pc.getTransceivers()[0]?.mid ?? null;
    for (const line of fragment.split(/\r?\n/)) {
      const m = /^a=mid:(\S+)/.exec(line);
      if (m) mid = m[1]!;
      const c = /^a=(candidate:.*)$/.exec(line.trim());
      if (!c) continue;
      try {
        await session.viewer.pc.addIceCandidate({ candidate: c[1]!, sdpMid: mid });
      } catch (err) {
        throw new WhipError(400, 'INVALID_CANDIDATE', `candidate refused: ${(err as Error).message}`);
      }
    }
    reply(res, 204, {});
  }

  private async create(req: IncomingMessage, res: ServerResponse, target: string): Promise<void> {
    const claims = await bearerClaims(req, this.ctx.keys);
    if (claims.grants?.canSubscribe === false) throw new WhipError(403, 'PERMISSION_DENIED', 'the token does not grant canSubscribe');
    requireContentType(req.headers['content-type'], SDP_TYPE);
    const offer = await readBody(req);
    const problem = sdpProblem(offer, undefined, 'subscriber');
    if (problem) throw new WhipError(400, 'INVALID_SDP', `SDP offer: ${problem}`);
    const id = randomBytes(12).toString('base64url');
    let viewer: WhepViewer;
    try {
      viewer = await this.ctx.sfu.whepSubscribe(claims.room, `whep:${id}`, target, offer);
    } catch (err) {
      if (err instanceof SfuApiError) {
        if (err.reason === 'unknown-participant') throw new WhipError(404, 'NOT_FOUND', err.message);
        throw new WhipError(400, 'INVALID_SDP', err.message);
      }
      throw err;
    }
    const session: WhepSession = { id, room: claims.room, identity: claims.sub, target, etag: `"${randomBytes(6).toString('hex')}"`, viewer };
    this.sessions.set(id, session);
    viewer.pc.connectionStateChange.subscribe((state) => {
      if (state === 'failed' || state === 'closed') this.end(session, `connection ${state}`);
    });
    this.log.info({ room: session.room, identity: session.identity, target, session: id }, 'whep session started');
    const headers: Record<string, string | string[]> = {
      ...CORS_HEADERS,
      'content-type': SDP_TYPE,
      location: `/whep/${encodeURIComponent(target)}/${id}`,
      etag: session.etag,
      'accept-patch': SDPFRAG_TYPE,
    };
    const links = iceServerLinks(this.ctx.iceServers(claims.sub));
    if (links.length > 0) headers.link = links;
    reply(res, 201, headers, viewer.answer);
  }

  end(session: WhepSession, why: string): void {
    if (this.sessions.get(session.id) !== session) return;
    this.sessions.delete(session.id);
    session.viewer.close();
    this.log.info({ room: session.room, identity: session.identity, session: session.id, why }, 'whep session ended');
  }

  close(): void {
    for (const s of [...this.sessions.values()]) this.end(s, 'server-shutdown');
  }
}

