/**
 * Recording (egress): one {@link Recorder} worker per egress, fed from the room's SFU through local
 * RTP subscriptions of a server-side participant (`dari-egress-<id>`, kind `egress`):
 * - `room-composite`: a {@link CompositeMixer} worker mixes the room (video grid, full audio mix)
 *   and sends its output to the recorder (webm: VP8/Opus; mp4: H.264/AAC).
 * - `track`: one publication's RTP straight into the recorder (webm, no re-encoding).
 *
 * A room not in `sfu` mode is brought to the SFU while it records (its policy is set to `sfu` and
 * put back when its last egress ends). A stop sends EOS so the muxer finalizes the file; a recorder
 * that dies (write error, full disk) fails its egress with the reason and leaves the call alone.
 * File names are Dari's own (`<egressId>.<format>` under `recording.dir`).
 *
 * An egress also stops (finalized, `complete`) when its room empties, as LiveKit's do. Ended
 * egresses stay listed for `keepEndedMs` and `keepEnded` at most (their files stay).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CompositeMixer, Recorder, type GStreamerStatus, type RecordingFormat } from '@dari/media';
import type { LocalRtpSubscription, SfuManager } from '@dari/sfu';
import type { ParticipantInfo } from '@dari/protocol';
import type { Logger } from '../logger.js';
import type { RoomPolicy } from '../signaling/core.js';
import { CompositeFeed } from './composite-feed.js';
import { EgressError, WorkerBudget, endedToDrop, type EgressInfo, type EgressRequest } from './egress-types.js';

/** What the manager needs from signaling. */
export interface EgressRooms {
  /** The room's participants; undefined when there is no such room. */
  participants(room: string): ParticipantInfo[] | undefined;
  /** The room's topology policy now. */
  policy(room: string): RoomPolicy;
  setPolicy(room: string, policy: RoomPolicy): void;
  /** Tells the room's participants whether it is being recorded. */
  setRecording(room: string, active: boolean): void;
}

export interface EgressManagerOptions {
  sfu: SfuManager;
  rooms: EgressRooms;
  /** `recording.dir`, made absolute and created on first use. */
  dir: string;
  /** Whether GStreamer is usable (`checkGStreamer`, memoized by the caller). */
  gstreamer: () => Promise<GStreamerStatus>;
  budget: WorkerBudget;
  composite: { width: number; height: number; fps: number; maxBitrateBps: number };
  python: string;
  logger: Logger;
  /** Ended egresses listed at most (`recording.keepEnded`). Default 100. */
  keepEnded?: number;
  /** How long an ended egress stays listed, ms (`recording.keepEndedS`). Default 3,600,000. */
  keepEndedMs?: number;
}

/** Server-side participants of Dari's own media workers: never mixed or recorded themselves. */
export const isDariWorkerIdentity = (identity: string): boolean => identity.startsWith('dari-egress-') || identity.startsWith('dari-mcu-') || identity.startsWith('dari-fallback-');

interface Running {
  info: EgressInfo;
  activeAt: number | undefined;
  recorder: Recorder | undefined;
  mixer: CompositeMixer | undefined;
  feed: CompositeFeed | undefined;
  subscription: LocalRtpSubscription | undefined;
  release: () => void;
  /** True while it holds its room on the SFU. */
  holding: boolean;
  ending: Promise<void> | undefined;
}

export class EgressManager {
  private readonly egresses = new Map<string, Running>();
  /** Rooms brought to the SFU for recording: their policy before, and how many egresses hold them. */
  private readonly held = new Map<string, { previous: RoomPolicy; count: number }>();
  private readonly log: Logger;

  constructor(private readonly options: EgressManagerOptions) {
    this.log = options.logger.child({ plane: 'egress' });
  }

