/**
 * Shared by bench/turn/run.mjs and bench/stun/run.mjs: spawning the servers under test (`dari turn`
 * on either data path (--fast-path), with its worker threads (--relay-threads, default one per core),
 * coturn `turnserver`, `turnutils_peer`) as their own processes, reading their CPU and memory from
 * /proc, kernel UDP counters, and a STUN ping to know a server answers.
 *
 * Every process started here is tracked and killed when the benchmark exits (normally, on error,
 * on SIGINT/SIGTERM), so nothing outlives a run. Only 127.0.0.1 is used.
 */
import { spawn, execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { readFileSync, readdirSync, readlinkSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const DARI_BIN = `${ROOT}packages/server/bin/dari.js`;
export const STUN_LIB = `${ROOT}packages/stun/dist/src/index.js`;
const CLK_TCK = Number(safeExec('getconf', ['CLK_TCK']) || 100); // unit of utime/stime in /proc/<pid>/stat

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const round = (x, d = 1) => (x == null || !Number.isFinite(x) ? null : Math.round(x * 10 ** d) / 10 ** d);

function safeExec(cmd, args) {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return '';
  }
}

// ------------------------------------------------------------------ process tracking

const live = new Set();
/** Kills every tracked child at once with SIGKILL (exit path: no waiting possible). */
function killAllNow() {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {}
  }
}
process.on('exit', killAllNow);
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));
process.on('uncaughtException', (err) => {
  console.error(err);
  process.exit(1);
});
process.on('unhandledRejection', (err) => {
  console.error(err);
  process.exit(1);
});

const tmpDirs = [];
process.on('exit', () => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});
/** A private temporary directory, removed on exit. */
export function tempDir(prefix) {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tmpDirs.push(d);
  return d;
}

/**
 * Spawns a tracked child. `ulimitN` runs it under `bash -c 'ulimit -Sn N; exec …'` (same pid).
 * @returns the ChildProcess, plus `stop()` (SIGTERM, SIGKILL after `graceMs`) and `done` (exit promise)
 */
export function spawnTracked(cmd, args, { ulimitN, stdio = ['ignore', 'pipe', 'pipe'], env } = {}) {
  const child = ulimitN
    ? spawn('bash', ['-c', `ulimit -Sn ${ulimitN} && exec "$0" "$@"`, cmd, ...args], { stdio, env })
    : spawn(cmd, args, { stdio, env });
  live.add(child);
  child.done = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.done.then(() => live.delete(child));
  child.on('error', () => live.delete(child));
  child.stop = async (graceMs = 3000) => {
    if (child.exitCode !== null || child.signalCode !== null || !live.has(child)) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await child.done;
    clearTimeout(t);
  };
  return child;
}

// ------------------------------------------------------------------ /proc readers

/** CPU-seconds (user + system) of a whole process (all threads), from /proc/<pid>/stat. */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/** User and system CPU-seconds of a whole process, separately. */
export function cpuSplit(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) / CLK_TCK, sys: Number(f[12]) / CLK_TCK };
}

/** VmRSS, VmHWM (bytes) and thread count from /proc/<pid>/status. */
export function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rssBytes: kb('VmRSS'), hwmBytes: kb('VmHWM'), threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? NaN) };
}

/** Names of a process's threads (/proc/<pid>/task/<tid>/comm). */
export function threadNames(pid) {
  try {
    return readdirSync(`/proc/${pid}/task`).map((t) => {
      try {
        return readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim();
      } catch {
        return '?';
      }
    });
  } catch {
    return [];
  }
}

/** System-wide UDP counters from /proc/net/snmp (InDatagrams, RcvbufErrors, …). */
export function udpCounters() {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
  const keys = lines[0].split(/\s+/).slice(1);
  const vals = lines[1].split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(keys.map((k, i) => [k, vals[i]]));
}

/** Open fds of a process. */
export function fdCount(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

/**
 * Receive-buffer drops of a process's UDP sockets (the `drops` column of /proc/net/udp),
 * summed, plus the drops of the socket bound to `port` (the listener) when given.
 */
export function socketDrops(pid, port) {
  const inodes = new Set();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const l = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (l.startsWith('socket:[')) inodes.add(l.slice(8, -1));
      } catch {}
    }
  } catch {}
  let total = 0;
  let listener = 0;
  let sockets = 0;
  const text = readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1);
  for (const line of text) {
    const f = line.trim().split(/\s+/);
    if (f.length < 13 || !inodes.has(f[9])) continue;
    sockets++;
    const drops = Number(f[12]);
    total += drops;
    if (port !== undefined && parseInt(f[1].split(':')[1], 16) === port) listener += drops;
  }
  return { total, listener, sockets };
}

// ------------------------------------------------------------------ ports and readiness

