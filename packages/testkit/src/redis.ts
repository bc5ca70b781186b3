/**
 * A real Redis for tests: Debian's `redis-server` on a free loopback port, no persistence (a
 * restart starts empty, as a crashed cache would), stopped with the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export const REDIS_SERVER = process.env['REDIS_SERVER_PATH'] ?? '/usr/bin/redis-server';

export interface RedisProcess {
  /** redis://127.0.0.1:<port> */
  url: string;
  port: number;
  /** Stops it (SIGKILL: no goodbye to clients). */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A loopback TCP port that was free a moment ago. */
export async function freeTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function launch(port: number): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const proc = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--loglevel', 'notice'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`redis-server on ${port} did not start: ${out}`));
    }, 10_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (/Ready to accept connections/.test(out)) {
        clearTimeout(timer);
        proc.stdout?.off('data', onData);
        resolve(proc);
      }
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    proc.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${REDIS_SERVER} (apt-get install redis-server): ${err.message}`));
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}: ${out}`));
    });
  });
}

const stopProc = (proc: ChildProcess | null, signal: NodeJS.Signals): Promise<void> =>
  new Promise((resolve) => {
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once('exit', () => resolve());
    proc.kill(signal);
  });

/** Starts redis-server on a free loopback port (retrying if another process took the port first). */
export async function startRedis(): Promise<RedisProcess> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freeTcpPort();
    let proc: ChildProcess | null;
    try {
      proc = await launch(port);
    } catch (err) {
      lastError = err;
      continue;
    }
    return {
      url: `redis://127.0.0.1:${port}`,
      port,
      kill: async () => {
        await stopProc(proc, 'SIGKILL');
        proc = null;
      },
      restart: async () => {
        await stopProc(proc, 'SIGKILL');
        proc = await launch(port);
      },
      stop: async () => {
        await stopProc(proc, 'SIGTERM');
        proc = null;
      },
    };
  }
  throw lastError;
}
