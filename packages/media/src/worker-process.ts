/**
 * One lifetime of a media worker: a child process (`/usr/bin/python3 worker/<kind>.py <config>`)
 * driven over its command channel (JSON lines: commands with ids on stdin; replies with the same
 * id and unsolicited events on stdout; GStreamer's own chatter on stderr, kept for crash logs).
 * See worker/dari_worker.py for the worker side.
 *
 * A command that gets no reply within its timeout rejects with `WORKER_TIMEOUT`; a heartbeat
 * (`ping`) notices a worker whose main loop hangs and kills it, so its owner can restart it:
 * nothing that calls into a worker waits forever.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TypedEmitter } from './events.js';
import { LineSplitter } from './json-lines.js';
import { MediaError } from './errors.js';
import { silentLogger, type MediaLogger } from './logger.js';
import { processCpuSeconds } from './cpu.js';

/** The worker scripts in packages/media/worker/. */
export type WorkerKind = 'composite' | 'recorder';

/** The Python with Debian's python3-gst-1.0 (the `python3` on PATH may be another one without `gi`). */
export const DEFAULT_PYTHON = '/usr/bin/python3';

/** Path of a script in packages/media/worker/ (this file is dist/src/worker-process.js). */
export function workerScript(name: string): string {
  return fileURLToPath(new URL(`../../worker/${name}`, import.meta.url));
}

export interface WorkerProcessOptions {
  kind: WorkerKind;
  /** Worker configuration (numbers and enums chosen by Dari; passed as JSON in argv[1]). */
  config?: Record<string, number | string | boolean>;
  /** Python interpreter. Default `/usr/bin/python3`. */
  python?: string;
  logger?: MediaLogger;
  /** Time allowed from spawn to the `ready` event, ms. Default 10000. */
  readyTimeoutMs?: number;
  /** Default command timeout, ms. Default 5000. */
  commandTimeoutMs?: number;
  /** Heartbeat period, ms; 0 turns it off. Default 2000. A ping unanswered for 3 periods kills the worker as hung. */
  heartbeatMs?: number;
  /** Extra environment (e.g. GST_DEBUG). */
  env?: Record<string, string>;
}

/** An unsolicited message from the worker (`keyframe-needed`, `input-error`, `active`, `error`, `warning`, …). */
export interface WorkerEvent {
  event: string;
  [field: string]: unknown;
}

/** How a worker process ended. */
export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** `stopped`: by `stop()`; `hung`: killed after missed heartbeats; `crashed`: anything else. */
  reason: 'stopped' | 'hung' | 'crashed';
  /** The worker's last `error` event, if any (e.g. a write error), else the tail of its stderr. */
  detail: string;
}

interface Pending {
  resolve: (result: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  cmd: string;
}

export interface WorkerProcessEvents {
  event: (event: WorkerEvent) => void;
  exit: (exit: WorkerExit) => void;
}

/** Stderr lines kept for a crash report. */
const STDERR_TAIL_LINES = 20;

export class WorkerProcess extends TypedEmitter<WorkerProcessEvents> {
  readonly kind: WorkerKind;
  readonly pid: number;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly log: MediaLogger;
  private readonly commandTimeoutMs: number;
  private readonly pending = new Map<number, Pending>();
  private readonly stdout = new LineSplitter();
  private readonly stderrTail: string[] = [];
  private nextId = 1;
  private heartbeat: NodeJS.Timeout | null = null;
  private missedBeats = 0;
  private stopping = false;
  private hung = false;
  private lastError = '';
  private exitInfo: WorkerExit | null = null;
  private readonly exited: Promise<WorkerExit>;

