/**
 * A media worker that survives its crashes: it restarts the child process with backoff
 * ({@link RestartPolicy}), logs and counts every crash, and tells its owner (`started` with
 * `restart: true`) so the owner can put its state back (inputs, outputs: see CompositeMixer).
 * While a restart is pending, commands reject at once with `WORKER_RESTARTING` instead of waiting.
 */
import { TypedEmitter } from './events.js';
import { MediaError } from './errors.js';
import { silentLogger, type MediaLogger } from './logger.js';
import { RestartPolicy, type RestartPolicyOptions } from './restart-policy.js';
import { WorkerProcess, describeExit, type WorkerEvent, type WorkerExit, type WorkerProcessOptions } from './worker-process.js';

export interface SupervisorEvents {
  /** A process is up and answering; `restart` is false for the first one. */
  started: (info: { restart: boolean; pid: number }) => void;
  /** An event from the current process. */
  event: (event: WorkerEvent) => void;
  /** The process died unexpectedly (a restart follows unless the policy gives up: then `failed`). */
  crashed: (exit: WorkerExit) => void;
  /** No more restarts (the policy gave up, or the first start failed); the worker is gone for good. */
  failed: (reason: string) => void;
}

export interface SupervisorOptions extends WorkerProcessOptions {
  restart?: RestartPolicyOptions;
  /** Monotonic clock, ms. Default performance.now. */
  now?: () => number;
}

export class SupervisedWorker extends TypedEmitter<SupervisorEvents> {
  private readonly options: SupervisorOptions;
  private readonly policy: RestartPolicy;
  private readonly log: MediaLogger;
  private readonly now: () => number;
  private current: WorkerProcess | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private gaveUp: string | null = null;
  /** Crashes so far (for metrics). */
  crashes = 0;
  /** Successful restarts so far. */
  restarts = 0;
  /** CPU seconds of processes that have exited (added to the live one's in cpuSeconds()). */
  private cpuOfExited = 0;
  private lastCpu = 0;

  constructor(options: SupervisorOptions) {
    const log = options.logger ?? silentLogger;
    super((event, err) => log.error({ err, event }, 'media supervisor listener threw'));
    this.options = options;
    this.log = log;
    this.policy = new RestartPolicy(options.restart);
    this.now = options.now ?? (() => performance.now());
  }

  /**
   * Starts the first process.
   * @throws MediaError `WORKER_START_FAILED`
   */
  async start(): Promise<void> {
    await this.spawn(false);
  }

  /** The live process, or null while restarting / after stop. */
  get process(): WorkerProcess | null {
    return this.current;
  }

  get pid(): number | null {
    return this.current?.pid ?? null;
  }

  /** True while no restart will ever come (stopped, or the policy gave up). */
  get finished(): boolean {
    return this.stopped || this.gaveUp !== null;
  }

  /**
   * Sends a command to the live process.
   * @throws MediaError `WORKER_RESTARTING` / `WORKER_STOPPED` at once when there is none, else as WorkerProcess.command
   */
  command<R = Record<string, unknown>>(cmd: string, args: object = {}, timeoutMs?: number): Promise<R> {
    if (this.current) return this.current.command<R>(cmd, args, timeoutMs);
    if (this.finished) return Promise.reject(new MediaError('WORKER_STOPPED', `${this.options.kind} worker is stopped${this.gaveUp ? ` (${this.gaveUp})` : ''}`));
    return Promise.reject(new MediaError('WORKER_RESTARTING', `${this.options.kind} worker is restarting`));
  }

  /** CPU seconds used by all this worker's processes so far. */
  cpuSeconds(): number {
    const live = this.current?.cpuSeconds();
    if (live !== null && live !== undefined) this.lastCpu = live;
    return this.cpuOfExited + (this.current ? this.lastCpu : 0);
  }

  /** Stops for good: `stop` to the live process (EOS, files finalized), no more restarts. */
  async stop(timeoutMs?: number): Promise<Record<string, unknown>> {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const current = this.current;
    if (!current) return {};
    return current.stop(timeoutMs);
  }

  /** Kills the live process as a crash would (tests and operators: `SIGKILL` by default). */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.current?.kill(signal);
  }

  private async spawn(restart: boolean): Promise<void> {
    const proc = await WorkerProcess.start(this.options);
    if (this.stopped) {
      await proc.stop();
      return;
    }
    this.current = proc;
    this.lastCpu = 0;
    this.policy.started(this.now());
    proc.on('event', (e) => this.emit('event', e));
    proc.on('exit', (exit) => this.onExit(proc, exit));
    if (restart) this.restarts++;
    this.log.info({ kind: this.options.kind, pid: proc.pid, restart }, restart ? 'media worker restarted' : 'media worker started');
    this.emit('started', { restart, pid: proc.pid });
  }

  private onExit(proc: WorkerProcess, exit: WorkerExit): void {
    if (this.current !== proc) return;
    this.cpuOfExited += this.lastCpu;
    this.lastCpu = 0;
    this.current = null;
    if (this.stopped || exit.reason === 'stopped') return;
    this.crashed(proc.pid, exit);
  }

  private crashed(pid: number, exit: WorkerExit): void {
    this.crashes++;
    this.log.error({ kind: this.options.kind, pid, code: exit.code, signal: exit.signal, reason: exit.reason, detail: exit.detail }, 'media worker crashed');
    this.emit('crashed', exit);
    const decision = this.policy.crashed(this.now());
    if (decision.action === 'give-up') {
      this.gaveUp = `${decision.reason}; last: ${describeExit(exit)}`;
      this.log.error({ kind: this.options.kind, reason: this.gaveUp }, 'media worker will not be restarted');
      this.emit('failed', this.gaveUp);
      return;
    }
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      this.spawn(true).catch((err: unknown) => {
        // A restart that fails to come up counts as another crash of the same worker.
        if (!this.stopped) this.crashed(-1, { code: null, signal: null, reason: 'crashed', detail: (err as Error).message });
      });
    }, decision.delayMs);
  }
}
