/**
 * The servers under test, each its own process (so /proc/<pid>/stat is the server's CPU alone,
 * all threads included), optionally pinned to a CPU with `taskset`:
 *
 * - Dari: `node packages/server/bin/dari.js serve` in dev mode on 127.0.0.1, rooms in `sfu`
 *   mode, the SFU announcing 127.0.0.1, the embedded TURN server off;
 * - Janus 1.1.2 (Debian package `janus`): a generated config folder in a temp directory that
 *   loads only the VideoRoom plugin and the WebSocket transport (bound to 127.0.0.1), no STUN or
 *   TURN, no event handlers or loggers, IPv6 off, RTP ports in a fixed range.
 *
 * Every process started here is killed when the benchmark exits, even on error or Ctrl-C.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, readFileSync, rmSync, existsSync, cpSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const DARI_BIN = join(ROOT, 'packages/server/bin/dari.js');
const JANUS_LIB = '/usr/lib/x86_64-linux-gnu/janus';
const CLK_TCK = 100; // USER_HZ: unit of utime/stime in /proc/<pid>/stat

const live = new Set();
const tempDirs = new Set();
export function killAll() {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {}
  }
  live.clear();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}
process.on('exit', killAll);

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** utime + stime of a process (all its threads), CPU-seconds; null when it is gone. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/** VmRSS (bytes) and thread count of a process. */
export function memory(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return { rssBytes: Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? NaN) * 1024, threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? NaN) };
  } catch {
    return { rssBytes: null, threads: null };
  }
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Resolves when something accepts TCP connections on 127.0.0.1:port (polling, bounded). */
async function waitListening(port, timeoutMs, child, name, tail) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before listening:\n${tail()}`);
    const ok = await new Promise((resolve) => {
      const sock = net.connect({ host: '127.0.0.1', port }, () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`${name} not listening on 127.0.0.1:${port} after ${timeoutMs} ms:\n${tail()}`);
}

/** Spawns a process (pinned to `cpu` when given), keeps the last lines of its output. */
function spawnTracked(name, cmd, args, { cpu } = {}) {
  const [file, argv] = cpu !== undefined && cpu !== null ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args];
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let out = '';
  const keep = (d) => (out = (out + d).slice(-6000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.on('exit', () => live.delete(child));
  const tail = () => out.split('\n').slice(-15).join('\n');
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const exited = new Promise((r) => child.once('exit', r));
    if ((await Promise.race([exited.then(() => true), sleep(4000).then(() => false)])) === false) {
      child.kill('SIGKILL');
      await Promise.race([exited, sleep(2000)]);
    }
  };
  return { name, child, pid: child.pid, command: [file, ...argv].join(' '), tail, stop, alive: () => child.exitCode === null && child.signalCode === null };
}

/** Newest modification time (ms) of the .js files under `dir`. */
export function newestJs(dir) {
  let newest = 0;
  const walk = (d, depth) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory() && depth < 4) walk(p, depth + 1);
      else if (e.isFile() && e.name.endsWith('.js')) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  walk(dir, 0);
  return newest;
}

/** The `@dari/*` workspace packages the server depends on (their dist is part of a snapshot). */
function serverWorkspaceDeps() {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'packages/server/package.json'), 'utf8'));
  return Object.keys(pkg.dependencies ?? {})
    .filter((d) => d.startsWith('@dari/'))
    .map((d) => d.slice('@dari/'.length));
}

/**
 * Copies the built Dari server (packages/server/{bin,dist/src}, and the dist of every `@dari/*`
 * package it depends on: protocol, stun, sfu …) into a folder inside bench/sfu, so every Dari run
 * of one benchmark measures the same build even when someone rebuilds the dist folders
 * meanwhile. Dependencies still resolve from the repository's node_modules (Node walks up from
 * the copy, which is why the folder must lie inside the repository). Retries while a build is
 * being written (bounded).
 * @param {{ into?: string }} [options] `into`: a folder to keep (a saved build, see
 *   `run.mjs --save-build`); default a temp folder `bench/sfu/.snapshot-*`, removed on exit
 * @returns {{ bin: string, dir: string, builtAt: string }} the copied dari.js and the newest file time copied
 */
export async function snapshotDari({ into } = {}) {
  const deps = serverWorkspaceDeps();
  const sources = ['packages/server/dist/src', ...deps.map((p) => `packages/${p}/dist`)].map((p) => join(ROOT, p));
  for (const src of sources) if (!existsSync(src)) throw new Error(`build first: npm run build (${src} is missing)`);
  for (let attempt = 0; attempt < 10; attempt++) {
    const before = Math.max(...sources.map(newestJs));
    if (Date.now() - before < 3000) {
      await sleep(3000); // a build is being written
      continue;
    }
    let dir;
    if (into) {
      if (existsSync(into)) throw new Error(`${into} exists: remove it first`);
      mkdirSync(into, { recursive: true });
      dir = into;
    } else {
      dir = mkdtempSync(join(ROOT, 'bench/sfu/.snapshot-'));
      tempDirs.add(dir);
    }
    const copy = (from, to) => cpSync(join(ROOT, from), join(dir, to), { recursive: true });
    copy('packages/server/package.json', 'packages/server/package.json');
    copy('packages/server/bin', 'packages/server/bin');
    copy('packages/server/dist/src', 'packages/server/dist/src');
    for (const p of deps) {
      copy(`packages/${p}/package.json`, `node_modules/@dari/${p}/package.json`);
      copy(`packages/${p}/dist`, `node_modules/@dari/${p}/dist`);
    }
    // routes.js serves ../../../../{meet,client}/dist relative to itself.
    for (const p of ['meet', 'client']) symlinkSync(join(ROOT, 'packages', p), join(dir, 'packages', p));
    if (Math.max(...sources.map(newestJs)) === before) return { bin: join(dir, 'packages/server/bin/dari.js'), dir, builtAt: new Date(before).toISOString() };
    rmSync(dir, { recursive: true, force: true }); // changed while copying: again
    tempDirs.delete(dir);
  }
  throw new Error('the Dari build kept changing for 30 s: cannot take a consistent snapshot');
}

