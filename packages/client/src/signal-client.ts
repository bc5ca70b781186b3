/**
 * The SDK's signaling connection: one WebSocket to `dari serve`, the join handshake, schema
 * validation of every server frame, and reconnection with session resume inside the server's
 * grace period (docs/protocol.md#reconnect).
 */
import {
  ErrorCode,
  PROTOCOL_VERSION,
  SignalingError,
  parseServerMessage,
  type ClientMessageInput,
  type ServerMessage,
  type ServerMessageOf,
} from '@dari/protocol';
import { TypedEmitter } from './events.js';

export type SignalState = 'disconnected' | 'connecting' | 'connected' | 'reconnecting';

export interface SignalClientEvents {
  /** Every validated server frame except `joined` during the handshake. */
  message: (message: ServerMessage) => void;
  /** A (re)join completed; `resumed` tells whether the session (and so every peer) survived. */
  joined: (message: ServerMessageOf<'joined'>) => void;
  state: (state: SignalState) => void;
  /** The connection is gone for good (left, replaced, shut down, auth failure, or retries exhausted). */
  closed: (reason: string) => void;
}

/** Turns `http(s)://host[:port][/base]` or `ws(s)://…` into the signaling WebSocket URL. */
export function signalingUrl(url: string): string {
  const u = new URL(url, typeof location !== 'undefined' ? location.href : undefined);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  if (!u.pathname.endsWith('/rtc')) u.pathname = u.pathname.replace(/\/$/, '') + '/rtc';
  return u.toString();
}

/** Interval of the SDK's `ping` while connected, ms. */
export const HEARTBEAT_MS = 2000;
/**
 * Silence after which the connection counts as dead, ms: the server answers every `ping`, so
 * nothing heard for this long means the path is gone (a cut link closes no socket: TCP notices only
 * minutes later). The SDK then reconnects at once instead of waiting for TCP.
 */
export const DEAD_AFTER_MS = 5000;
/** A reconnect attempt not joined within this many ms is abandoned for the next (a SYN lost in a cut would otherwise wait for TCP's backoff). */
export const ATTEMPT_TIMEOUT_MS = 2000;
/** Reconnect backoff: 250 ms doubling to this cap, ms (each delay then jittered 0.5–1.5×). */
export const RETRY_CAP_MS = 500;
/** How long the SDK keeps retrying after the grace period, ms; past the grace a retry joins afresh. */
export const RETRY_AFTER_GRACE_MS = 120_000;

export class SignalClient extends TypedEmitter<SignalClientEvents> {
  state: SignalState = 'disconnected';
  private ws: WebSocket | null = null;
  private url = '';
  private token = '';
  private metadata: string | undefined;
  private sid: string | null = null;
  private graceMs = 10_000;
  private finished = false;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private pending: ClientMessageInput[] = [];
  /** When the current connection last received a frame, ms since the epoch (0: none). */
  private lastHeard = 0;

  /** @param onListenerError where a listener's exception goes (the Room's `error` event); default console.error */
  constructor(private readonly onListenerError?: (event: string, error: unknown) => void) {
    super();
  }

  protected override listenerFailed(event: string, error: unknown): void {
    if (this.onListenerError) this.onListenerError(event, error);
    else super.listenerFailed(event, error);
  }

  /**
   * Opens the connection and joins.
   * @throws SignalingError with the server's code (TOKEN_EXPIRED, ROOM_FULL, …) or INTERNAL when the socket fails
   */
  async connect(url: string, token: string, metadata?: string): Promise<ServerMessageOf<'joined'>> {
    this.url = signalingUrl(url);
    this.token = token;
    this.metadata = metadata;
    this.finished = false;
    this.setState('connecting');
    try {
      return await this.open(false);
    } catch (err) {
      this.finished = true;
      this.setState('disconnected');
      throw err;
    }
  }

  /**
   * Sends one client message. While reconnecting, up to 256 messages wait and go out once the
   * session resumes; they are dropped if it does not (the peers are rebuilt then anyway).
   * @returns false when the message was dropped
   */
  send(message: ClientMessageInput): boolean {
    if (this.ws && this.ws.readyState === WebSocket.OPEN && this.state === 'connected') {
      this.ws.send(JSON.stringify(message));
      return true;
    }
    if (this.state !== 'reconnecting' || this.pending.length >= 256) return false;
    this.pending.push(message);
    return true;
  }

  /**
   * Whether signaling works now: connected and a server frame arrived within the last
   * {@link HEARTBEAT_MS} + 1 s (every `ping` gets a `pong`), so a message sent now gets through.
   */
  alive(): boolean {
    return this.state === 'connected' && Date.now() - this.lastHeard <= HEARTBEAT_MS + 1000;
  }

  /** Leaves the room and closes the connection. */
  disconnect(): void {
    if (this.finished) return;
    this.send({ type: 'leave' });
    this.finish('left');
  }

