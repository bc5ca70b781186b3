/**
 * Signaling relay over node links (docs/scaling.md): the edge's sessions (client WebSockets whose
 * room is on another node) and the room node's virtual connections (participants relayed here),
 * plus RPCs between nodes. Frames are those of @dari/cluster's link-protocol.
 */
import { ErrorCode, type TokenClaims } from '@dari/protocol';
import {
  EndPayload,
  FrameType,
  LinkDecodeError,
  OpenPayload,
  RpcRequest,
  RpcResult,
  encodeFrame,
  payloadJson,
  payloadText,
  type Frame,
  type Link,
} from '@dari/cluster';
import type { ConnTransport, RelayedConn, SignalingAdapter } from '../signaling/ws-adapter.js';
import type { Logger } from '../logger.js';

/** An RPC failed: the status and code become the REST answer. */
export class RpcError extends Error {
  override readonly name = 'RpcError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface RelayOptions {
  adapter: () => SignalingAdapter;
  logger: Logger;
  /** Room side: called before a relayed join completes, so an adopted room exists first. */
  beforeJoin(open: OpenPayload): Promise<void>;
  /** Serves an RPC from another node. @throws RpcError */
  rpc(method: string, params: unknown): Promise<unknown>;
  /** RPC timeout, ms; default 3000. */
  rpcTimeoutMs?: number;
}

/** Relay counters (metrics). */
export interface RelayCounters {
  /** Client frames an edge passed to room nodes. */
  toRoom: number;
  /** Server frames an edge passed from room nodes to its clients. */
  toClient: number;
  /** Link frames that failed to decode. */
  badFrames: number;
}

interface VirtualConn {
  id: number;
  /** Client frames that arrived while the join was still being completed. */
  early: string[] | null;
}

export class Relay {
  readonly counters: RelayCounters = { toRoom: 0, toClient: 0, badFrames: 0 };
  /** Edge: sessions per link, by session id. */
  private readonly edge = new Map<Link, Map<number, ConnTransport>>();
  /** Room node: virtual connections per link, by the edge's session id. */
  private readonly virtual = new Map<Link, Map<number, VirtualConn>>();
  private readonly rpcs = new Map<number, { link: Link; resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout }>();
  private nextSession = 1;
  private nextRpc = 1;

  constructor(private readonly opts: RelayOptions) {}

  /** Edge sessions open now. */
  get sessions(): number {
    let n = 0;
    for (const m of this.edge.values()) n += m.size;
    return n;
  }

  /** Edge: relays a verified join to the room's node over `link`. */
  open(link: Link, claims: TokenClaims, join: Record<string, unknown>, adopt: boolean, client: ConnTransport): RelayedConn {
    const session = this.nextSession++;
    let sessions = this.edge.get(link);
    if (!sessions) this.edge.set(link, (sessions = new Map()));
    sessions.set(session, client);
    const payload: OpenPayload = { claims: claimsOf(claims), join, adopt };
    this.counters.toRoom++;
    link.send(encodeFrame(FrameType.OPEN, session, JSON.stringify(payload)));
    return {
      forward: (bytes) => {
        this.counters.toRoom++;
        link.send(encodeFrame(FrameType.MSG, session, bytes));
      },
      closed: () => {
        if (sessions.delete(session)) link.send(encodeFrame(FrameType.CLOSE, session));
      },
    };
  }

