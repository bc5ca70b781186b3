/**
 * The worker plumbing with real child processes: the command channel (ids, typed errors, bad
 * lines), timeouts and the heartbeat (a stopped worker is killed as hung and restarted), the
 * restart policy, giving up, and the GStreamer availability check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { MediaError, RestartPolicy, SupervisedWorker, WorkerProcess, checkGStreamer, workerScript, LineSplitter } from '../src/index.js';
import { nextEvent } from './helpers.js';

test('restart policy: doubling backoff, reset after a stable run, give up past maxCrashes in the window', () => {
  const p = new RestartPolicy({ initialDelayMs: 100, maxDelayMs: 1000, stableAfterMs: 10_000, maxCrashes: 3, windowMs: 60_000 });
  p.started(0);
  assert.deepEqual(p.crashed(10), { action: 'restart', delayMs: 100 });
  p.started(200);
  assert.deepEqual(p.crashed(300), { action: 'restart', delayMs: 200 });
  p.started(600);
  assert.deepEqual(p.crashed(700), { action: 'restart', delayMs: 400 });
  p.started(1200);
  const gaveUp = p.crashed(1300);
  assert.equal(gaveUp.action, 'give-up');
  // Crashes age out of the window, and a long run resets the delay.
  const q = new RestartPolicy({ initialDelayMs: 100, maxDelayMs: 300, stableAfterMs: 5000, maxCrashes: 2, windowMs: 1000 });
  for (const t of [0, 2000, 4000]) {
    q.started(t);
    assert.equal(q.crashed(t + 10).action, 'restart');
  }
  q.started(5000);
  assert.deepEqual(q.crashed(5100), { action: 'restart', delayMs: 300 }); // capped
  q.started(6000);
  assert.deepEqual(q.crashed(20_000), { action: 'restart', delayMs: 100 }); // ran 14 s: reset
  assert.deepEqual(new RestartPolicy({ maxCrashes: 0 }).crashed(0).action, 'give-up');
});

test('line splitter: lines across chunks, empty lines skipped, overlong lines dropped', () => {
  const s = new LineSplitter(10);
  assert.deepEqual(s.push('{"a":1}\n{"b"'), ['{"a":1}']);
  assert.deepEqual(s.push(':2}\n\n'), ['{"b":2}']);
  assert.deepEqual(s.push('x'.repeat(11) + '\nok\n'), ['ok']);
  assert.equal(s.dropped, 1);
  s.push('y'.repeat(20));
  assert.equal(s.dropped, 2);
  assert.deepEqual(s.push('\nfine\n'), ['fine']);
});

test('the raw command channel: replies by id; bad lines and bad args get typed errors; the worker goes on', { timeout: 30_000 }, async () => {
  const child = spawn('/usr/bin/python3', [workerScript('composite.py'), JSON.stringify({ width: 160, height: 90 })], { stdio: ['pipe', 'pipe', 'ignore'], env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  const lines = createInterface({ input: child.stdout });
  const got: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  lines.on('line', (l) => {
    got.push(JSON.parse(l) as Record<string, unknown>);
    waiters.splice(0).forEach((w) => w());
  });
  const until = async (pred: (m: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const m = got.find(pred);
      if (m) return m;
      if (Date.now() > deadline) throw new Error(`no such line; got ${JSON.stringify(got)}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 500);
      });
    }
  };
  try {
    await until((m) => m['event'] === 'ready');
    child.stdin.write('not json\n');
    child.stdin.write('{"id":"x","cmd":"ping"}\n');
    child.stdin.write('{"id":1,"cmd":"add-participant","args":[1,2]}\n');
    child.stdin.write('{"id":2,"cmd":"no-such-command"}\n');
    child.stdin.write('{"id":3,"cmd":"add-participant","args":{"participant":"../../etc","name":"x"}}\n');
    child.stdin.write('{"id":4,"cmd":"add-participant","args":{"participant":"p","name":"ok"}}\n');
    child.stdin.write('{"id":5,"cmd":"add-output","args":{"kind":"video","host":"10.0.0.1","port":5000}}\n');
    child.stdin.write('{"id":6,"cmd":"add-output","args":{"kind":"video","port":70000}}\n');
    child.stdin.write('{"id":7,"cmd":"add-output","args":{"kind":"film","port":5000}}\n');
    child.stdin.write('{"id":8,"cmd":"set-bitrate","args":{"bps":"fast"}}\n');
    child.stdin.write('{"id":9,"cmd":"ping"}\n');
    const errorCode = async (id: number): Promise<unknown> => ((await until((m) => m['id'] === id))['error'] as { code?: unknown } | undefined)?.code;
    assert.equal(await errorCode(1), 'BAD_ARGUMENT');
    assert.equal(await errorCode(2), 'UNKNOWN_COMMAND');
    assert.equal(await errorCode(3), 'BAD_ARGUMENT');
    assert.equal((await until((m) => m['id'] === 4))['ok'], true);
    assert.equal(await errorCode(5), 'BAD_ARGUMENT');
    assert.equal(await errorCode(6), 'BAD_ARGUMENT');
    assert.equal(await errorCode(7), 'BAD_ARGUMENT');
    assert.equal(await errorCode(8), 'BAD_ARGUMENT');
    assert.equal((await until((m) => m['id'] === 9))['ok'], true);
    assert.equal(got.filter((m) => m['event'] === 'protocol-error').length, 2);
    // Closing stdin (the parent died) stops the worker cleanly.
    child.stdin.end();
    const [code] = (await nextEvent<[number | null]>((l) => child.once('exit', l), 10_000, 'exit')) as [number | null];
    assert.equal(code, 0);
  } finally {
    child.kill('SIGKILL');
  }
});

test('a hung worker: its command times out, the heartbeat kills it, the supervisor restarts it', { timeout: 30_000 }, async () => {
  const worker = new SupervisedWorker({ kind: 'composite', config: { width: 160, height: 90 }, commandTimeoutMs: 300, heartbeatMs: 200, restart: { initialDelayMs: 50 } });
  await worker.start();
  try {
    const pid = worker.pid!;
    process.kill(pid, 'SIGSTOP');
    await assert.rejects(worker.command('stats'), (e: unknown) => e instanceof MediaError && e.code === 'WORKER_TIMEOUT');
    const [exit] = await nextEvent<[{ reason: string }]>((l) => worker.once('crashed', l), 5000, 'crashed');
    assert.equal(exit.reason, 'hung');
    // Until the restart, commands fail at once rather than wait.
    if (!worker.process) await assert.rejects(worker.command('stats'), (e: unknown) => e instanceof MediaError && e.code === 'WORKER_RESTARTING');
    const [started] = await nextEvent<[{ restart: boolean; pid: number }]>((l) => worker.once('started', l), 10_000, 'restart');
    assert.equal(started.restart, true);
    assert.notEqual(started.pid, pid);
    assert.deepEqual(Object.keys(await worker.command('stats')).sort(), ['bitrateBps', 'frames', 'participants', 'speaker']);
    assert.equal(worker.crashes, 1);
    assert.equal(worker.restarts, 1);
    assert.ok(worker.cpuSeconds() > 0);
  } finally {
    await worker.stop();
  }
});

test('a worker that keeps crashing: the supervisor gives up and commands fail at once', { timeout: 30_000 }, async () => {
  const worker = new SupervisedWorker({ kind: 'composite', config: { width: 160, height: 90 }, restart: { initialDelayMs: 50, maxCrashes: 1 } });
  await worker.start();
  const failed = nextEvent<[string]>((l) => worker.once('failed', l), 10_000, 'failed');
  worker.kill();
  await nextEvent((l) => worker.once('started', l), 10_000, 'first restart');
  worker.kill();
  const [reason] = await failed;
  assert.match(reason, /2 crashes within/);
  await assert.rejects(worker.command('stats'), (e: unknown) => e instanceof MediaError && e.code === 'WORKER_STOPPED');
});

test('a worker that cannot start rejects with WORKER_START_FAILED', { timeout: 30_000 }, async () => {
  await assert.rejects(WorkerProcess.start({ kind: 'composite', python: '/nonexistent/python3' }), (e: unknown) => e instanceof MediaError && e.code === 'WORKER_START_FAILED');
  // An interpreter that exits at once: the exit status is in the error.
  await assert.rejects(WorkerProcess.start({ kind: 'composite', python: '/bin/false' }), (e: unknown) => e instanceof MediaError && /status 1/.test(e.message));
});

test('GStreamer availability: ok here; without it, one line that says what to install', { timeout: 30_000 }, async () => {
  const ok = await checkGStreamer();
  assert.equal(ok.ok, true, ok.ok ? '' : ok.hint);
  if (ok.ok) assert.match(ok.version, /^GStreamer 1\./);
  const missing = await checkGStreamer('/nonexistent/python3');
  assert.equal(missing.ok, false);
  if (!missing.ok) {
    assert.match(missing.hint, /^GStreamer unavailable .*: apt-get install python3-gst-1\.0 /);
    assert.ok(!missing.hint.includes('\n'));
    assert.ok(missing.packages.includes('gstreamer1.0-plugins-good'));
  }
});