/** True when `port` is free for both UDP and TCP on 127.0.0.1. */
export async function portFree(port) {
  const udp = await new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
  if (!udp) return false;
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** The first port from `start` (step 10) that is free for UDP and TCP; bounded to 200 tries. */
export async function findPort(start) {
  for (let i = 0; i < 200; i++) {
    const p = start + i * 10;
    if (await portFree(p)) return p;
  }
  throw new Error(`no free port near ${start}`);
}

/** A STUN Binding request (no attributes). */
export function bindingRequest(txid) {
  const b = Buffer.alloc(20);
  b.writeUInt16BE(0x0001, 0);
  b.writeUInt16BE(0, 2);
  b.writeUInt32BE(0x2112a442, 4);
  txid.copy(b, 8);
  return b;
}

/** Resolves when a STUN server on 127.0.0.1:port answers a Binding request; bounded by timeoutMs. */
export async function stunPing(port, timeoutMs = 10_000) {
  const s = createSocket('udp4');
  await new Promise((r) => s.bind(0, '127.0.0.1', r));
  try {
    return await new Promise((resolve, reject) => {
      const deadline = setTimeout(() => {
        clearInterval(iv);
        reject(new Error(`no STUN answer on 127.0.0.1:${port} after ${timeoutMs} ms`));
      }, timeoutMs);
      const send = () => s.send(bindingRequest(Buffer.from('benchping0000')), port, '127.0.0.1');
      const iv = setInterval(send, 100);
      send();
      s.on('message', () => {
        clearTimeout(deadline);
        clearInterval(iv);
        resolve(true);
      });
    });
  } finally {
    s.close();
  }
}

// ------------------------------------------------------------------ servers

/** Drains a stream line by line into `onLine`, keeping the last `keep` lines. */
function lineTail(stream, keep, onLine) {
  const tail = [];
  createInterface({ input: stream }).on('line', (l) => {
    tail.push(l);
    if (tail.length > keep) tail.shift();
    onLine?.(l);
  });
  return tail;
}

/** Common server handle: pid, cpu(), memory(), stop(), output tails. */
function handle(name, child, out, err, extra = {}) {
  const h = {
    name,
    pid: child.pid,
    child,
    exit: null,
    /** CPU-seconds so far; after the process is gone, the last value read (or NaN). */
    cpu: () => {
      try {
        return (h.lastCpu = cpuSeconds(child.pid));
      } catch {
        return h.exit ? NaN : (h.lastCpu ?? NaN);
      }
    },
    memory: () => memory(child.pid),
    alive: () => child.exitCode === null && child.signalCode === null,
    tail: () => [`exit: ${JSON.stringify(h.exit)}`, ...out.slice(-10), ...err.slice(-10)].join('\n'),
    stop: () => child.stop(),
    ...extra,
  };
  child.done.then((e) => (h.exit = { ...e, at: new Date().toISOString() }));
  return h;
}

/** Dari TURN arguments equivalent to the coturn ones below. */
export function dariTurnArgs({ port, minPort, maxPort, extra = [] }) {
  return [
    'turn', '--listening-ip', '127.0.0.1', '--listening-port', String(port), '--lt-cred-mech', '--user', 'alice:secret',
    '--realm', 'example.org', '--allow-loopback-peers', '--min-port', String(minPort), '--max-port', String(maxPort), '--no-tls', ...extra,
  ];
}

/**
 * Starts `dari turn` (its own node process, logs = pino JSON on stdout, drained here).
 * Waits for the line containing `"ready` and for a STUN answer.
 */
export async function startDari({ port, minPort, maxPort, extra = [], nodeFlags = [], ulimitN = 20000 }) {
  const args = [...nodeFlags, DARI_BIN, ...dariTurnArgs({ port, minPort, maxPort, extra })];
  const child = spawnTracked(process.execPath, args, { ulimitN });
  const counts = { created: 0, deleted: 0, warnings: [], workers: null, fastPath: null };
  let readyResolve;
  const ready = new Promise((r) => (readyResolve = r));
  const out = lineTail(child.stdout, 20, (l) => {
    if (l.includes('"ready')) {
      try {
        Object.assign(counts, (({ workers, fastPath }) => ({ workers, fastPath }))(JSON.parse(l)));
      } catch {}
      readyResolve();
    }
    if (l.includes('"allocation created"')) counts.created++;
    else if (l.includes('"allocation deleted"')) counts.deleted++;
    else if (/"level":(4|5|6)\d/.test(l) && counts.warnings.length < 20 && !l.includes('allow-loopback-peers')) counts.warnings.push(l);
  });
  const err = lineTail(child.stderr, 20);
  const exited = child.done.then((r) => {
    throw new Error(`dari turn exited (${JSON.stringify(r)}) before ready:\n${[...out, ...err].join('\n')}`);
  });
  const timeout = sleep(15_000).then(() => {
    throw new Error(`dari turn not ready after 15 s:\n${[...out, ...err].join('\n')}`);
  });
  try {
    await Promise.race([ready, exited, timeout]);
    await stunPing(port);
  } catch (e) {
    await child.stop();
    throw e;
  }
  exited.catch(() => {});
  timeout.catch(() => {});
  return handle('dari', child, out, err, { counts, command: `node ${args.join(' ')}` });
}

/** coturn arguments: same realm, user, loopback peers, UDP/TCP only (no TLS/DTLS), no CLI. */
export function coturnArgs({ port, minPort, maxPort, dir, extra = [] }) {
  return [
    '-n', '--listening-ip', '127.0.0.1', '--listening-port', String(port), '--lt-cred-mech', '--user', 'alice:secret',
    '--realm', 'example.org', '--allow-loopback-peers', '--no-tls', '--no-dtls', '--no-cli', '--min-port', String(minPort),
    '--max-port', String(maxPort), '--log-file', 'stdout', '--simple-log', '--pidfile', join(dir, 'turnserver.pid'),
    '--userdb', join(dir, 'turndb'), ...extra,
  ];
}

/**
 * Starts coturn `turnserver` in the foreground (log on stdout, drained here); waits for a STUN
 * answer. Records its "Total General servers" (relay threads) line and thread names.
 */
export async function startCoturn({ port, minPort, maxPort, extra = [], ulimitN = 20000 }) {
  const dir = tempDir('bench-coturn-');
  const args = coturnArgs({ port, minPort, maxPort, dir, extra });
  const child = spawnTracked('turnserver', args, { ulimitN });
  const info = { generalServers: null, netEngine: null, maxSessions: null, errors: [] };
  const out = lineTail(child.stdout, 40, (l) => {
    let m;
    if ((m = /Total General servers: (\d+)/.exec(l))) info.generalServers = Number(m[1]);
    if ((m = /Net Engine version: (.*)$/.exec(l))) info.netEngine = m[1].trim();
    if ((m = /max supported number of TURN Sessions possible is: (\d+)/.exec(l))) info.maxSessions = Number(m[1]);
    if (/ERROR|error/.test(l) && info.errors.length < 20) info.errors.push(l);
  });
  const err = lineTail(child.stderr, 20);
  const exited = child.done.then((r) => {
    throw new Error(`turnserver exited (${JSON.stringify(r)}):\n${[...out, ...err].join('\n')}`);
  });
  try {
    await Promise.race([stunPing(port), exited]);
  } catch (e) {
    await child.stop();
    throw e;
  }
  exited.catch(() => {});
  await sleep(300);
  return handle('coturn', child, out, err, { info, command: `turnserver ${args.join(' ')}` });
}

/** Starts `turnutils_peer`, the UDP echo peer. */
export async function startPeer(port) {
  const child = spawnTracked('turnutils_peer', ['-L', '127.0.0.1', '-p', String(port)]);
  const out = lineTail(child.stdout, 10);
  const err = lineTail(child.stderr, 10);
  // Ready when it echoes a datagram.
  const s = createSocket('udp4');
  await new Promise((r) => s.bind(0, '127.0.0.1', r));
  try {
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        clearInterval(iv);
        reject(new Error(`turnutils_peer on ${port} does not echo`));
      }, 5000);
      const iv = setInterval(() => s.send(Buffer.from('ping'), port, '127.0.0.1'), 100);
      s.once('message', () => {
        clearTimeout(t);
        clearInterval(iv);
        resolve();
      });
    });
  } catch (e) {
    await child.stop();
    throw e;
  } finally {
    s.close();
  }
  return handle('peer', child, out, err);
}

