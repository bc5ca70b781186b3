/** Test helpers for `dari turn` as a process, and coturn's turnutils_* clients as peers. */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';

const BIN = fileURLToPath(new URL('../../bin/dari.js', import.meta.url));

export interface TurnProcess {
  child: ChildProcess;
  /** Port of the first UDP/TCP listener. */
  port: number;
  endpoints: string[];
  /** Every log line so far (JSON). */
  log: string[];
  /**
   * Resolves once `count` log lines match `re` (worker threads log through the main thread, so a
   * line can follow the answer it is about); rejects after `timeoutMs`.
   */
  waitForLog(re: RegExp, count: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<number | null>;
}

/** Starts `dari turn ARGS` (add --listening-port 0 yourself) and waits for its ready line. */
export async function startTurn(args: string[]): Promise<TurnProcess> {
  const child = spawn(process.execPath, [BIN, 'turn', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const lines = createInterface({ input: child.stdout! });
  const ready = await new Promise<{ endpoints: string[] }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dari turn not ready: ${stderr}`)), 15_000);
    child.once('exit', (code) => reject(new Error(`dari turn exited ${code}: ${stderr}`)));
    lines.on('line', (line) => {
      log.push(line);
      if (line.includes('"ready')) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as { endpoints: string[] });
      }
    });
  });
  const port = Number(/:(\d+)$/.exec(ready.endpoints[0]!)![1]);
  return {
    child,
    port,
    endpoints: ready.endpoints,
    log,
    waitForLog(re, count, timeoutMs = 5000) {
      const matching = () => log.filter((l) => re.test(l)).length;
      if (matching() >= count) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          lines.off('line', check);
          reject(new Error(`${matching()} of ${count} log lines match ${re} after ${timeoutMs} ms`));
        }, timeoutMs);
        const check = () => {
          if (matching() < count) return;
          clearTimeout(timer);
          lines.off('line', check);
          resolve();
        };
        lines.on('line', check);
      });
    },
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = await exited;
      return code as number | null;
    },
  };
}

/** A UDP port that was free a moment ago on 127.0.0.1. */
export async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(r));
  return port;
}

/** Runs a command to completion with a time limit; resolves with its output. */
export function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, out: stdout + stderr });
    });
    void child;
  });
}

/** Starts coturn's echo peer on 127.0.0.1. */
export async function startPeer(): Promise<{ port: number; stop(): void }> {
  const port = await freeUdpPort();
  const child = spawn('turnutils_peer', ['-L', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  // The peer prints nothing when ready; a Binding-free probe: wait until its port is taken.
  for (let i = 0; i < 50; i++) {
    const s = createSocket('udp4');
    const taken = await new Promise<boolean>((r) => {
      s.once('error', () => r(true));
      s.bind(port, '127.0.0.1', () => r(false));
    });
    s.close();
    if (taken) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { port, stop: () => child.kill('SIGKILL') };
}

/** Scrapes one counter/gauge sample from a Prometheus endpoint. */
export async function metric(url: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(url)).text();
  const re = new RegExp(`^${name}${labels ? `\\{${labels.replace(/[{}]/g, '')}\\}` : ''} (\\S+)$`, 'm');
  const m = re.exec(text);
  return m ? Number(m[1]) : NaN;
}
