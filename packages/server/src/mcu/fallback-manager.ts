/**
 * The server's side of the composite fallback in SFU rooms (issue #10 item 3; the decision is the
 * SFU core's, core/composite-fallback.ts): when the first browser of a room falls back, the
 * room's composite starts lazily (an {@link McuRoom} in fallback mode: a `dari-fallback-<n>`
 * mixer publishing only the composite video, which SFU_ROOM_POLICY gives to the subscribers in the
 * fallback instead of the separate videos); `sfu.compositeFallback.stopAfterMs` after the last one
 * recovers or leaves, it stops. Each participant is told its path and why (`media-path`).
 *
 * Without GStreamer or past `mcu.maxWorkers` the fallback is skipped: the subscriber keeps its
 * videos, is told `composite-unavailable`, and the reason is logged once per room. A crashed
 * worker is restarted by the mixer (the subscriber waits on the composite's publication); one that
 * fails for good stops the composite, and its subscribers get their videos back
 * (`composite-failed`).
 */
import type { GStreamerStatus } from '@dari/media';
import type { CompositeFallbackEvent, SfuManager } from '@dari/sfu';
import type { MediaPathKind, ServerMessage } from '@dari/protocol';
import type { Logger } from '../logger.js';
import type { WorkerBudget } from '../egress/egress-types.js';
import { McuRoom } from './mcu-room.js';

export interface FallbackManagerOptions {
  sfu: SfuManager;
  gstreamer: () => Promise<GStreamerStatus>;
  budget: WorkerBudget;
  composite: { width: number; height: number; fps: number; maxBitrateBps: number };
  python: string;
  nameOf: (room: string, identity: string) => string | undefined;
  /** Sends a signaling message to a participant's session. */
  send: (room: string, identity: string, sid: string, message: ServerMessage) => void;
  /** Whether the room runs as an `mcu` room now (its composite is the MCU's: no fallback there). */
  isMcuRoom: (room: string) => boolean;
  /** How long the composite outlives the last subscriber in the fallback, ms. */
  stopAfterMs: number;
  /** Counts one subscriber going to the composite. */
  counted?: () => void;
  logger: Logger;
}

/**
 * Share of the lowest estimate among a room's subscribers in the fallback that the composite's
 * encoder starts at (the rest is left for their audio tracks and RTP overhead); then it follows
 * their REMB (McuRoom's EncoderBitrate).
 */
export const FALLBACK_BITRATE_SHARE = 0.6;

interface Subscriber {
  sid: string | undefined;
  reason: string;
  estimateBps: number | undefined;
  needBps: number;
}

interface Entry {
  subscribers: Map<string, Subscriber>;
  mcu: McuRoom | undefined;
  release: (() => void) | undefined;
  /** The composite is published. */
  running: boolean;
  /** Why there is no composite (logged once); undefined while there may be one. */
  unavailable: string | undefined;
  stopTimer: NodeJS.Timeout | undefined;
}

export class FallbackManager {
  private readonly rooms = new Map<string, Entry>();
  private nextId = 1;
  private readonly log: Logger;

  constructor(private readonly options: FallbackManagerOptions) {
    this.log = options.logger.child({ plane: 'mcu' });
  }

  /** The SFU's `onCompositeFallback` hook. */
  event(room: string, e: CompositeFallbackEvent): void {
    if (this.options.isMcuRoom(room)) return;
    let entry = this.rooms.get(room);
    if (e.on) {
      this.options.counted?.();
      if (!entry) this.rooms.set(room, (entry = { subscribers: new Map(), mcu: undefined, release: undefined, running: false, unavailable: undefined, stopTimer: undefined }));
      clearTimeout(entry.stopTimer);
      entry.stopTimer = undefined;
      entry.subscribers.set(e.identity, { sid: e.sid, reason: e.reason, estimateBps: e.estimateBps, needBps: e.needBps });
      this.log.info({ room, identity: e.identity, reason: e.reason, estimateBps: e.estimateBps, needBps: e.needBps }, 'composite fallback: subscriber falls back');
      if (entry.unavailable !== undefined) this.tell(room, e.identity, e.sid, 'sfu', 'composite-unavailable', e);
      else if (entry.running) this.tell(room, e.identity, e.sid, 'composite-fallback', e.reason, e);
      else if (!entry.mcu) this.start(room, entry);
      return;
    }
    if (!entry?.subscribers.delete(e.identity)) return;
    this.log.info({ room, identity: e.identity, reason: e.reason, estimateBps: e.estimateBps, needBps: e.needBps }, 'composite fallback: subscriber back on the tracks');
    if (e.reason !== 'left') this.tell(room, e.identity, e.sid, 'sfu', e.reason, e);
    if (entry.subscribers.size === 0) {
      clearTimeout(entry.stopTimer);
      entry.stopTimer = setTimeout(() => void this.stop(room), this.options.stopAfterMs);
      entry.stopTimer.unref();
    }
  }

