#!/usr/bin/env node
/**
 * The soak (issue #14 item 5): `dari serve` under churn for a long time, its resources sampled,
 * their growth after warm-up judged against documented thresholds (bench/soak/README.md).
 *
 *   node bench/soak/run.mjs [--duration 600] [--warmup 60] [--sample-every 5] [--max-cycles 100000]
 *                           [--file-kb 256] [--allocations 4] [--json] [--samples-out FILE]
 *
 * Each cycle, in a fresh `auto` room: two werift participants join (P2P; the newcomer offers),
 * send a file over the mesh data channel (SHA-256 checked), a third joins (the room switches to
 * the SFU: publisher and subscriber legs with synthetic VP8 + Opus), it leaves (back to P2P,
 * `sfu-leave`), TURN allocations are made with the participants' credentials and relay data to
 * a local peer, then released, and everyone leaves. After each cycle the server is sampled once
 * it holds nothing again ("quiet"); in between, every `--sample-every` s ("busy").
 *
 * Bounded in time (`--duration` s, plus 60 s at most to finish the cycle under way) and count
 * (`--max-cycles`); every step of a cycle has its own timeout. Exit code 0 when everything
 * stayed flat and no cycle failed, 1 otherwise. Build first: npm run build.
 */
import { fork } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { parseArgs } from 'node:util';
import { devToken } from '../sfu/dari-bot.mjs';
import { disableWeriftDefaultStun } from '../sfu/rtc.mjs';
import { SoakBot } from './soak-bot.mjs';
import { analyse, formatReport } from './analyse.mjs';

const { TurnClient } = await import(new URL('../../packages/testkit/dist/src/index.js', import.meta.url).href);

const { values: opt } = parseArgs({
  options: {
    duration: { type: 'string', default: '600' },
    warmup: { type: 'string', default: '60' },
    'sample-every': { type: 'string', default: '5' },
    'max-cycles': { type: 'string', default: '100000' },
    'file-kb': { type: 'string', default: '256' },
    allocations: { type: 'string', default: '4' },
    json: { type: 'boolean', default: false },
    'samples-out': { type: 'string' },
  },
});
const durationS = Number(opt.duration);
const warmupS = Number(opt.warmup);
const sampleEveryS = Number(opt['sample-every']);
const maxCycles = Number(opt['max-cycles']);
const fileBytes = Number(opt['file-kb']) * 1024;
const allocations = Number(opt.allocations);
for (const [k, v] of Object.entries({ duration: durationS, warmup: warmupS, 'sample-every': sampleEveryS, 'max-cycles': maxCycles, 'file-kb': fileBytes, allocations })) {
  if (!Number.isFinite(v) || v < 0) {
    console.error(`bench/soak: --${k} must be a non-negative number`);
    process.exit(2);
  }
}
if (warmupS >= durationS) {
  console.error('bench/soak: --warmup must be shorter than --duration');
  process.exit(2);
}
disableWeriftDefaultStun();

