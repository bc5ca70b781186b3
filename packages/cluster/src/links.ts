/**
 * Node links over WebSocket (`ws`): each node dials the nodes it relays to (path `/cluster` on
 * their HTTP port) and accepts links from the others. One link per (dialer, peer) pair carries
 * every relayed session and RPC between them (frames of link-protocol.ts).
 *
 * Authentication: the dialer sends `x-dari-node-auth: <node id>.<time ms>.<HMAC-SHA256>` keyed
 * with an API secret (every node of a cluster shares the API keys, or tokens would not verify
 * everywhere); the listener accepts any configured secret and a clock skew of ±60 s.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { decodeFrame, encodeBatch, splitBatch, LinkDecodeError, type Frame } from './link-protocol.js';

/** Path of the node link endpoint on every node's HTTP port. */
export const LINK_PATH = '/cluster';
export const AUTH_HEADER = 'x-dari-node-auth';
/** Accepted clock skew of a link's auth header, ms. */
export const AUTH_SKEW_MS = 60_000;

/** A structured logger (pino's shape). */
export interface LinkLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** One open link to a peer node. */
export class Link {
  private queue: Uint8Array[] = [];
  constructor(
    /** The peer's node id. */
    readonly peer: string,
    /** `out`: this node dialed; `in`: the peer did. */
    readonly direction: 'out' | 'in',
    private readonly ws: WebSocket,
  ) {}

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Bytes queued in the socket, not yet written. */
  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  /**
   * Queues one frame; the frames queued in this event-loop turn go out as one message.
   * @returns false when the link is not open (the frame is dropped)
   */
  send(frame: Uint8Array): boolean {
    if (!this.open) return false;
    if (this.queue.push(frame) === 1) setImmediate(() => this.flush());
    return true;
  }

  private flush(): void {
    const frames = this.queue;
    this.queue = [];
    if (this.open && frames.length > 0) this.ws.send(encodeBatch(frames), { binary: true });
  }

  close(): void {
    this.ws.close(1001, 'node link closed');
  }

  terminate(): void {
    this.ws.terminate();
  }
}

export interface NodeLinksOptions {
  self: string;
  /** API secrets; the first signs this node's dials, any of them verifies a peer's. */
  secrets: readonly string[];
  onFrame(link: Link, frame: Frame): void;
  /** A link closed (peer gone, network, or closeAll). */
  onClose(link: Link): void;
  /** A frame that failed to decode (counted and logged; the link stays up). */
  onBadFrame?(link: Link, error: LinkDecodeError): void;
  logger: LinkLogger;
  /** Dial timeout, ms; default 1000. */
  connectTimeoutMs?: number;
  /** Clock, ms; default Date.now. */
  now?: () => number;
}