  /**
   * Starts an egress; resolves once its workers are up (status `starting` or `active`; `complete`
   * when it ended while starting: its room emptied, a stop, shutdown).
   * @throws EgressError 404 `ROOM_NOT_FOUND` / `TRACK_NOT_FOUND`, 400 `INVALID_REQUEST` (format for a track),
   *   503 `GSTREAMER_UNAVAILABLE` / `TOO_MANY_WORKERS`, 500 `EGRESS_FAILED` (it could not start; it
   *   is listed as `failed` with the reason)
   */
  async start(request: EgressRequest): Promise<EgressInfo> {
    const gst = await this.options.gstreamer();
    if (!gst.ok) throw new EgressError(503, 'GSTREAMER_UNAVAILABLE', gst.hint);
    const participants = this.options.rooms.participants(request.room);
    if (!participants) throw new EgressError(404, 'ROOM_NOT_FOUND', `no room ${JSON.stringify(request.room)}`);
    const format: RecordingFormat = request.format ?? 'webm';
    let publicationId: string | undefined;
    if (request.type === 'track') {
      if (request.track === undefined) throw new EgressError(400, 'INVALID_REQUEST', 'track: required for type track');
      if (format !== 'webm') throw new EgressError(400, 'INVALID_REQUEST', 'format: a track is recorded as received (VP8/Opus): webm only');
      publicationId = this.findPublication(request.room, participants, request.track);
    }
    const release = this.options.budget.take(request.type === 'track' ? 1 : 2);
    const egressId = `EG_${randomBytes(6).toString('hex')}`;
    const dir = resolve(this.options.dir);
    const info: EgressInfo = {
      egressId,
      room: request.room,
      type: request.type,
      format,
      ...(request.track !== undefined && { track: request.track }),
      status: 'starting',
      file: join(dir, `${egressId}.${format}`),
      startedAt: Date.now(),
      durationS: 0,
      sizeBytes: 0,
    };
    this.options.rooms.setRecording(request.room, true);
    const run: Running = { info, activeAt: undefined, recorder: undefined, mixer: undefined, feed: undefined, subscription: undefined, release, holding: false, ending: undefined };
    this.egresses.set(egressId, run);
    try {
      mkdirSync(dir, { recursive: true });
      await (request.type === 'track' ? this.startTrack(run, publicationId!) : this.startComposite(run));
    } catch (err) {
      // Ended while starting (its room emptied, a stop, shutdown): the error is that end's doing.
      if (!run.ending) {
        const reason = err instanceof Error ? err.message : String(err);
        await this.end(run, 'failed', reason);
        if (err instanceof EgressError) throw err;
        throw new EgressError(500, 'EGRESS_FAILED', `egress ${egressId} could not start: ${reason}`);
      }
    }
    if (run.ending) await run.ending;
    if (run.info.status === 'failed') throw new EgressError(500, 'EGRESS_FAILED', `egress ${egressId} could not start: ${run.info.reason ?? 'failed'}`);
    if (run.info.status === 'starting' || run.info.status === 'active') this.log.info({ egressId, room: info.room, type: info.type, file: info.file }, 'egress started');
    return this.snapshot(run);
  }

  /**
   * Stops an egress and finalizes its file (EOS). Stopping one that has ended returns it as is.
   * @throws EgressError 404 `EGRESS_NOT_FOUND`
   */
  async stop(egressId: string): Promise<EgressInfo> {
    const run = this.egresses.get(egressId);
    if (!run) throw new EgressError(404, 'EGRESS_NOT_FOUND', `no egress ${JSON.stringify(egressId)}`);
    await this.end(run, 'complete');
    return this.snapshot(run);
  }

  /**
   * A participant left `room` (a browser's SFU leave, a camera removed): once nobody is left in it, its egresses stop and finalize their
   * files (status `complete`), as LiveKit's egress ends with its room.
   */
  roomLeft(room: string): void {
    setImmediate(() => {
      if ((this.options.rooms.participants(room)?.length ?? 0) > 0) return;
      for (const run of this.egresses.values()) {
        if (run.info.room !== room || run.ending || (run.info.status !== 'starting' && run.info.status !== 'active')) continue;
        this.log.info({ egressId: run.info.egressId, room }, 'egress stops: its room is empty');
        void this.end(run, 'complete');
      }
    });
  }

  /** Egresses (of one room), newest first. */
  list(room?: string): EgressInfo[] {
    this.prune();
    return [...this.egresses.values()]
      .filter((r) => room === undefined || r.info.room === room)
      .map((r) => this.snapshot(r))
      .sort((a, b) => b.startedAt - a.startedAt);
  }