  private constructor(options: WorkerProcessOptions) {
    const log = options.logger ?? silentLogger;
    super((event, err) => log.error({ err, event }, 'media worker listener threw'));
    this.kind = options.kind;
    this.log = log;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 5000;
    this.child = spawn(options.python ?? DEFAULT_PYTHON, [workerScript(`${options.kind}.py`), JSON.stringify(options.config ?? {})], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1', ...options.env },
    });
    this.pid = this.child.pid ?? -1;
    this.child.stdin.on('error', () => {}); // EPIPE after the worker died: the exit handler reports it
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => {
      for (const line of this.stdout.push(chunk)) this.onLine(line);
    });
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) {
        if (!line.trim()) continue;
        this.stderrTail.push(line.slice(0, 500));
        if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
      }
    });
    this.exited = new Promise((resolve) => {
      this.child.on('error', (err) => {
        this.lastError = `cannot run ${options.python ?? DEFAULT_PYTHON}: ${err.message}`;
      });
      this.child.on('close', (code, signal) => resolve(this.onExit(code, signal)));
    });
  }

  /** Pings the worker every `ms` from its `ready` on (before it, `readyTimeoutMs` applies: loading GStreamer may take seconds). */
  private startHeartbeat(ms: number): void {
    if (ms <= 0 || this.exitInfo) return;
    this.heartbeat = setInterval(() => this.beat(), ms);
    this.heartbeat.unref();
  }

  /**
   * Spawns a worker and waits for its `ready` event.
   * @throws MediaError `WORKER_START_FAILED` when it exits first or says nothing in `readyTimeoutMs`
   */
  static async start(options: WorkerProcessOptions): Promise<WorkerProcess> {
    const worker = new WorkerProcess(options);
    const readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        worker.kill();
        reject(new MediaError('WORKER_START_FAILED', `${options.kind} worker did not start within ${readyTimeoutMs} ms`));
      }, readyTimeoutMs);
      const onEvent = (e: WorkerEvent): void => {
        if (e.event !== 'ready') return;
        clearTimeout(timer);
        worker.off('event', onEvent);
        worker.off('exit', onExit);
        worker.startHeartbeat(options.heartbeatMs ?? 2000);
        resolve();
      };
      const onExit = (exit: WorkerExit): void => {
        clearTimeout(timer);
        reject(new MediaError('WORKER_START_FAILED', `${options.kind} worker exited before it was ready (${describeExit(exit)})`));
      };
      worker.on('event', onEvent);
      worker.on('exit', onExit);
    });
    return worker;
  }

  /** True once the process has exited. */
  get done(): boolean {
    return this.exitInfo !== null;
  }

  /** Resolves when the process has exited. */
  whenExited(): Promise<WorkerExit> {
    return this.exited;
  }

  /** CPU seconds used so far (null once exited). */
  cpuSeconds(): number | null {
    return this.done ? null : processCpuSeconds(this.pid);
  }

  /**
   * Sends a command and waits for its reply.
   * @param timeoutMs default the worker's `commandTimeoutMs`
   * @throws MediaError `COMMAND_FAILED` (the worker's code in `workerCode`), `WORKER_TIMEOUT`, `WORKER_EXITED`
   */
  command<R = Record<string, unknown>>(cmd: string, args: object = {}, timeoutMs = this.commandTimeoutMs): Promise<R> {
    if (this.exitInfo) return Promise.reject(new MediaError('WORKER_EXITED', `${this.kind} worker has exited (${describeExit(this.exitInfo)})`));
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new MediaError('WORKER_TIMEOUT', `${this.kind} worker did not answer ${cmd} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (r: unknown) => void, reject, timer, cmd });
      this.child.stdin.write(JSON.stringify({ id, cmd, args }) + '\n');
    });
  }

  /**
   * Stops the worker as it wishes to be stopped (EOS through the pipeline, files finalized) and
   * waits for it to exit; kills it if it takes longer than `timeoutMs`.
   * @returns the `stop` reply (e.g. `{bytes}` for a recorder), `{}` if it had to be killed
   */
  async stop(timeoutMs = 10_000): Promise<Record<string, unknown>> {
    if (this.exitInfo) return {};
    this.stopping = true;
    let result: Record<string, unknown> = {};
    try {
      result = await this.command('stop', {}, timeoutMs);
    } catch (err) {
      this.log.warn({ kind: this.kind, pid: this.pid, err: (err as Error).message }, 'media worker did not stop cleanly; killing it');
      this.kill();
    }
    const killer = setTimeout(() => this.kill(), 2000);
    await this.exited;
    clearTimeout(killer);
    return result;
  }

  /** Kills the process (SIGKILL by default). The `exit` event follows. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.exitInfo) this.child.kill(signal);
  }

  private beat(): void {
    if (this.exitInfo || this.stopping) return;
    if (++this.missedBeats > 3) {
      this.hung = true;
      this.log.warn({ kind: this.kind, pid: this.pid }, 'media worker missed 3 heartbeats; killing it');
      this.kill();
      return;
    }
    this.command('ping').then(
      () => (this.missedBeats = 0),
      () => {},
    );
  }

  private onLine(line: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      this.log.warn({ kind: this.kind, pid: this.pid, line: line.slice(0, 200) }, 'media worker wrote a line that is not JSON');
      return;
    }
    if (typeof msg !== 'object' || msg === null) return;
    const m = msg as { id?: unknown; ok?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown }; event?: unknown };
    if (typeof m.id === 'number') {
      const pending = this.pending.get(m.id);
      if (!pending) return; // answered after its timeout
      this.pending.delete(m.id);
      clearTimeout(pending.timer);
      if (m.ok === true) pending.resolve(m.result ?? {});
      else {
        const code = typeof m.error?.code === 'string' ? m.error.code : 'UNKNOWN';
        const message = typeof m.error?.message === 'string' ? m.error.message : 'no message';
        pending.reject(new MediaError('COMMAND_FAILED', `${this.kind} worker: ${pending.cmd}: ${message}`, code));
      }
      return;
    }
    if (typeof m.event === 'string') {
      const event = msg as WorkerEvent;
      if (event.event === 'error' && typeof event['reason'] === 'string') this.lastError = event['reason'];
      if (event.event === 'warning' || event.event === 'protocol-error') this.log.debug({ kind: this.kind, pid: this.pid, ...event }, 'media worker warning');
      this.emit('event', event);
    }
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): WorkerExit {
    if (this.heartbeat) clearInterval(this.heartbeat);
    const reason = this.stopping && code === 0 ? 'stopped' : this.hung ? 'hung' : this.stopping && signal === 'SIGKILL' ? 'stopped' : 'crashed';
    const detail = this.lastError || this.stderrTail.slice(-3).join(' | ');
    this.exitInfo = { code, signal, reason, detail };
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new MediaError('WORKER_EXITED', `${this.kind} worker exited during ${pending.cmd} (${describeExit(this.exitInfo)})`));
      this.pending.delete(id);
    }
    this.emit('exit', this.exitInfo);
    return this.exitInfo;
  }
}

/** `status 3: filesink: No space left on the resource.` / `signal SIGKILL` */
export function describeExit(exit: WorkerExit): string {
  const how = exit.signal ? `signal ${exit.signal}` : `status ${exit.code}`;
  return exit.detail ? `${how}: ${exit.detail}` : how;
}
