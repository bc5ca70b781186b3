/**
 * Log format as a user sees it: readable lines on a terminal (a real pseudo-terminal from
 * util-linux `script`), JSON lines through a pipe, and `log.format` / `--log-format` forcing either.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/dari.js', import.meta.url));
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').replace(/\r$/, '');
/** A readable pino-pretty line: `[HH:MM:ss.mmm] LEVEL: message`. */
const READABLE = /^\[\d\d:\d\d:\d\d\.\d{3}\] (INFO|WARN): /;

interface Run {
  lines: string[];
  /** Resolves with the first line matching `re` (ANSI colours removed). */
  waitFor(re: RegExp): Promise<string>;
  /** Ctrl-C on the terminal (or SIGINT through a pipe); resolves with the exit code. */
  interrupt(): Promise<number | null>;
}

/** Runs `dari ARGS` on a pseudo-terminal (`tty: true`, through `script`) or with stdout on a pipe. */
function dari(args: string[], tty: boolean): Run {
  const child = tty
    ? // `exec`: script runs the command through $SHELL -c; a shell that stays as the parent (dash,
      // CI's /bin/sh) would itself die of the Ctrl-C and make script report 130.
      spawn('script', ['-qefc', `exec ${[process.execPath, BIN, ...args].map(quote).join(' ')}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (line: string) => void }[] = [];
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = once(child, 'exit');
  createInterface({ input: child.stdout! }).on('line', (raw) => {
    const line = stripAnsi(raw);
    lines.push(line);
    for (const w of waiters.filter((x) => x.re.test(line))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(line);
    }
  });
  return {
    lines,
    waitFor: (re) => {
      const seen = lines.find((l) => re.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return Promise.race([
        new Promise<string>((resolve) => waiters.push({ re, resolve })),
        exited.then(([code]) => Promise.reject(new Error(`dari ${args.join(' ')} exited ${code} before ${re}: ${lines.join('\n')} ${stderr}`))),
      ]);
    },
    async interrupt() {
      if (tty) child.stdin!.write('\x03');
      else child.kill('SIGINT');
      const [code] = await exited;
      return code as number | null;
    },
  };
}

const SERVE = ['serve', '--port', '0', '--set', 'turn.port=0'];

test('dari serve on a terminal logs readable lines, and Ctrl-C stops it cleanly', async () => {
  const r = dari(SERVE, true);
  const ready = await r.waitFor(/ready http/);
  assert.match(ready, READABLE);
  assert.match(ready, /INFO: ready http:\/\/127\.0\.0\.1:\d+ \(signaling ws:\/\/127\.0\.0\.1:\d+\/rtc; STUN\/TURN udp:/);
  assert.throws(() => JSON.parse(ready), 'not a JSON line');
  assert.match(await r.waitFor(/\[turn\]/), /INFO: \[turn\] relaying to loopback peers is allowed/, 'the turn child logger is named in the line');
  assert.equal(await r.interrupt(), 0);
  assert.match(r.lines.find((l) => /stopped/.test(l)) ?? '', READABLE);
});

test('dari serve through a pipe logs JSON lines; log.format: pretty forces readable ones', async () => {
  const json = dari(SERVE, false);
  const line = JSON.parse(await json.waitFor(/ready http/)) as { level: number; msg: string; url: string };
  assert.equal(line.level, 30);
  assert.match(line.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(await json.interrupt(), 0);
  const pretty = dari([...SERVE, '--set', 'log.format=pretty'], false);
  assert.match(await pretty.waitFor(/ready http/), READABLE);
  assert.equal(await pretty.interrupt(), 0);
});

test('dari serve with log.format: json logs JSON lines on a terminal too', async () => {
  const r = dari([...SERVE, '--set', 'log.format=json'], true);
  const line = JSON.parse(await r.waitFor(/ready http/)) as { level: number; msg: string };
  assert.match(line.msg, /^ready http/);
  assert.equal(await r.interrupt(), 0);
});

test('dari turn logs readable lines on a terminal, JSON with --log-format json', async () => {
  const args = ['turn', '--no-auth', '--listening-ip', '127.0.0.1', '--listening-port', '0'];
  const pretty = dari(args, true);
  assert.match(await pretty.waitFor(/ready udp/), /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: ready udp:\/\/127\.0\.0\.1:\d+ tcp:/);
  assert.equal(await pretty.interrupt(), 0);
  const json = dari([...args, '--log-format', 'json'], true);
  assert.deepEqual((JSON.parse(await json.waitFor(/ready udp/)) as { relay: unknown }).relay, { v4: '127.0.0.1' });
  assert.equal(await json.interrupt(), 0);
});
