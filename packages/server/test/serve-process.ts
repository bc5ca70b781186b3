/** `dari serve` as a separate process, as an operator runs it: start, wait for the ready line, SIGTERM. */
import { freeTcpPort as freePort } from '@dari/testkit';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/dari.js', import.meta.url));

export interface Serving {
  child: ChildProcess;
  /** Base URL (http://127.0.0.1:PORT) and signaling URL. */
  url: string;
  ws: string;
  /** Its log lines so far (JSON). */
  log: string[];
  /** When the ready line came, ms since the epoch. */
  readyAt: number;
}

/** A TCP port free now (the same number serves its UDP twin, for TURN). */
export { freePort };

/** Starts `dari serve ARGS` and resolves at its ready line. @throws Error with its stderr when it exits first */
export async function serve(args: string[]): Promise<Serving> {
  const child = spawn(process.execPath, [BIN, 'serve', '--log-level', 'info', '--log-format', 'json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const lines = createInterface({ input: child.stdout! });
  const ready = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`dari serve exited ${code}: ${stderr}`)));
    lines.on('line', (line) => {
      log.push(line);
      if (line.includes('"ready')) resolve(line);
    });
  });
  const r = JSON.parse(ready) as { url: string; ws: string };
  return { child, url: r.url, ws: r.ws, log, readyAt: Date.now() };
}

/**
 * Starts a first server on ports free a moment ago (HTTP and TURN); another process may take one
 * meanwhile on this busy machine, so an EADDRINUSE start is retried on new ports (5 tries).
 */
export async function firstServe(args: (port: number, turnPort: number) => string[]): Promise<{ serving: Serving; args: string[] }> {
  for (let attempt = 1; ; attempt++) {
    const a = args(await freePort(), await freePort());
    try {
      return { serving: await serve(a), args: a };
    } catch (err) {
      if (attempt === 5 || !/EADDRINUSE/.test((err as Error).message)) throw err;
    }
  }
}

/** SIGTERM, as systemd's stop; resolves with the exit code. */
export async function stop(s: Serving): Promise<number | null> {
  const exited = once(s.child, 'exit');
  s.child.kill('SIGTERM');
  return (await exited)[0] as number | null;
}