  /** The room's fallback composite, if one runs. */
  get(room: string): McuRoom | undefined {
    return this.rooms.get(room)?.mcu;
  }

  /** Rooms with a fallback composite running or starting (metrics). */
  get size(): number {
    let n = 0;
    for (const e of this.rooms.values()) if (e.mcu) n++;
    return n;
  }

  /** Subscribers the manager holds in the fallback, all rooms. */
  subscribers(room: string): string[] {
    return [...(this.rooms.get(room)?.subscribers.keys() ?? [])];
  }

  /** Stops the room's composite (its subscribers get their videos back). */
  async stop(room: string): Promise<void> {
    const entry = this.rooms.get(room);
    if (!entry) return;
    this.rooms.delete(room);
    clearTimeout(entry.stopTimer);
    await entry.mcu?.stop();
    entry.release?.();
    if (entry.mcu) this.log.info({ room }, 'composite fallback: composite stopped');
  }

  async close(): Promise<void> {
    await Promise.all([...this.rooms.keys()].map((room) => this.stop(room)));
  }

  private start(room: string, entry: Entry): void {
    try {
      entry.release = this.options.budget.take(1);
    } catch (err) {
      this.unavailable(room, entry, (err as Error).message);
      return;
    }
    const mcu = new McuRoom({
      sfu: this.options.sfu,
      room,
      identity: `dari-fallback-${this.nextId++}`,
      composite: this.options.composite,
      python: this.options.python,
      nameOf: (identity) => this.options.nameOf(room, identity),
      logger: this.log,
      fallback: true,
      startBitrateBps: this.startBitrate(entry),
    });
    entry.mcu = mcu;
    mcu.mixer.on('crashed', (exit) => this.log.warn({ room, exit }, 'composite fallback: worker crashed; restarting (subscribers wait for it)'));
    mcu.mixer.on('failed', (reason) => {
      this.log.error({ room, reason }, 'composite fallback: worker failed for good; subscribers get their videos back');
      if (this.rooms.get(room) === entry) this.fail(room, entry, 'composite-failed');
    });
    void (async () => {
      const gst = await this.options.gstreamer();
      if (!gst.ok) throw new Error(gst.hint);
      await mcu.start();
    })().then(
      () => {
        if (this.rooms.get(room) !== entry || entry.mcu !== mcu) return;
        entry.running = true;
        this.log.info({ room, subscribers: entry.subscribers.size }, 'composite fallback: composite started');
        for (const [identity, s] of entry.subscribers) this.tell(room, identity, s.sid, 'composite-fallback', s.reason, s);
      },
      (err: unknown) => {
        if (this.rooms.get(room) === entry) this.unavailable(room, entry, (err as Error).message);
      },
    );
  }

  /** The composite cannot run: logged once, subscribers told, the room keeps its videos. */
  private unavailable(room: string, entry: Entry, reason: string): void {
    this.log.warn({ room, reason }, 'composite fallback skipped: no composite for this room; its subscribers keep their videos');
    this.fail(room, entry, 'composite-unavailable', reason);
  }

  private fail(room: string, entry: Entry, code: string, reason?: string): void {
    entry.unavailable = reason ?? code;
    entry.running = false;
    const mcu = entry.mcu;
    entry.mcu = undefined;
    void mcu?.stop();
    entry.release?.();
    entry.release = undefined;
    for (const [identity, s] of entry.subscribers) this.tell(room, identity, s.sid, 'sfu', code, s);
  }

  /** A share of the lowest estimate among the room's subscribers in the fallback, bps (undefined: none known). */
  private startBitrate(entry: Entry): number | undefined {
    const estimates = [...entry.subscribers.values()].map((s) => s.estimateBps).filter((x): x is number => x !== undefined && x > 0);
    return estimates.length === 0 ? undefined : Math.min(...estimates) * FALLBACK_BITRATE_SHARE;
  }

  private tell(room: string, identity: string, sid: string | undefined, path: MediaPathKind, reason: string, e: { estimateBps?: number | undefined; needBps?: number }): void {
    if (sid === undefined) return;
    const message: ServerMessage = {
      type: 'media-path',
      path,
      reason: reason.slice(0, 64),
      ...(e.estimateBps !== undefined ? { estimateBps: Math.round(e.estimateBps) } : {}),
      ...(e.needBps !== undefined && e.needBps > 0 ? { needBps: Math.round(e.needBps) } : {}),
    };
    this.options.send(room, identity, sid, message);
  }
}
