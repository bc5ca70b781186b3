/**
 * The MCU composite of one room, as seen from Node: a {@link SupervisedWorker} running
 * worker/composite.py, plus the room's desired state (participants, their names and streams, the
 * outputs, the active speaker, the bitrate) so that a restarted worker gets it all back.
 *
 * Every call updates the desired state at once and queues the command. Commands run one at a
 * time, in order. After a crash the restarted worker is given the whole state first (`replay`),
 * and queued commands the replay already covered are skipped; their promises settle from the
 * state (so `addVideo` still resolves to the new port). Ports change on a restart: `portsChanged`
 * tells the owner where to send each participant's RTP now.
 */
import { randomInt } from 'node:crypto';
import { TypedEmitter } from './events.js';
import { MediaError } from './errors.js';
import { silentLogger, type MediaLogger } from './logger.js';
import { SupervisedWorker } from './supervisor.js';
import type { WorkerEvent } from './worker-process.js';
import { COMPOSITE_DEFAULTS as DEFAULTS, MIN_COMPOSITE_BITRATE_BPS, type CompositeEvents, type CompositeOptions, type CompositeStats, type InputPorts, type Op, type OutputSpec, type OutputState, type ParticipantState } from './composite-types.js';

export { MIN_COMPOSITE_BITRATE_BPS } from './composite-types.js';
export type { CompositeEvents, CompositeOptions, CompositeStats, InputPorts, OutputKind, OutputSpec } from './composite-types.js';

export class CompositeMixer extends TypedEmitter<CompositeEvents> {
  readonly options: Required<Pick<CompositeOptions, 'width' | 'height' | 'fps' | 'maxBitrateBps' | 'videoPt' | 'audioPt' | 'latencyMs'>>;
  private readonly worker: SupervisedWorker;
  private readonly log: MediaLogger;
  private readonly participants = new Map<string, ParticipantState>();
  private readonly outputs = new Map<number, OutputState>();
  private nextOutput = 1;
  private speaker: string | null = null;
  private bitrateBps: number;
  private version = 0;
  private covered = 0;
  private readonly queue: Op[] = [];
  private running = false;
  private paused = false;
  private failure: string | null = null;

  constructor(options: CompositeOptions = {}) {
    const log = options.logger ?? silentLogger;
    super((event, err) => log.error({ err, event }, 'composite listener threw'));
    this.log = log;
    this.options = {
      width: options.width ?? DEFAULTS.width,
      height: options.height ?? DEFAULTS.height,
      fps: options.fps ?? DEFAULTS.fps,
      maxBitrateBps: options.maxBitrateBps ?? DEFAULTS.maxBitrateBps,
      videoPt: options.videoPt ?? DEFAULTS.videoPt,
      audioPt: options.audioPt ?? DEFAULTS.audioPt,
      latencyMs: options.latencyMs ?? DEFAULTS.latencyMs,
    };
    this.bitrateBps = Math.min(options.bitrateBps ?? 800_000, this.options.maxBitrateBps);
    this.worker = new SupervisedWorker({
      kind: 'composite',
      config: { ...this.options, bitrateBps: this.bitrateBps },
      logger: log,
      ...(options.python !== undefined && { python: options.python }),
      ...(options.restart !== undefined && { restart: options.restart }),
      ...(options.commandTimeoutMs !== undefined && { commandTimeoutMs: options.commandTimeoutMs }),
      ...(options.heartbeatMs !== undefined && { heartbeatMs: options.heartbeatMs }),
    });
    this.worker.on('event', (e) => this.onWorkerEvent(e));
    this.worker.on('crashed', (exit) => {
      this.paused = true;
      this.emit('crashed', exit);
    });
    this.worker.on('started', ({ restart }) => {
      if (restart) this.queueReplay();
    });
    this.worker.on('failed', (reason) => this.fail(reason));
  }

  /**
   * Starts the worker.
   * @throws MediaError `WORKER_START_FAILED`
   */
  start(): Promise<void> {
    return this.worker.start();
  }

  /** The worker's pid (null while restarting). */
  get pid(): number | null {
    return this.worker.pid;
  }

  /** Crashes and restarts so far. */
  get crashes(): number {
    return this.worker.crashes;
  }

  get restarts(): number {
    return this.worker.restarts;
  }

  /** CPU seconds used by this composite's worker processes. */
  cpuSeconds(): number {
    return this.worker.cpuSeconds();
  }

  /** Kills the worker process as a crash would (operators and tests). */
  kill(): void {
    this.worker.kill();
  }

  /** Participants in tile order (join order). */
  participantIds(): string[] {
    return [...this.participants.keys()];
  }

