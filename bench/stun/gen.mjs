/**
 * STUN Binding load generator (one process; bench/stun/run.mjs starts one or more).
 *
 *   node bench/stun/gen.mjs '{"port":3478,"sockets":8,"window":16,"warmupS":1,"seconds":5,"id":0}'
 *
 * `sockets` UDP sockets on 127.0.0.1, each keeping `window` Binding requests outstanding
 * (closed loop: a success response releases a slot and the next request goes out). A request
 * unanswered after 1 s counts as lost and is replaced. Counts only during the `seconds` after
 * `warmupS`; prints one line `GEN {json}` and exits. Bounded: it always exits by warmup +
 * seconds + 3 s.
 */
import { createSocket } from 'node:dgram';

const o = JSON.parse(process.argv[2]);
const hardStop = setTimeout(() => process.exit(3), (o.warmupS + o.seconds + 3) * 1000);
const MAGIC = 0x2112a442;
const TIMEOUT_MS = 1000;
const BUCKET_MS = 0.02; // latency histogram resolution
const hist = new Uint32Array(10_000); // 0..200 ms

let counting = false;
let stopped = false;
let sent = 0;
let received = 0;
let lost = 0;
let bad = 0;
let cpuStart = null;
let tStart = 0;

function request(sock, counter) {
  const b = Buffer.allocUnsafe(20);
  b.writeUInt32BE(0x00010000, 0); // Binding request, length 0
  b.writeUInt32BE(MAGIC, 4);
  b.writeUInt32BE(o.id, 8);
  b.writeUInt32BE(sock.index, 12);
  b.writeUInt32BE(counter, 16);
  return b;
}

const socks = [];
for (let i = 0; i < o.sockets; i++) {
  const s = createSocket('udp4');
  s.index = i;
  s.counter = 0;
  s.pending = new Map(); // counter -> send time (ms)
  s.send1 = () => {
    if (stopped) return;
    const c = (s.counter = (s.counter + 1) >>> 0);
    s.pending.set(c, performance.now());
    s.send(request(s, c), o.port, '127.0.0.1');
    if (counting) sent++;
  };
  s.on('message', (m) => {
    if (m.length < 20 || m.readUInt16BE(0) !== 0x0101 || m.readUInt32BE(12) !== i) {
      bad++;
      return;
    }
    const c = m.readUInt32BE(16);
    const t = s.pending.get(c);
    if (t === undefined) return; // late answer to a request already counted lost
    s.pending.delete(c);
    if (counting) {
      received++;
      hist[Math.min(hist.length - 1, Math.floor((performance.now() - t) / BUCKET_MS))]++;
    }
    s.send1();
  });
  s.on('error', () => {});
  socks.push(s);
}
await Promise.all(socks.map((s) => new Promise((r) => s.bind(0, '127.0.0.1', r))));
for (const s of socks) for (let k = 0; k < o.window; k++) s.send1();

// Lost requests: replaced so the window stays full.
const sweeper = setInterval(() => {
  const now = performance.now();
  for (const s of socks) {
    for (const [c, t] of s.pending) {
      if (now - t > TIMEOUT_MS) {
        s.pending.delete(c);
        if (counting) lost++;
        s.send1();
      }
    }
  }
}, 100);

setTimeout(() => {
  counting = true;
  cpuStart = process.cpuUsage();
  tStart = performance.now();
  setTimeout(finish, o.seconds * 1000);
}, o.warmupS * 1000);

function quantile(q) {
  let total = 0;
  for (const x of hist) total += x;
  let acc = 0;
  for (let i = 0; i < hist.length; i++) {
    acc += hist[i];
    if (acc >= q * total) return (i + 0.5) * BUCKET_MS;
  }
  return NaN;
}

function finish() {
  const wallS = (performance.now() - tStart) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  counting = false;
  stopped = true;
  clearInterval(sweeper);
  const out = {
    id: o.id,
    wallS,
    sent,
    received,
    lost,
    bad,
    responsesPerS: received / wallS,
    cpuPct: (100 * (cpu.user + cpu.system)) / 1e6 / wallS,
    p50Ms: quantile(0.5),
    p99Ms: quantile(0.99),
  };
  process.stdout.write(`GEN ${JSON.stringify(out)}\n`);
  for (const s of socks) s.close();
  clearTimeout(hardStop);
  setTimeout(() => process.exit(0), 50);
}