/** `dari serve` for the benchmark (`bin`: a snapshot's dari.js, default the repository's); resolves once it answers. */
export async function startDari({ cpu, bin = DARI_BIN } = {}) {
  if (!existsSync(bin)) throw new Error(`build first: npm run build (${bin} is missing)`);
  const port = await freePort();
  const args = [
    bin,
    'serve',
    '--host', '127.0.0.1',
    '--port', String(port),
    '--log-level', 'warn',
    '--set', 'sfu.mode=sfu',
    '--set', 'sfu.announcedAddresses=["127.0.0.1"]',
    '--set', 'turn.enabled=false',
    '--set', 'signaling.maxParticipantsPerRoom=1000',
  ];
  const s = spawnTracked('dari', process.execPath, args, { cpu });
  s.command = s.command.replace(process.execPath, 'node').replace(bin, 'packages/server/bin/dari.js').replace('["127.0.0.1"]', `'["127.0.0.1"]'`);
  await waitListening(port, 15_000, s.child, 'dari', s.tail);
  return { ...s, port, url: `ws://127.0.0.1:${port}/rtc`, httpUrl: `http://127.0.0.1:${port}` };
}

/** Installed Janus version ("1.1.2"), or null. */
export function janusVersion() {
  const r = spawnSync('janus', ['--version'], { encoding: 'utf8', timeout: 5000 });
  if (r.status !== 0 && !r.stdout) return null;
  return /\((\d+\.\d+\.\d+)\)/.exec(r.stdout)?.[1] ?? null;
}

/**
 * Writes a minimal Janus configuration into a temp folder: only one plugin (`videoroom` for
 * bench/sfu, `streaming` for bench/ingest, whose own jcfg is `pluginConfig`) and the WebSocket
 * transport are visible to Janus (symlinks in private plugin/transport folders).
 */
export function janusConfig({ wsPort, iceLite = false, rtpPorts = '20000-29999', debugLevel = 3, plugin = 'videoroom', pluginConfig = 'general: {\n}\n' }) {
  const dir = mkdtempSync(join(tmpdir(), 'dari-bench-janus-'));
  tempDirs.add(dir);
  for (const sub of ['plugins', 'transports', 'events', 'loggers']) mkdirSync(join(dir, sub));
  symlinkSync(join(JANUS_LIB, `plugins/libjanus_${plugin}.so`), join(dir, `plugins/libjanus_${plugin}.so`));
  symlinkSync(join(JANUS_LIB, 'transports/libjanus_websockets.so'), join(dir, 'transports/libjanus_websockets.so'));
  writeFileSync(
    join(dir, 'janus.jcfg'),
    `general: {
	configs_folder = "${dir}"
	plugins_folder = "${dir}/plugins"
	transports_folder = "${dir}/transports"
	events_folder = "${dir}/events"
	loggers_folder = "${dir}/loggers"
	debug_level = ${debugLevel}
	interface = "127.0.0.1"
	server_name = "dari-bench"
	session_timeout = 60
	hide_dependencies = true
}
certificates: {
}
media: {
	ipv6 = false
	rtp_port_range = "${rtpPorts}"
	no_media_timer = 1
	slowlink_threshold = 0
}
nat: {
	nice_debug = false
	full_trickle = false
	ice_lite = ${iceLite}
	ice_tcp = false
	ignore_mdns = true
	ice_ignore_list = "vmnet"
}
plugins: {
}
transports: {
}
loggers: {
}
events: {
	broadcast = false
}
`,
  );
  writeFileSync(
    join(dir, 'janus.transport.websockets.jcfg'),
    `general: {
	json = "plain"
	ws = true
	ws_port = ${wsPort}
	ws_ip = "127.0.0.1"
	wss = false
	ws_logging = "err"
}
admin: {
	admin_ws = false
	admin_wss = false
}
`,
  );
  writeFileSync(join(dir, `janus.plugin.${plugin}.jcfg`), pluginConfig);
  return dir;
}

/** Janus with the generated config; resolves once its WebSocket transport listens. */
export async function startJanus({ cpu, iceLite = false } = {}) {
  const wsPort = await freePort();
  const dir = janusConfig({ wsPort, iceLite });
  const args = ['--config', join(dir, 'janus.jcfg'), '--configs-folder', dir, '--disable-colors'];
  const s = spawnTracked('janus', 'janus', args, { cpu });
  await waitListening(wsPort, 20_000, s.child, 'janus', s.tail);
  return { ...s, port: wsPort, url: `ws://127.0.0.1:${wsPort}`, configDir: dir };
}
