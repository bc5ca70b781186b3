/**
 * Processes of bench/mcu: `dari serve` in an mcu or sfu room mode, the bot process, CPU
 * readings from /proc (a process and its descendants; one CPU's busy time), pinning.
 */
import { spawn, fork, execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { freePort, sleep } from '../sfu/servers.mjs';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DARI_BIN = join(ROOT, 'packages/server/bin/dari.js');
const CLK_TCK = 100;
const live = new Set();
export function killProcs() {
  for (const c of live) c.kill('SIGKILL');
  live.clear();
}
process.on('exit', killProcs);

export { cpuSeconds } from '../sfu/servers.mjs';

/** The pids of `pid`'s descendants (children, grandchildren …) now. */
export function descendants(pid) {
  const parent = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {}
  }
  const out = [];
  const walk = (p) => {
    for (const [c, pp] of parent) if (pp === p) out.push(c), walk(c);
  };
  walk(pid);
  return out;
}

/** The command name of a process (`comm`), or '?'. */
export function comm(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** Busy and total jiffies of one CPU (`cpuN` line of /proc/stat). */
export function cpuTimes(cpu) {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${cpu} `));
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = v[3] + (v[4] ?? 0);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / CLK_TCK, total: total / CLK_TCK };
}

/** Pins every thread of `pid` to `cpu` (no-op when cpu is null). */
export function pin(pid, cpu) {
  if (cpu == null) return;
  execFileSync('taskset', ['-a', '-cp', String(cpu), String(pid)], { stdio: 'ignore' });
}

/**
 * Waits (at most `maxS`) until `cpu` is busy less than `pct` % over 1 s with nothing of ours on
 * it. Resolves with the last reading, %.
 */
export async function waitQuiet(cpu, maxS, pct = 25) {
  const deadline = Date.now() + maxS * 1000;
  let busy = 100;
  while (Date.now() < deadline) {
    const a = cpuTimes(cpu);
    await sleep(1000);
    const b = cpuTimes(cpu);
    busy = (100 * (b.busy - a.busy)) / Math.max(0.01, b.total - a.total);
    if (busy < pct) break;
  }
  return busy;
}

/**
 * `dari serve` with every room in `mode` (mcu or sfu), pinned to `cpu`; resolves once it answers
 * HTTP. `command` is the line to reproduce it.
 */
export async function startDari({ mode, cpu }) {
  if (!existsSync(join(ROOT, 'packages/server/dist'))) throw new Error('build first: npm run build');
  const port = await freePort();
  const args = [DARI_BIN, 'serve', '--host', '127.0.0.1', '--port', String(port), '--log-level', 'warn',
    '--set', `sfu.mode=${mode}`, '--set', 'sfu.announcedAddresses=["127.0.0.1"]', '--set', 'turn.enabled=false',
    '--set', 'mcu.width=640', '--set', 'mcu.height=360', '--set', 'mcu.fps=15'];
  const [file, argv] = cpu != null ? ['taskset', ['-c', String(cpu), process.execPath, ...args]] : [process.execPath, args];
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT });
  live.add(child);
  let out = '';
  const keep = (d) => (out = (out + d).slice(-4000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.on('exit', () => live.delete(child));
  const httpUrl = `http://127.0.0.1:${port}`;
  for (const deadline = Date.now() + 20_000; ; ) {
    if (child.exitCode !== null) throw new Error(`dari exited (${child.exitCode}):\n${out}`);
    const ok = await fetch(`${httpUrl}/api/dev/token?room=x&identity=y`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`dari not answering after 20 s:\n${out}`);
    await sleep(100);
  }
  const command = `node packages/server/bin/dari.js ${args.slice(1).join(' ').replace('["127.0.0.1"]', `'["127.0.0.1"]'`)}`;
  const stop = async () => {
    if (child.exitCode !== null) return;
    child.kill('SIGTERM');
    const exited = new Promise((r) => child.once('exit', r));
    if (!(await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]))) {
      child.kill('SIGKILL');
      for (const d of descendants(child.pid)) process.kill(d, 'SIGKILL');
    }
  };
  return { pid: child.pid, child, port, url: `ws://127.0.0.1:${port}/rtc`, httpUrl, command, tail: () => out, stop };
}

/** The bot process (bot-process.mjs), with a bounded request/response over IPC. */
export function startBots() {
  const child = fork(fileURLToPath(new URL('./bot-process.mjs', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  live.add(child);
  child.on('exit', () => live.delete(child));
  const pending = new Map();
  let next = 1;
  child.on('message', (m) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.error) p.reject(new Error(m.error));
    else p.resolve(m.result);
  });
  const call = (cmd, args = {}, timeoutMs = 30_000) =>
    new Promise((resolve, reject) => {
      const id = next++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`bot process: no answer to ${cmd} after ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, { resolve, reject, timer });
      child.send({ id, cmd, ...args });
    });
  const stop = async () => {
    await call('close', {}, 8000).catch(() => undefined);
    child.kill('SIGKILL');
  };
  return { pid: child.pid, call, stop };
}