  /** Drops ended egresses past `keepEnded` or older than `keepEndedMs` from the list. */
  private prune(): void {
    const drop = endedToDrop(
      [...this.egresses.values()].map((r) => r.info),
      Date.now(),
      this.options.keepEnded ?? 100,
      this.options.keepEndedMs ?? 3_600_000,
    );
    for (const id of drop) this.egresses.delete(id);
  }

  /** Egresses by status (metrics). */
  counts(): Record<string, number> {
    this.prune();
    const counts: Record<string, number> = { starting: 0, active: 0, complete: 0, failed: 0 };
    for (const r of this.egresses.values()) counts[r.info.status] = (counts[r.info.status] ?? 0) + 1;
    return counts;
  }

  /** Finalizes every running egress (server shutdown). */
  async shutdown(): Promise<void> {
    await Promise.all([...this.egresses.values()].map((r) => this.end(r, 'complete')));
  }

  // ------------------------------------------------------------------ internals

  private identity(run: Running): string {
    return `dari-egress-${run.info.egressId}`;
  }

  /** The SFU publication of a track sid (or an SFU publication id). */
  private findPublication(room: string, participants: ParticipantInfo[], track: string): string {
    const publications = this.options.sfu.publications(room).filter((p) => !p.closed);
    for (const p of participants) {
      const t = p.tracks.find((x) => x.sid === track);
      const pub = t && publications.find((x) => x.participant === p.identity && x.kind === t.kind && x.streamId === t.streamId);
      if (pub) return pub.id;
    }
    const byId = publications.find((p) => p.id === track);
    if (byId) return byId.id;
    throw new EgressError(404, 'TRACK_NOT_FOUND', `no track ${JSON.stringify(track)} published through the SFU in room ${JSON.stringify(room)}`);
  }

  /** Brings the room to the SFU (a P2P room's media does not reach the server otherwise). */
  private holdSfu(run: Running): void {
    const { room } = run.info;
    run.holding = true;
    const h = this.held.get(room);
    if (h) {
      h.count++;
      return;
    }
    const previous = this.options.rooms.policy(room);
    this.held.set(room, { previous, count: 1 });
    if (previous !== 'sfu') {
      this.log.info({ room, previous }, 'room brought to the SFU while it records');
      this.options.rooms.setPolicy(room, 'sfu');
    }
  }

  private releaseSfu(run: Running): void {
    if (!run.holding) return;
    run.holding = false;
    const { room } = run.info;
    const h = this.held.get(room);
    if (!h || --h.count > 0) return;
    this.held.delete(room);
    if (h.previous !== 'sfu' && this.options.rooms.policy(room) === 'sfu') this.options.rooms.setPolicy(room, h.previous);
  }

  private watchRecorder(run: Running, recorder: Recorder): void {
    recorder.on('active', () => {
      run.activeAt ??= Date.now();
      if (run.info.status === 'starting') run.info.status = 'active';
    });
    recorder.on('failed', (reason) => void this.end(run, 'failed', reason));
  }

  private async startTrack(run: Running, publicationId: string): Promise<void> {
    const { sfu } = this.options;
    this.holdSfu(run);
    const kind = sfu.publications(run.info.room).find((p) => p.id === publicationId)?.kind ?? 'video';
    const recorder = await Recorder.start({
      path: run.info.file,
      format: 'webm',
      ...(kind === 'video' ? { video: { pt: 96 } } : { audio: { pt: 111 } }),
      python: this.options.python,
      logger: this.log,
    });
    // Ended while starting (a stop, a failure, shutdown): what was made after end() ran is undone here.
    if (run.ending) return void (await recorder.stop().catch(() => undefined));
    run.recorder = recorder;
    this.watchRecorder(run, recorder);
    sfu.addServerParticipant(run.info.room, this.identity(run), 'egress');
    const port = kind === 'video' ? recorder.ports.video! : recorder.ports.audio!;
    run.subscription = await sfu.subscribeLocalRtp(run.info.room, this.identity(run), publicationId, { address: '127.0.0.1', port });
    if (run.ending) return void run.subscription.close();
    recorder.on('keyframeNeeded', () => run.subscription?.requestKeyframe());
  }