  private finish(reason: string): void {
    this.finished = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.stopHeartbeat();
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000, reason);
    this.setState('disconnected');
    this.emit('closed', reason);
  }

  private setState(state: SignalState): void {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }

  private open(resume: boolean): Promise<ServerMessageOf<'joined'>> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      let joined = false;
      let closingReason: string | null = null;
      // Reconnect attempts are bounded: a SYN lost while the link is down is retried by TCP only
      // after 1 s, 3 s, 7 s… so a fresh attempt soon after the link's return connects faster.
      const attemptTimer = resume
        ? setTimeout(() => {
            if (joined || this.ws !== ws) return;
            this.ws = null;
            ws.close();
            reject(new SignalingError(ErrorCode.INTERNAL, `no joined within ${ATTEMPT_TIMEOUT_MS} ms`));
          }, ATTEMPT_TIMEOUT_MS)
        : null;
      ws.onopen = () => {
        ws.send(
          JSON.stringify({
            type: 'join',
            v: PROTOCOL_VERSION,
            token: this.token,
            ...(this.metadata !== undefined ? { metadata: this.metadata } : {}),
            ...(resume && this.sid ? { resume: { sid: this.sid } } : {}),
          }),
        );
      };
      ws.onmessage = (ev: MessageEvent) => {
        if (this.ws !== ws || typeof ev.data !== 'string') return; // an abandoned attempt or a dead socket
        const parsed = parseServerMessage(ev.data);
        if (!parsed.ok) {
          console.warn('[dari] dropped an invalid server message:', parsed.message);
          return;
        }
        const msg = parsed.message;
        this.lastHeard = Date.now();
        if (msg.type === 'joined') {
          joined = true;
          if (attemptTimer) clearTimeout(attemptTimer);
          this.startHeartbeat(ws);
          this.sid = msg.participant.sid;
          this.graceMs = msg.limits.reconnectGraceMs;
          this.setState('connected');
          const pending = this.pending.splice(0);
          if (msg.resumed) for (const m of pending) ws.send(JSON.stringify(m));
          resolve(msg);
          this.emit('joined', msg);
          return;
        }
        if (msg.type === 'closing') closingReason = msg.reason;
        if (msg.type === 'error' && !joined) {
          reject(new SignalingError(msg.code as ErrorCode, msg.message, msg.details));
          return;
        }
        this.emit('message', msg);
      };
      ws.onclose = (ev: CloseEvent) => {
        if (this.ws !== ws) return;
        this.ws = null;
        if (attemptTimer) clearTimeout(attemptTimer);
        this.stopHeartbeat();
        if (!joined) {
          reject(new SignalingError(ErrorCode.INTERNAL, `signaling connection closed before join (${ev.code} ${ev.reason})`));
          return;
        }
        if (this.finished) return;
        // `reconnect`: the node drains or the room moves (scale-out); resume like after a drop.
        if (closingReason !== null && closingReason !== 'reconnect') {
          this.finish(closingReason);
          return;
        }
        this.scheduleReconnect(Date.now());
      };
      ws.onerror = () => {
        /* onclose follows and handles it */
      };
    });
  }

  /**
   * While joined, sends a `ping` every {@link HEARTBEAT_MS}; after {@link DEAD_AFTER_MS} without
   * any server frame the socket is dropped and a reconnect starts (as on a close).
   */
  private startHeartbeat(ws: WebSocket): void {
    this.stopHeartbeat();
    this.heartbeatTimer = setInterval(() => {
      if (this.ws !== ws) return this.stopHeartbeat();
      if (Date.now() - this.lastHeard > DEAD_AFTER_MS) {
        this.ws = null;
        this.stopHeartbeat();
        ws.close();
        this.scheduleReconnect(Date.now());
        return;
      }
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'ping', ts: Date.now() }));
    }, HEARTBEAT_MS);
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  /**
   * Retries with backoff (250 ms doubling to {@link RETRY_CAP_MS}, each delay 0.5–1.5× at random so
   * the clients of a restarted server do not all knock at once) until
   * {@link RETRY_AFTER_GRACE_MS} past the grace period; inside the grace the session resumes,
   * after it the server answers with a fresh join (`resumed: false`) and the Room rebuilds its peers.
   */
  private scheduleReconnect(since: number, attempt = 0): void {
    this.setState('reconnecting');
    const delay = Math.min(RETRY_CAP_MS, 250 * 2 ** attempt) * (0.5 + Math.random());
    this.retryTimer = setTimeout(() => {
      if (this.finished) return;
      this.open(true).catch((err: unknown) => {
        if (this.finished || this.state === 'connected') return;
        // The server refused us (e.g. the token expired): retrying cannot help. CLUSTER_UNAVAILABLE
        // is transient (the room's node is being replaced, or Redis is restarting).
        if (err instanceof SignalingError && err.code !== ErrorCode.INTERNAL && err.code !== ErrorCode.CLUSTER_UNAVAILABLE) return this.finish(err.code);
        // Past the grace period the session is gone; a fresh join (resumed: false) still works.
        if (Date.now() - since > this.graceMs + RETRY_AFTER_GRACE_MS) this.finish('reconnect-failed');
        else this.scheduleReconnect(since, attempt + 1);
      });
    }, delay);
  }
}