/** Prints rows of [label, ...values] as aligned columns. */
export function table(title, head, rows) {
  const cells = [head, ...rows].map((r) => r.map((c) => (c == null ? '-' : String(c))));
  const w = head.map((_, j) => Math.max(...cells.map((r) => r[j].length)));
  console.log(`\n${title}`);
  for (const r of cells) console.log(r.map((c, j) => (j === 0 ? c.padEnd(w[j]) : c.padStart(w[j]))).join('   '));
}

/** Busy and total jiffies of the whole machine (/proc/stat, first line). */
export function systemCpu() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number);
  const idle = f[3] + (f[4] || 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/**
 * Waits (at most `maxS` seconds) until the background load over 1 s is below `pct` % of one
 * core. @returns the last load measured and the seconds waited
 */
export async function waitQuiet(maxS, pct = 20) {
  const t0 = performance.now();
  let load = await backgroundLoad(1000);
  while (load > pct && (performance.now() - t0) / 1000 < maxS) load = await backgroundLoad(1000);
  return { load, waitedS: (performance.now() - t0) / 1000 };
}

/**
 * Background load: CPU the machine spends over `ms` while the benchmark's own processes idle,
 * in % of one core (200 = both cores of a 2-core machine). Other work on the machine (tests,
 * builds) skews results; the benchmarks report this before every run.
 */
export async function backgroundLoad(ms = 500) {
  const a = systemCpu();
  await sleep(ms);
  const b = systemCpu();
  const cores = readFileSync('/proc/stat', 'utf8').split('\n').filter((l) => /^cpu\d/.test(l)).length;
  return (100 * cores * (b.busy - a.busy)) / Math.max(1, b.total - a.total);
}
