/**
 * Scale-out test helpers: `dari serve` nodes as real processes in one Redis (so SIGKILL and
 * SIGTERM are the real thing), and a signaling client that resumes its session on another node.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ServerMessage } from '@dari/protocol';
import { Client, devToken } from './helpers.js';

const BIN = fileURLToPath(new URL('../../bin/dari.js', import.meta.url));

/** Fast heartbeats for tests: a node is dead 1 s after its last heartbeat. */
export const TEST_HEARTBEAT_MS = 250;
export const TEST_NODE_TTL_MS = 1000;

export interface NodeProcess {
  id: string;
  url: string;
  wsUrl: string;
  proc: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** Every log line so far. */
  log: string[];
  kill(): Promise<void>;
  /** SIGTERM (drain in a cluster); resolves with the exit code. */
  term(): Promise<number | null>;
}

/** Starts `dari serve --redis-url …` on a free port; resolves at its `ready` line. */
export async function spawnNode(redisUrl: string, id: string, set: string[] = [], args: string[] = []): Promise<NodeProcess> {
  const sets = [`cluster.nodeId=${id}`, 'turn.enabled=false', `cluster.heartbeatIntervalMs=${TEST_HEARTBEAT_MS}`, `cluster.nodeTtlMs=${TEST_NODE_TTL_MS}`, 'cluster.placementCpu=false', ...set];
  const proc = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--redis-url', redisUrl, '--log-level', 'info', ...sets.flatMap((s) => ['--set', s]), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  proc.stderr!.on('data', (c: Buffer) => log.push(c.toString()));
  const lines = createInterface({ input: proc.stdout! });
  const ready = await new Promise<{ url: string; ws: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${id} not ready: ${log.join('\n')}`)), 15_000);
    lines.on('line', (line) => {
      log.push(line);
      if (line.includes('"ready ')) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as { url: string; ws: string });
      }
    });
    void exited.then((code) => reject(new Error(`node ${id} exited with ${code}: ${log.join('\n')}`)));
  });
  return {
    id,
    url: ready.url,
    wsUrl: ready.ws,
    proc,
    exited,
    log,
    kill: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
    term: () => {
      proc.kill('SIGTERM');
      return exited;
    },
  };
}

/** Polls until `check` returns a value (not undefined), within `timeoutMs`. */
export async function until<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** GET a JSON route with the dev key. */
export async function api(base: string, path: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, {
    ...init,
    headers: { authorization: `Basic ${Buffer.from('devkey:dari-dev-secret-not-for-production-use').toString('base64')}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

export type Joined = Extract<ServerMessage, { type: 'joined' }>;

/**
 * Joins `room` as `identity` through `wsUrl`, optionally resuming `sid`.
 * @returns the client and its `joined`, or the `error` frame the server answered with
 */
export async function joinVia(wsUrl: string, room: string, identity: string, resumeSid?: string): Promise<{ client: Client; joined: Joined }> {
  const client = await Client.open(wsUrl);
  client.send({ type: 'join', v: 1, token: await devToken(room, identity), ...(resumeSid ? { resume: { sid: resumeSid } } : {}) });
  const m = await client.next((x) => x.type === 'joined' || x.type === 'error', 15_000);
  if (m.type !== 'joined') {
    client.close();
    throw Object.assign(new Error(`join failed: ${JSON.stringify(m)}`), { frame: m });
  }
  return { client, joined: m };
}

/** What the SDK does after a drop: retry through the given URLs until a join (resume) succeeds. */
export async function resumeVia(wsUrls: string[], room: string, identity: string, sid: string, timeoutMs = 10_000): Promise<{ client: Client; joined: Joined; tries: number }> {
  const end = Date.now() + timeoutMs;
  for (let tries = 1; ; tries++) {
    const url = wsUrls[(tries - 1) % wsUrls.length]!;
    try {
      return { ...(await joinVia(url, room, identity, sid)), tries };
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
