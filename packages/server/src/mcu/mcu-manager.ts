/**
 * The `mcu` rooms of a process: an {@link McuRoom} starts when the first browser of a room whose
 * policy is `mcu` joins its SFU (or when a live room's policy becomes `mcu`) and stops when the
 * last one leaves (or the policy changes). Without GStreamer, or past `mcu.maxWorkers`, the room
 * runs as a plain SFU room and the reason is logged; `POST /api/rooms {mode: 'mcu'}` refuses
 * first (503 with the typed error).
 *
 * The browsers are told their media path (`media-path`): `mcu` (reason `mcu-room`) once the
 * composite runs, and to each one joining while it runs; `sfu` when it stops while they stay
 * (`room-mode`: the policy changed; `composite-failed`: the worker failed for good;
 * `composite-unavailable`: it could not start).
 */
import type { GStreamerStatus } from '@dari/media';
import type { ServerMessageOf } from '@dari/protocol';
import type { SfuManager } from '@dari/sfu';
import { SFU_ROOM_POLICY } from '@dari/sfu';
import type { Logger } from '../logger.js';
import { EgressError, type WorkerBudget } from '../egress/egress-types.js';
import { McuRoom } from './mcu-room.js';

export interface McuManagerOptions {
  sfu: SfuManager;
  gstreamer: () => Promise<GStreamerStatus>;
  budget: WorkerBudget;
  composite: { width: number; height: number; fps: number; maxBitrateBps: number };
  python: string;
  /** Browsers in the room now (signaling's view). */
  browsers: (room: string) => number;
  nameOf: (room: string, identity: string) => string | undefined;
  /** Sends a message to the room's browser participants, or to one of them. */
  tell: (room: string, message: ServerMessageOf<'media-path'>, identity?: string) => void;
  logger: Logger;
}

/** Why an `mcu` room's browsers are back on the separate tracks (`media-path` reason). */
type StopReason = 'room-mode' | 'composite-failed' | 'composite-unavailable';

interface Entry {
  room: McuRoom | undefined;
  /** The composite runs (its browsers were told `mcu`). */
  running: boolean;
  starting: Promise<void>;
  release: () => void;
}

export class McuManager {
  private readonly rooms = new Map<string, Entry>();
  private nextId = 1;
  private readonly log: Logger;

  constructor(private readonly options: McuManagerOptions) {
    this.log = options.logger.child({ plane: 'mcu' });
  }

  /**
   * Whether an `mcu` room can start now.
   * @throws EgressError 503 `GSTREAMER_UNAVAILABLE` (the message says what to install), `TOO_MANY_WORKERS`
   */
  async check(): Promise<void> {
    const gst = await this.options.gstreamer();
    if (!gst.ok) throw new EgressError(503, 'GSTREAMER_UNAVAILABLE', gst.hint);
    if (this.options.budget.inUse >= this.options.budget.max) throw new EgressError(503, 'TOO_MANY_WORKERS', `media workers at their limit (mcu.maxWorkers = ${this.options.budget.max})`);
  }

  /** Starts the room's composite unless it runs (returns at once; failures are logged, the room stays an SFU room). */
  ensure(room: string): void {
    if (this.rooms.has(room)) return;
    let release: () => void;
    try {
      release = this.options.budget.take(1);
    } catch (err) {
      this.log.warn({ room, err: (err as Error).message }, 'mcu room runs as an SFU room');
      return;
    }
    const mcu = new McuRoom({
      sfu: this.options.sfu,
      room,
      identity: `dari-mcu-${this.nextId++}`,
      composite: this.options.composite,
      python: this.options.python,
      nameOf: (identity) => this.options.nameOf(room, identity),
      logger: this.log,
    });
    const entry: Entry = { room: mcu, running: false, release, starting: Promise.resolve() };
    // At once: browsers joining while the worker starts get nothing rather than each other's tracks.
    this.options.sfu.setSubscriptionPolicy(room, mcu.policy);
    this.rooms.set(room, entry);
    mcu.mixer.on('failed', (reason) => {
      this.log.error({ room, reason }, 'mcu composite failed for good; the room goes on as an SFU room');
      void this.stop(room, 'composite-failed');
    });
    mcu.mixer.on('crashed', (exit) => this.log.warn({ room, exit }, 'mcu composite worker crashed; restarting'));
    entry.starting = (async () => {
      const gst = await this.options.gstreamer();
      if (!gst.ok) throw new Error(gst.hint);
      await mcu.start();
      this.log.info({ room }, 'mcu room started');
      if (this.rooms.get(room) !== entry) return;
      entry.running = true;
      this.options.tell(room, { type: 'media-path', path: 'mcu', reason: 'mcu-room' });
    })().catch((err: unknown) => {
      this.log.warn({ room, err: (err as Error).message }, 'mcu room could not start; it runs as an SFU room');
      void this.stop(room, 'composite-unavailable');
    });
  }

  /** A browser joined the room's SFU: told `mcu` when the composite runs (otherwise it is told when it starts). */
  joined(room: string, identity: string): void {
    // After the join's own messages (`joined` first).
    setImmediate(() => {
      if (this.rooms.get(room)?.running) this.options.tell(room, { type: 'media-path', path: 'mcu', reason: 'mcu-room' }, identity);
    });
  }

  /** Stops the room's composite once no browser is left (called after a leave). */
  left(room: string): void {
    setImmediate(() => {
      if (this.rooms.has(room) && this.options.browsers(room) === 0) void this.stop(room);
    });
  }

  /** Stops the room's composite and gives the room back the SFU policy (its browsers are told why). */
  async stop(room: string, reason: StopReason = 'room-mode'): Promise<void> {
    const entry = this.rooms.get(room);
    if (!entry) return;
    this.rooms.delete(room);
    await entry.starting;
    await entry.room?.stop();
    entry.release();
    // A browser that joined meanwhile may have started a new composite: its policy stays.
    if (!this.rooms.has(room) && this.options.browsers(room) > 0) {
      this.options.sfu.setSubscriptionPolicy(room, SFU_ROOM_POLICY);
      if (entry.running || reason !== 'room-mode') this.options.tell(room, { type: 'media-path', path: 'sfu', reason });
    }
  }

  /** The running MCU room, if any. */
  get(room: string): McuRoom | undefined {
    return this.rooms.get(room)?.room;
  }

  /** MCU rooms now (metrics). */
  get size(): number {
    return this.rooms.size;
  }

  async close(): Promise<void> {
    await Promise.all([...this.rooms.keys()].map((room) => this.stop(room)));
  }
}