// ------------------------------------------------------------------ the server process
const child = fork(new URL('./server.mjs', import.meta.url), [], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const pending = new Map();
let nextId = 1;
const ready = new Promise((resolve, reject) => {
  child.once('exit', (code) => reject(new Error(`the server process exited (${code})`)));
  child.on('message', (m) => {
    if (m.type === 'ready') resolve(m);
    else if (m.type === 'sample') pending.get(m.id)?.(m.sample);
  });
});
const ask = (type, extra = {}) =>
  new Promise((resolve, reject) => {
    const id = nextId++;
    const t = setTimeout(() => reject(new Error(`no ${type} sample within 30 s`)), 30_000);
    pending.set(id, (s) => {
      clearTimeout(t);
      pending.delete(id);
      resolve(s);
    });
    child.send({ type, id, ...extra });
  });
const srv = await ready;

// ------------------------------------------------------------------ churn
const sink = createSocket('udp4');
let sunk = 0;
sink.on('message', () => sunk++);
await new Promise((r) => sink.bind(0, '127.0.0.1', r));
const peer = { address: '127.0.0.1', port: sink.address().port };

const withTimeout = (p, ms, what) => Promise.race([p, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: over ${ms} ms`)), ms))]);

async function until(what, cond, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const counts = { cycles: 0, failed: 0, joins: 0, switches: 0, files: 0, fileBytes: 0, allocations: 0, relayed: 0 };
const errors = [];

async function cycle(i) {
  const room = `soak-${i}`;
  const bots = [];
  const join = async (identity) => {
    const bot = new SoakBot({ url: srv.ws, token: await devToken(srv.url, room, identity), identity });
    bots.push(bot);
    const joined = await bot.connect();
    counts.joins++;
    return { bot, joined };
  };
  try {
    const { bot: a, joined } = await join('a');
    const { bot: b } = await join('b');
    // P2P: b offered to a; a file over the mesh data channel.
    await withTimeout(b.sendFile('a', fileBytes), 20_000, 'file b → a');
    counts.files++;
    counts.fileBytes += fileBytes;
    // A third participant: the room goes to the SFU.
    const { bot: c } = await join('c');
    await withTimeout(Promise.all([a, b, c].map((x) => x.sfuConnected(20_000))), 25_000, 'SFU legs');
    counts.switches++;
    await c.close();
    bots.splice(bots.indexOf(c), 1);
    // Back to P2P: a and b close their legs and send sfu-leave.
    await until('back to p2p', () => a.mode === 'p2p' && b.mode === 'p2p' && !a.publisherPc && !b.publisherPc, 15_000);
    counts.switches++;
    // TURN allocations with the participant's credentials, relaying to a local peer.
    const turn = joined.iceServers.find((s) => s.username !== undefined);
    const creds = { username: turn.username, password: turn.credential };
    const clients = [];
    try {
      for (let k = 0; k < allocations; k++) {
        const tc = await TurnClient.udp(srv.turn);
        clients.push(tc);
        const r = await tc.allocate(creds);
        if (!r.ok) throw new Error(`allocate: ${JSON.stringify(r)}`);
        counts.allocations++;
        if (!(await tc.permit(creds, peer))) throw new Error('CreatePermission refused');
        const before = sunk;
        for (let n = 0; n < 10; n++) tc.sendTo(peer, new Uint8Array(200));
        await until('relayed data at the peer', () => sunk >= before + 10, 5000);
        counts.relayed += 10;
      }
    } finally {
      for (const tc of clients) {
        await tc.release(creds);
        tc.close();
      }
    }
    for (const x of [a, b]) if (x.errors.length) throw new Error(`${x.identity}: ${x.errors.join('; ')}`);
  } finally {
    await Promise.all(bots.map((x) => x.close()));
  }
}

// ------------------------------------------------------------------ the run
const started = Date.now();
const warmupEnd = started + warmupS * 1000;
const end = started + durationS * 1000;
const hardEnd = end + 60_000;
const samples = [];
const busyTimer = setInterval(() => ask('sample').then((s) => samples.push({ ...s, warm: s.t < warmupEnd }), () => undefined), sampleEveryS * 1000);
samples.push({ ...(await ask('quiet')), warm: true });
for (let i = 0; i < maxCycles && Date.now() < end; i++) {
  try {
    await withTimeout(cycle(i), Math.max(1000, hardEnd - Date.now()), `cycle ${i}`);
    counts.cycles++;
  } catch (err) {
    counts.failed++;
    errors.push(`cycle ${i}: ${err.message}`);
    if (!opt.json) console.error(`# cycle ${i} failed: ${err.message}`);
  }
  const q = await ask('quiet');
  samples.push({ ...q, warm: q.t < warmupEnd });
  if (!opt.json && i % 10 === 0) console.error(`# ${Math.round((Date.now() - started) / 1000)} s: ${counts.cycles} cycles, heap ${(q.heapUsed / 2 ** 20).toFixed(1)} MiB, rss ${(q.rss / 2 ** 20).toFixed(1)} MiB, fds ${q.fds}, handles ${q.handles}`);
  if (Date.now() > hardEnd) break;
}
clearInterval(busyTimer);
child.send({ type: 'stop' });
await new Promise((r) => child.once('exit', r));
sink.close();

if (opt['samples-out']) (await import('node:fs')).writeFileSync(opt['samples-out'], JSON.stringify(samples));
const result = analyse(samples, { durationS: (Date.now() - started) / 1000, warmupS, counts, errors });
const command = `node bench/soak/run.mjs ${process.argv.slice(2).join(' ')}`.trim();
if (opt.json) console.log(JSON.stringify({ ...result, command }));
else console.log(formatReport(result, command));
process.exit(result.flat && counts.failed === 0 && counts.cycles > 0 ? 0 : 1);