  private async startComposite(run: Running): Promise<void> {
    const { room } = run.info;
    const { composite } = this.options;
    this.holdSfu(run);
    const mixer = new CompositeMixer({ ...composite, python: this.options.python, logger: this.log });
    run.mixer = mixer;
    mixer.on('failed', (reason) => void this.end(run, 'failed', `composite: ${reason}`));
    await mixer.start();
    if (run.ending) return void (await mixer.stop().catch(() => undefined));
    const recorder = await Recorder.start({
      path: run.info.file,
      format: run.info.format,
      video: { pt: mixer.options.videoPt },
      audio: { pt: mixer.options.audioPt },
      fps: composite.fps,
      python: this.options.python,
      logger: this.log,
    });
    if (run.ending) {
      await Promise.all([recorder.stop().catch(() => undefined), mixer.stop().catch(() => undefined)]);
      return;
    }
    run.recorder = recorder;
    this.watchRecorder(run, recorder);
    recorder.on('keyframeNeeded', () => void mixer.requestKeyframe().catch(() => undefined));
    await mixer.addOutput({ kind: 'video', port: recorder.ports.video! });
    await mixer.addOutput({ kind: 'mix', port: recorder.ports.audio! });
    if (run.ending) return; // end() stops the mixer and the recorder; no participant to add
    this.options.sfu.addServerParticipant(room, this.identity(run), 'egress');
    const names = () => new Map((this.options.rooms.participants(room) ?? []).map((p) => [p.identity, p.name || p.identity]));
    run.feed = new CompositeFeed({
      sfu: this.options.sfu,
      room,
      identity: this.identity(run),
      mixer,
      nameOf: (identity) => names().get(identity),
      exclude: isDariWorkerIdentity,
      logger: this.log,
    });
    await run.feed.start();
    if (run.ending) run.feed.close();
  }

  /** Ends an egress once: finalizes the file, stops the workers, leaves the room. */
  private end(run: Running, status: 'complete' | 'failed', reason?: string): Promise<void> {
    if (run.ending) return run.ending;
    if (run.info.status === 'complete' || run.info.status === 'failed') return Promise.resolve();
    run.ending = (async () => {
      let failure = reason;
      run.feed?.close();
      run.subscription?.close();
      try {
        if (run.recorder) {
          const { finalized } = await run.recorder.stop();
          if (!finalized && failure === undefined) failure = 'the recorder could not finalize the file';
        }
      } catch (err) {
        failure ??= `finalizing failed: ${(err as Error).message}`;
      }
      await run.mixer?.stop().catch(() => undefined);
      try {
        this.options.sfu.removeServerParticipant(run.info.room, this.identity(run));
      } catch {
        // the room may be gone already
      }
      this.releaseSfu(run);
      run.release();
      run.info.endedAt = Date.now();
      run.info.status = status === 'failed' || failure !== undefined ? 'failed' : 'complete';
      const room = run.info.room;
      if (![...this.egresses.values()].some((r) => r.info.room === room && (r.info.status === 'starting' || r.info.status === 'active'))) this.options.rooms.setRecording(room, false);
      if (run.info.status === 'failed') run.info.reason = failure ?? 'failed';
      const level = run.info.status === 'failed' ? 'warn' : 'info';
      this.log[level]({ egressId: run.info.egressId, room: run.info.room, status: run.info.status, reason: run.info.reason, file: run.info.file }, 'egress ended');
      this.prune();
    })();
    return run.ending;
  }

  private snapshot(run: Running): EgressInfo {
    let sizeBytes = 0;
    try {
      sizeBytes = statSync(run.info.file).size;
    } catch {
      sizeBytes = 0;
    }
    const until = run.info.endedAt ?? Date.now();
    const durationS = run.activeAt === undefined ? 0 : Math.max(0, (until - run.activeAt) / 1000);
    return { ...run.info, sizeBytes, durationS: Math.round(durationS * 10) / 10 };
  }
}
