/**
 * One recording (egress) as seen from Node: worker/recorder.py in a child process that writes
 * RTP it receives on loopback UDP ports into a file. No restarts: a recorder that dies fails its
 * egress with the reason (a file cut short is not silently continued elsewhere), and the call it
 * records is not touched.
 */
import { TypedEmitter } from './events.js';
import { silentLogger, type MediaLogger } from './logger.js';
import { WorkerProcess, describeExit, type WorkerExit } from './worker-process.js';

/** `webm`: VP8 + Opus as received (no re-encoding). `mp4`: H.264 + AAC (re-encoded). */
export type RecordingFormat = 'webm' | 'mp4';

export interface RecorderOptions {
  /** Absolute path of the file to write (Dari's own name under `recording.dir`). */
  path: string;
  format: RecordingFormat;
  /** Record a VP8 stream with this RTP payload type. */
  video?: { pt: number };
  /** Record an Opus stream with this RTP payload type. */
  audio?: { pt: number };
  /** Frame rate of the video (mp4 keyframe interval: 2 s). Default 15. */
  fps?: number;
  /** H.264 bitrate for mp4, bps. Default 1000000. */
  videoBitrateBps?: number;
  python?: string;
  logger?: MediaLogger;
}

export interface RecorderEvents {
  /** The first bytes reached the file. */
  active: () => void;
  /** The recording's video needs a keyframe (send the source a PLI / ask the composite). */
  keyframeNeeded: () => void;
  /** The recorder died or hit an error (write error, full disk): the file stops here. */
  failed: (reason: string) => void;
}

export class Recorder extends TypedEmitter<RecorderEvents> {
  /** Where to send the streams' RTP. */
  readonly ports: { video?: number; audio?: number };
  /** True once the first bytes reached the file (the `active` event). */
  active = false;
  private stopping = false;

  private constructor(
    private readonly worker: WorkerProcess,
    ports: { videoPort?: number; audioPort?: number },
    log: MediaLogger,
  ) {
    super((event, err) => log.error({ err, event }, 'recorder listener threw'));
    this.ports = { ...(ports.videoPort !== undefined && { video: ports.videoPort }), ...(ports.audioPort !== undefined && { audio: ports.audioPort }) };
    worker.on('event', (e) => {
      if (e.event === 'active') {
        this.active = true;
        this.emit('active');
      }
      else if (e.event === 'keyframe-needed') this.emit('keyframeNeeded');
    });
    worker.on('exit', (exit: WorkerExit) => {
      if (!this.stopping || exit.reason !== 'stopped') this.emit('failed', `recorder ${describeExit(exit)}`);
    });
  }

  /**
   * Spawns a recorder and opens its inputs.
   * @throws MediaError `WORKER_START_FAILED`, or `COMMAND_FAILED` (e.g. the file cannot be opened)
   */
  static async start(options: RecorderOptions): Promise<Recorder> {
    const log = options.logger ?? silentLogger;
    const worker = await WorkerProcess.start({
      kind: 'recorder',
      config: { fps: options.fps ?? 15, videoBitrateBps: options.videoBitrateBps ?? 1_000_000 },
      logger: log,
      ...(options.python !== undefined && { python: options.python }),
    });
    try {
      const ports = await worker.command<{ videoPort?: number; audioPort?: number }>(
        'start',
        { path: options.path, format: options.format, ...(options.video && { video: options.video }), ...(options.audio && { audio: options.audio }) },
        10_000,
      );
      return new Recorder(worker, ports, log);
    } catch (err) {
      worker.kill();
      await worker.whenExited();
      throw err;
    }
  }

  /**
   * Resolves once the file has its first bytes (at once if it has).
   * @throws Error after `timeoutMs`, or when the recorder fails first
   */
  whenActive(timeoutMs: number): Promise<void> {
    if (this.active) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`recording not active after ${timeoutMs} ms`)), timeoutMs);
      this.once('active', () => {
        clearTimeout(timer);
        resolve();
      });
      this.once('failed', (reason) => {
        clearTimeout(timer);
        reject(new Error(reason));
      });
    });
  }

  get pid(): number {
    return this.worker.pid;
  }

  /** True once the worker has exited (stopped or failed). */
  get done(): boolean {
    return this.worker.done;
  }

  cpuSeconds(): number | null {
    return this.worker.cpuSeconds();
  }

  /** Bytes written so far. @throws MediaError when the worker is gone */
  async bytes(): Promise<number> {
    return (await this.worker.command<{ bytes: number }>('stats')).bytes;
  }

  /**
   * Finalizes the file (EOS: the muxer writes its index) and ends the worker.
   * @returns bytes written; `finalized` false when the worker had to be killed
   */
  async stop(timeoutMs = 10_000): Promise<{ bytes: number; finalized: boolean }> {
    this.stopping = true;
    if (this.worker.done) return { bytes: 0, finalized: false };
    const r = await this.worker.stop(timeoutMs);
    return { bytes: typeof r['bytes'] === 'number' ? r['bytes'] : 0, finalized: typeof r['bytes'] === 'number' };
  }

  /** Kills the worker as a crash would (tests). */
  kill(): void {
    this.worker.kill();
  }
}