/** Signs `<id>.<ms>` with HMAC-SHA256 (hex). */
export function linkAuth(id: string, secret: string, now: number): string {
  const body = `${id}.${now}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * Checks a link's auth header.
 * @returns the peer's node id, or an error message naming what is wrong
 */
export function verifyLinkAuth(header: string | undefined, secrets: readonly string[], now: number): { id: string } | { error: string } {
  if (!header) return { error: `missing ${AUTH_HEADER}` };
  const parts = header.split('.');
  if (parts.length !== 3) return { error: `${AUTH_HEADER} must be <node>.<ms>.<hmac>` };
  const [id, ms, mac] = parts as [string, string, string];
  const t = Number(ms);
  if (!id || !Number.isFinite(t) || Math.abs(now - t) > AUTH_SKEW_MS) return { error: `${AUTH_HEADER}: time outside ±${AUTH_SKEW_MS} ms` };
  const given = Buffer.from(mac, 'hex');
  for (const secret of secrets) {
    const want = createHmac('sha256', secret).update(`${id}.${ms}`).digest();
    if (given.length === want.length && timingSafeEqual(given, want)) return { id };
  }
  return { error: `${AUTH_HEADER}: bad signature` };
}

export class NodeLinks {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024, perMessageDeflate: false });
  private readonly out = new Map<string, Link>();
  private readonly dialing = new Map<string, Promise<Link>>();
  private readonly inbound = new Set<Link>();
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly opts: NodeLinksOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Handles an HTTP upgrade on {@link LINK_PATH}: 401 unless the auth header verifies. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const header = req.headers[AUTH_HEADER];
    const auth = verifyLinkAuth(Array.isArray(header) ? header[0] : header, this.opts.secrets, this.now());
    if ('error' in auth || this.closed) {
      this.opts.logger.warn({ remote: req.socket.remoteAddress, why: 'error' in auth ? auth.error : 'closing' }, 'node link refused');
      socket.end('HTTP/1.1 401 Unauthorized\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const link = new Link(auth.id, 'in', ws);
      this.inbound.add(link);
      this.opts.logger.info({ peer: auth.id }, 'node link accepted');
      this.wire(link, ws, () => this.inbound.delete(link));
    });
  }

  /** The open outbound link to a peer, if any. */
  get(peer: string): Link | undefined {
    const link = this.out.get(peer);
    return link?.open ? link : undefined;
  }

  /**
   * The outbound link to a peer, dialing it if needed (concurrent callers share one dial).
   * @throws Error when the peer cannot be reached within the dial timeout
   */
  connect(peer: string, url: string): Promise<Link> {
    const open = this.get(peer);
    if (open) return Promise.resolve(open);
    let pending = this.dialing.get(peer);
    if (!pending) {
      pending = this.dial(peer, url).finally(() => this.dialing.delete(peer));
      this.dialing.set(peer, pending);
    }
    return pending;
  }

  /** Closes every link (node shutdown). */
  closeAll(): void {
    this.closed = true;
    for (const link of [...this.out.values(), ...this.inbound]) link.terminate();
    this.wss.close();
  }

  /** Drops links to and from a peer (it died). */
  drop(peer: string): void {
    this.out.get(peer)?.terminate();
    for (const link of this.inbound) if (link.peer === peer) link.terminate();
  }

  private dial(peer: string, url: string): Promise<Link> {
    const target = new URL(LINK_PATH, url);
    target.protocol = target.protocol === 'https:' ? 'wss:' : 'ws:';
    const secret = this.opts.secrets[0];
    if (secret === undefined) return Promise.reject(new Error('no API secret to sign node links with'));
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(target, {
        headers: { [AUTH_HEADER]: linkAuth(this.opts.self, secret, this.now()) },
        perMessageDeflate: false,
        maxPayload: 64 * 1024 * 1024,
        handshakeTimeout: this.opts.connectTimeoutMs ?? 1000,
      });
      const fail = (err: Error) => {
        ws.removeAllListeners('open');
        reject(new Error(`node link to ${peer} at ${target.host}: ${err.message}`));
      };
      ws.once('error', fail);
      ws.once('unexpected-response', (_req, res) => {
        fail(new Error(`HTTP ${res.statusCode}`));
        ws.terminate();
      });
      ws.once('open', () => {
        ws.off('error', fail);
        if (this.closed) {
          ws.terminate();
          reject(new Error('node links closed'));
          return;
        }
        const link = new Link(peer, 'out', ws);
        this.out.set(peer, link);
        this.opts.logger.info({ peer, url: target.host }, 'node link open');
        this.wire(link, ws, () => {
          if (this.out.get(peer) === link) this.out.delete(peer);
        });
        resolve(link);
      });
    });
  }

  private wire(link: Link, ws: WebSocket, forget: () => void): void {
    ws.on('message', (data: RawData) => {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      const frames = splitBatch(bytes);
      if (frames instanceof LinkDecodeError) {
        this.opts.onBadFrame?.(link, frames);
        return;
      }
      for (const bytesOfFrame of frames) {
        const frame = decodeFrame(bytesOfFrame);
        if (frame instanceof LinkDecodeError) this.opts.onBadFrame?.(link, frame);
        else this.opts.onFrame(link, frame);
      }
    });
    ws.on('error', (err) => this.opts.logger.debug({ peer: link.peer, err: err.message }, 'node link error'));
    ws.once('close', () => {
      forget();
      this.opts.logger.info({ peer: link.peer, direction: link.direction }, 'node link closed');
      this.opts.onClose(link);
    });
  }
}
