/** The `dari` CLI as a user runs it: a real process, real signals. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createInterface } from 'node:readline';
import { verifyToken, DEV_API_KEY, DEV_API_SECRET } from '../src/tokens.js';
import { Client } from './helpers.js';

const BIN = fileURLToPath(new URL('../../bin/dari.js', import.meta.url));
const run = promisify(execFile);

async function fails(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stderr: string }> {
  try {
    await run(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } });
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
  throw new Error(`dari ${args.join(' ')} succeeded`);
}

test('dari token prints a dev-key token with the given claims', async () => {
  const { stdout } = await run(process.execPath, [BIN, 'token', '--room', 'R', '--identity', 'I', '--name', 'N', '--ttl', '1h', '--grants', '{"canPublish":false}']);
  const claims = await verifyToken(stdout.trim(), new Map([[DEV_API_KEY, DEV_API_SECRET]]));
  assert.equal(claims.room, 'R');
  assert.equal(claims.sub, 'I');
  assert.equal(claims.name, 'N');
  assert.equal(claims.grants?.canPublish, false);
  assert.ok(Math.abs(claims.exp - Date.now() / 1000 - 3600) < 60);
});

test('invalid config exits non-zero naming the key', async () => {
  const a = await fails(['serve', '--port', 'x']);
  assert.equal(a.code, 2);
  assert.match(a.stderr, /port/);
  const b = await fails(['serve'], { DARI_SIGNALING__REONNECT: '5' });
  assert.match(b.stderr, /signaling\.reonnect/);
  const c = await fails(['serve', '--host', '0.0.0.0']);
  assert.match(c.stderr, /host: refusing to bind 0\.0\.0\.0/);
  const d = await fails(['serve', '--bogus']);
  assert.match(d.stderr, /bogus/);
  const e = await fails(['token', '--room', 'r']);
  assert.match(e.stderr, /identity/);
});

test('dari serve prints ready with its URLs, serves, and exits 0 on SIGTERM after telling clients', async () => {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--set', 'turn.port=0', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = createInterface({ input: child.stdout! });
  let readyLine = '';
  for await (const line of lines) {
    if (line.includes('ready')) {
      readyLine = line;
      break;
    }
  }
  const { url, ws } = JSON.parse(readyLine) as { url: string; ws: string };
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal((await fetch(`${url}/healthz`)).status, 200);
  const { client } = await Client.join({ wsUrl: ws } as never, 'cli', 'alice');
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  assert.equal(await client.closed, 1001);
  assert.ok(client.messages.some((m) => m.type === 'closing' && m.reason === 'server-shutdown'));
  const [code] = await exited;
  assert.equal(code, 0);
});

test('a taken STUN/TURN port stops dari serve with a message naming turn.port', async () => {
  const { createSocket } = await import('node:dgram');
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  try {
    const { code, stderr } = await fails(['serve', '--port', '0', '--set', `turn.port=${sock.address().port}`, '--log-level', 'silent']);
    assert.equal(code, 1);
    assert.match(stderr, /turn\.port.*EADDRINUSE/);
  } finally {
    sock.close();
  }
});

test('dari and every subcommand answer --help (and -h) with their options, units and defaults', async () => {
  const expect: [string[], RegExp[]][] = [
    [['--help'], [/^usage: dari <command>/, /serve /, /token /, /turn /, /nat-check /]],
    [['serve', '--help'], [/^usage: dari serve/, /--port P +HTTP\/WebSocket port \(default 7880; 0 = any free port\)/, /--log-format F +json\|pretty/, /--set path=value/, /docs\/configuration\.md/]],
    [['token', '-h'], [/^usage: dari token --room R --identity I/, /--ttl D +lifetime: seconds, or a number with s, m, h or d \(default 6h\)/, /--grants JSON/]],
    [['turn', '--help'], [/^usage: dari turn/, /--listening-port, -p +UDP and TCP listener port, default 3478/, /--stale-nonce +nonce lifetime in seconds, default 600/, /--log-format/]],
    [['nat-check', '--help'], [/^usage: dari nat-check/, /--stun host:port .*\(default 127\.0\.0\.1:3478\)/, /--rto-ms MS +first retransmission timeout, ms/]],
  ];
  for (const [args, patterns] of expect) {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args]);
    assert.equal(stderr, '', args.join(' '));
    for (const p of patterns) assert.match(stdout, p, `dari ${args.join(' ')}`);
  }
  // Options still work next to the help table, and unknown ones are still refused.
  const f = await fails(['token', '--room', 'r', '--identity', 'i', '--bogus']);
  assert.equal(f.code, 2);
  assert.match(f.stderr, /bogus/);
  const g = await fails(['nat-check', '--stun']);
  assert.equal(g.code, 2);
  assert.match(g.stderr, /--stun/);
});