  /** Calls a method on another node. @throws RpcError (remote failure), Error (link lost, timeout) */
  call(link: Link, method: string, params: unknown): Promise<unknown> {
    const id = this.nextRpc++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.rpcs.delete(id);
        reject(new Error(`rpc ${method} to ${link.peer}: no answer within ${this.opts.rpcTimeoutMs ?? 3000} ms`));
      }, this.opts.rpcTimeoutMs ?? 3000);
      this.rpcs.set(id, { link, resolve, reject, timer });
      if (!link.send(encodeFrame(FrameType.RPC, id, JSON.stringify({ method, params })))) {
        clearTimeout(timer);
        this.rpcs.delete(id);
        reject(new Error(`rpc ${method}: link to ${link.peer} is closed`));
      }
    });
  }

  /** A frame from a link. Never throws; bad frames are counted and logged. */
  onFrame(link: Link, frame: Frame): void {
    switch (frame.type) {
      case FrameType.SEND: {
        const client = this.edge.get(link)?.get(frame.session);
        if (!client) return;
        this.counters.toClient++;
        client.send(frame.payload); // the server's UTF-8 text, passed on without decoding
        return;
      }
      case FrameType.END: {
        const sessions = this.edge.get(link);
        const client = sessions?.get(frame.session);
        if (!client) return;
        sessions!.delete(frame.session);
        const end = payloadJson(frame, EndPayload);
        if (end instanceof LinkDecodeError) return this.bad(link, end);
        client.close(end.code, end.reason);
        return;
      }
      case FrameType.OPEN:
        return this.onOpen(link, frame);
      case FrameType.MSG: {
        const v = this.virtual.get(link)?.get(frame.session);
        if (!v) return;
        const text = payloadText(frame);
        if (v.early) v.early.push(text);
        else this.opts.adapter().virtualMessage(v.id, text, frame.payload.length);
        return;
      }
      case FrameType.CLOSE: {
        const sessions = this.virtual.get(link);
        const v = sessions?.get(frame.session);
        if (!v) return;
        sessions!.delete(frame.session);
        this.opts.adapter().virtualClosed(v.id);
        return;
      }
      case FrameType.RPC:
        return void this.onRpc(link, frame);
      case FrameType.RPC_RESULT: {
        const pending = this.rpcs.get(frame.session);
        if (!pending || pending.link !== link) return;
        this.rpcs.delete(frame.session);
        clearTimeout(pending.timer);
        const result = payloadJson(frame, RpcResult);
        if (result instanceof LinkDecodeError) return pending.reject(result);
        if (result.ok) pending.resolve(result.result);
        else pending.reject(new RpcError(result.error.status, result.error.code, result.error.message));
        return;
      }
    }
  }

  /**
   * A link closed. Edge: its clients are told to reconnect (their session resumes on the room's
   * node, or on its next node once this one's heartbeat expires). Room node: the participants
   * relayed over it start their reconnect grace period.
   */
  onLinkClosed(link: Link): void {
    for (const client of this.edge.get(link)?.values() ?? []) {
      client.send(JSON.stringify({ type: 'closing', reason: 'reconnect' }));
      client.close(1012, 'room node unreachable');
    }
    this.edge.delete(link);
    const adapter = this.opts.adapter();
    for (const v of this.virtual.get(link)?.values() ?? []) adapter.virtualClosed(v.id);
    this.virtual.delete(link);
    for (const [id, pending] of this.rpcs) {
      if (pending.link !== link) continue;
      this.rpcs.delete(id);
      clearTimeout(pending.timer);
      pending.reject(new Error(`rpc: link to ${link.peer} closed`));
    }
  }

  /** Counts and logs a frame that failed to decode; the link stays up. */
  bad(link: Link, err: LinkDecodeError): void {
    this.counters.badFrames++;
    this.opts.logger.warn({ peer: link.peer, reason: err.reason }, `bad node link frame: ${err.message}`);
  }

  private onOpen(link: Link, frame: Frame): void {
    const open = payloadJson(frame, OpenPayload);
    const adapter = this.opts.adapter();
    const session = frame.session;
    const transport: ConnTransport = {
      send: (text) => link.send(encodeFrame(FrameType.SEND, session, text)),
      close: (code, reason) => link.send(encodeFrame(FrameType.END, session, JSON.stringify({ code, reason: reason.slice(0, 120) }))),
    };
    if (open instanceof LinkDecodeError) {
      this.bad(link, open);
      transport.send(JSON.stringify({ type: 'error', code: ErrorCode.INTERNAL, message: 'relayed join was malformed' }));
      transport.close(1011, ErrorCode.INTERNAL);
      return;
    }
    const v: VirtualConn = { id: adapter.openVirtual(transport), early: [] };
    let sessions = this.virtual.get(link);
    if (!sessions) this.virtual.set(link, (sessions = new Map()));
    sessions.set(session, v);
    this.opts
      .beforeJoin(open)
      .catch((err: unknown) => this.opts.logger.warn({ room: open.claims.room, err: (err as Error).message }, 'adoption failed; the room starts afresh'))
      .then(() => {
        if (sessions.get(session) !== v) return; // the client left meanwhile
        adapter.virtualJoin(v.id, JSON.stringify(open.join), open.claims as TokenClaims);
        const early = v.early ?? [];
        v.early = null;
        for (const text of early) adapter.virtualMessage(v.id, text, Buffer.byteLength(text));
      })
      .catch((err: unknown) => this.opts.logger.error({ err }, 'relayed join failed'));
  }

  private async onRpc(link: Link, frame: Frame): Promise<void> {
    const req = payloadJson(frame, RpcRequest);
    let result: RpcResult;
    if (req instanceof LinkDecodeError) {
      this.bad(link, req);
      result = { ok: false, error: { status: 400, code: 'INVALID_REQUEST', message: req.message } };
    } else {
      try {
        result = { ok: true, result: await this.opts.rpc(req.method, req.params) };
      } catch (err) {
        const e = err instanceof RpcError ? err : new RpcError(500, 'INTERNAL', 'internal error');
        if (!(err instanceof RpcError)) this.opts.logger.error({ err, method: req.method }, 'rpc failed');
        result = { ok: false, error: { status: e.status, code: e.code, message: e.message } };
      }
    }
    link.send(encodeFrame(FrameType.RPC_RESULT, frame.session, JSON.stringify(result)));
  }
}

/** The claims a room node needs (no token: the edge verified it). */
function claimsOf(c: TokenClaims): OpenPayload['claims'] {
  return {
    iss: c.iss,
    sub: c.sub,
    exp: c.exp,
    room: c.room,
    ...(c.name !== undefined ? { name: c.name } : {}),
    ...(c.metadata !== undefined ? { metadata: c.metadata } : {}),
    ...(c.grants !== undefined ? { grants: c.grants } : {}),
  };
}