  /**
   * Adds a tile (with the name on it; a dark tile until video comes).
   * @param id Dari's own participant id, [A-Za-z0-9_-]{1,64} (else rejects `COMMAND_FAILED`/`BAD_ARGUMENT`)
   * @param name shown on the tile as text (never parsed as markup or pipeline syntax), at most 128 characters
   */
  addParticipant(id: string, name: string): Promise<void> {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) return Promise.reject(new MediaError('COMMAND_FAILED', 'composite: participant id must be 1-64 characters of [A-Za-z0-9_-]', 'BAD_ARGUMENT'));
    if (this.participants.has(id)) return Promise.resolve();
    name = name.slice(0, 128);
    this.participants.set(id, { name, video: false, audio: false, ports: {} });
    return this.enqueue(async () => {
      await this.worker.command('add-participant', { participant: id, name });
    });
  }

  removeParticipant(id: string): Promise<void> {
    if (!this.participants.delete(id)) return Promise.resolve();
    for (const [key, out] of this.outputs) if (out.kind === 'audio' && out.participant === id) this.outputs.delete(key);
    if (this.speaker === id) this.speaker = null;
    return this.enqueue(async () => {
      await this.worker.command('remove-participant', { participant: id });
    });
  }

  setName(id: string, name: string): Promise<void> {
    const p = this.participants.get(id);
    if (!p) return Promise.resolve();
    name = name.slice(0, 128);
    p.name = name;
    return this.enqueue(async () => {
      await this.worker.command('set-name', { participant: id, name });
    });
  }

  /**
   * Opens the participant's video input.
   * @returns the loopback UDP port to send its VP8 RTP to
   */
  async addVideo(id: string): Promise<number> {
    const p = this.need(id);
    p.video = true;
    await this.enqueue(async () => {
      const r = await this.worker.command<{ port: number }>('add-video', { participant: id });
      p.ports.video = r.port;
    });
    return this.port(id, 'video');
  }

  removeVideo(id: string): Promise<void> {
    const p = this.participants.get(id);
    if (!p?.video) return Promise.resolve();
    p.video = false;
    delete p.ports.video;
    return this.enqueue(async () => {
      await this.worker.command('remove-video', { participant: id });
    });
  }

  /**
   * Opens the participant's audio input (mixed into everyone's N−1 mix but its own).
   * @returns the loopback UDP port to send its Opus RTP to
   */
  async addAudio(id: string): Promise<number> {
    const p = this.need(id);
    p.audio = true;
    await this.enqueue(async () => {
      const r = await this.worker.command<{ port: number }>('add-audio', { participant: id });
      p.ports.audio = r.port;
    });
    return this.port(id, 'audio');
  }

  removeAudio(id: string): Promise<void> {
    const p = this.participants.get(id);
    if (!p?.audio) return Promise.resolve();
    p.audio = false;
    delete p.ports.audio;
    return this.enqueue(async () => {
      await this.worker.command('remove-audio', { participant: id });
    });
  }

  /** Frames the participant's tile (null: nobody). */
  setActiveSpeaker(id: string | null): Promise<void> {
    const next = id !== null && this.participants.has(id) ? id : null;
    if (next === this.speaker) return Promise.resolve();
    this.speaker = next;
    return this.enqueue(async () => {
      await this.worker.command('set-active-speaker', { participant: next });
    });
  }

  /**
   * Sends a stream to a loopback UDP port.
   * @returns a handle for removeOutput and the stream's SSRC and payload type
   */
  async addOutput(spec: OutputSpec): Promise<{ output: number; ssrc: number; pt: number }> {
    if (spec.kind === 'audio') this.need(spec.participant ?? '');
    const sameStream = [...this.outputs.values()].find((o) => o.kind === spec.kind && o.participant === spec.participant);
    const out: OutputState = { ...spec, ssrc: sameStream?.ssrc ?? spec.ssrc ?? randomInt(1, 0xffffffff) };
    const handle = this.nextOutput++;
    this.outputs.set(handle, out);
    await this.enqueue(() => this.applyOutput(out));
    return { output: handle, ssrc: out.ssrc, pt: spec.kind === 'video' ? this.options.videoPt : this.options.audioPt };
  }

  removeOutput(handle: number): Promise<void> {
    const out = this.outputs.get(handle);
    if (!out) return Promise.resolve();
    this.outputs.delete(handle);
    return this.enqueue(async () => {
      if (out.workerId) await this.worker.command('remove-output', { output: out.workerId });
    });
  }

  /** Sets the encoder's target bitrate (clamped to [{@link MIN_COMPOSITE_BITRATE_BPS}, maxBitrateBps]), e.g. from subscribers' REMB. */
  setBitrate(bps: number): Promise<void> {
    const next = Math.max(MIN_COMPOSITE_BITRATE_BPS, Math.min(Math.round(bps), this.options.maxBitrateBps));
    if (next === this.bitrateBps) return Promise.resolve();
    this.bitrateBps = next;
    return this.enqueue(async () => {
      await this.worker.command('set-bitrate', { bps: next });
    });
  }

  get bitrate(): number {
    return this.bitrateBps;
  }

  /** Makes the encoder send a keyframe next (a subscriber's PLI). Not queued behind other commands. */
  async requestKeyframe(): Promise<void> {
    await this.worker.command('request-keyframe');
  }

  /** Counters of the live worker. @throws MediaError when it is restarting or stopped */
  stats(): Promise<CompositeStats> {
    return this.worker.command<CompositeStats>('stats');
  }

  /** Stops the worker for good. Pending commands reject with `WORKER_STOPPED`. */
  async stop(): Promise<void> {
    this.fail('stopped', false);
    await this.worker.stop();
  }

  // ------------------------------------------------------------------ internals
  private need(id: string): ParticipantState {
    const p = this.participants.get(id);
    if (!p) throw new MediaError('COMMAND_FAILED', `composite: no participant ${id}`, 'NOT_FOUND');
    return p;
  }

  private port(id: string, kind: 'video' | 'audio'): number {
    const port = this.participants.get(id)?.ports[kind];
    if (port === undefined) throw new MediaError('COMMAND_FAILED', `composite: ${id} has no ${kind} input (removed meanwhile)`, 'NOT_FOUND');
    return port;
  }

  private async applyOutput(out: OutputState): Promise<void> {
    const r = await this.worker.command<{ output: string }>('add-output', {
      kind: out.kind,
      ...(out.participant !== undefined && { participant: out.participant }),
      host: '127.0.0.1',
      port: out.port,
      ssrc: out.ssrc,
    });
    out.workerId = r.output;
  }

  private enqueue(run: () => Promise<void>): Promise<void> {
    if (this.failure) return Promise.reject(new MediaError('WORKER_STOPPED', `composite is stopped (${this.failure})`));
    const version = ++this.version;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ version, run, resolve, reject });
      void this.pump();
    });
  }

  private queueReplay(): void {
    const replay: Op = {
      version: Number.MAX_SAFE_INTEGER,
      run: () => this.replay(),
      resolve: () => {
        this.emit('restarted');
      },
      reject: (err) => {
        // A half-restored worker is worse than another restart (bounded by the restart policy).
        this.log.error({ err: err.message }, 'composite replay after restart failed; restarting again');
        this.worker.kill();
      },
    };
    this.queue.unshift(replay);
    this.paused = false;
    void this.pump();
  }

  /** Gives a fresh worker the whole desired state. */
  private async replay(): Promise<void> {
    const upTo = this.version;
    await this.worker.command('set-bitrate', { bps: this.bitrateBps });
    for (const [id, p] of this.participants) {
      await this.worker.command('add-participant', { participant: id, name: p.name });
      p.ports = {};
      if (p.video) p.ports.video = (await this.worker.command<{ port: number }>('add-video', { participant: id })).port;
      if (p.audio) p.ports.audio = (await this.worker.command<{ port: number }>('add-audio', { participant: id })).port;
    }
    for (const out of this.outputs.values()) await this.applyOutput(out);
    if (this.speaker) await this.worker.command('set-active-speaker', { participant: this.speaker });
    this.covered = Math.max(this.covered, upTo);
    for (const [id, p] of this.participants) {
      this.emit('portsChanged', id, { ...p.ports });
      if (p.video) this.emit('keyframeNeeded', id);
    }
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0 && !this.paused) {
        const op = this.queue[0]!;
        if (op.version !== Number.MAX_SAFE_INTEGER && op.version <= this.covered) {
          this.queue.shift();
          op.resolve(); // the replay after a restart already applied it
          continue;
        }
        try {
          await op.run();
          this.queue.shift();
          if (op.version !== Number.MAX_SAFE_INTEGER) this.covered = Math.max(this.covered, op.version);
          op.resolve();
        } catch (err) {
          const code = err instanceof MediaError ? err.code : null;
          if ((code === 'WORKER_EXITED' || code === 'WORKER_RESTARTING') && !this.failure) {
            this.paused = true; // the replay will cover it; it settles then
            break;
          }
          this.queue.shift();
          op.reject(err as Error);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private fail(reason: string, emit = true): void {
    if (this.failure) return;
    this.failure = reason;
    for (const op of this.queue.splice(0)) op.reject(new MediaError('WORKER_STOPPED', `composite is stopped (${reason})`));
    if (emit) this.emit('failed', reason);
  }

  private onWorkerEvent(e: WorkerEvent): void {
    const participant = typeof e['participant'] === 'string' ? e['participant'] : null;
    if (e.event === 'keyframe-needed' && participant && this.participants.has(participant)) this.emit('keyframeNeeded', participant);
    else if (e.event === 'input-error' && participant) {
      const info = { participant, kind: String(e['kind'] ?? '?'), reason: String(e['reason'] ?? '?') };
      this.log.warn(info, 'composite input failed and was dropped');
      this.emit('inputError', info);
    }
  }
}
