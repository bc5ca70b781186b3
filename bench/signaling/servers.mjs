/**
 * Server processes under test: a Dari server (`dari serve`) or a PeerJS server, each spawned as
 * its own process (so RSS and CPU read from /proc are the server's alone), with its soft file
 * descriptor limit raised to the hard limit (10,000 sockets need 10,000 descriptors). Every process started here is killed when the benchmark exits, even on error.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const DARI_BIN = `${ROOT}packages/server/bin/dari.js`;
const PEERJS_LAUNCHER = fileURLToPath(new URL('./peerjs-server.mjs', import.meta.url));
const CLK_TCK = 100; // Linux USER_HZ, the unit of utime/stime in /proc/<pid>/stat

const live = new Set();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Memory and CPU of a process from /proc: bytes, bytes, CPU-seconds (user + system). */
export function procStats(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15 of the line.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM'), cpuS: (Number(f[11]) + Number(f[12])) / CLK_TCK };
}

/**
 * Spawns `node <args>` with `ulimit -n` raised to the hard limit, waits for its JSON "ready" line on stdout (a pino line
 * with `ws`), then keeps draining stdout so a logging server never blocks on a full pipe.
 * Lines at level warn or above (pino level ≥ 40) are kept as `problems`.
 */
export async function spawnServer(name, nodeArgs, timeoutMs = 15_000) {
  const cmd = `ulimit -Sn "$(ulimit -Hn)" && exec node ${nodeArgs.map((a) => `'${a}'`).join(' ')}`;
  const child = spawn('bash', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  child.on('exit', () => live.delete(child));
  const problems = [];
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const lines = createInterface({ input: child.stdout });
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} not ready after ${timeoutMs} ms: ${stderr}`)), timeoutMs);
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before ready: ${stderr}`)));
    lines.on('line', (line) => {
      if (!line.startsWith('{')) return;
      if (line.includes('"ready') || line.includes('"level":4') || line.includes('"level":5') || line.includes('"level":6')) {
        const rec = JSON.parse(line);
        if (rec.level >= 40 && problems.length < 20) problems.push(rec.msg);
        if (typeof rec.msg === 'string' && rec.msg.startsWith('ready') && rec.ws) {
          clearTimeout(timer);
          resolve(rec.ws);
        }
      }
    });
  });
  const ws = await ready.catch((err) => {
    child.kill('SIGKILL');
    throw err;
  });
  return {
    name,
    pid: child.pid,
    ws,
    problems,
    stderr: () => stderr,
    stats: () => procStats(child.pid),
    /** SIGTERM, then SIGKILL after 3 s; resolves when the process is gone. */
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(t);
    },
  };
}

/** Flags that lift Dari's per-connection rate limit and room size for the benchmark. */
export function dariBenchFlags(maxPerRoom) {
  return [
    '--set', 'signaling.rateLimitPerS=100000',
    '--set', 'signaling.rateLimitBurst=100000',
    '--set', `signaling.maxParticipantsPerRoom=${maxPerRoom}`,
  ];
}

/**
 * Starts `dari serve` on a free loopback port, at log level info (one line per join).
 * `bin`: another build's dari.js (a build saved with `node bench/sfu/run.mjs --save-build DIR`).
 */
export function startDari(maxPerRoom = 100, bin = DARI_BIN) {
  return spawnServer('dari', [bin, 'serve', '--host', '127.0.0.1', '--port', '0', '--log-level', 'info', ...dariBenchFlags(maxPerRoom)]);
}

/** Starts the PeerJS server (npm `peer` v1) on a free loopback port; `ws` is its /peerjs endpoint. */
export function startPeerJs() {
  return spawnServer('peerjs', [PEERJS_LAUNCHER]);
}
