#!/usr/bin/env node
// bench/call-setup: time from connect to the first decoded remote video frame between two
// Chromium pages on loopback, Dari against PeerJS (the `peer` server and `peerjs` client), in
// the same run, alternating A B A B. Reports median and p95 (ms) and the ratio Dari/PeerJS.
//
//   npm run build && node bench/call-setup/run.mjs [--calls 20]
//
// Both sides: host candidates only (iceServers: []), fake 320x240 camera + microphone captured
// before the timer starts. Dari: t0 = room.connect() on the joining page (WebSocket, join,
// offer/answer, ICE, DTLS). PeerJS: t0 = new Peer() on the calling page (WebSocket, OPEN, call).
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const root = fileURLToPath(new URL('../../', import.meta.url));
const here = fileURLToPath(new URL('.', import.meta.url));
const { values } = parseArgs({ options: { calls: { type: 'string', default: '20' } } });
const CALLS = Math.max(1, Math.min(200, Number(values.calls)));
const CALL_TIMEOUT_MS = 20_000;

const children = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

/** Spawns a process and resolves with the first stdout line matching `re`. */
function start(args, re) {
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} did not start`)), 30_000);
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      if (re.test(line)) {
        clearTimeout(timer);
        resolve({ child, line });
      }
    });
    child.on('exit', (code) => reject(new Error(`${args[0]} exited with ${code}`)));
  });
}

const { line: readyLine } = await start(['packages/server/bin/dari.js', 'serve', '--port', '0', '--log-level', 'info'], /ready/);
const dariUrl = JSON.parse(readyLine).url;

const peerScript = `
  const { PeerServer } = await import('peer');
  const server = PeerServer({ port: 0, host: '127.0.0.1', path: '/' }, (s) => console.log('PEER_READY ' + s.address().port));
`;
const { line: peerLine } = await start(['--input-type=module', '-e', peerScript], /PEER_READY/);
const peerPort = Number(peerLine.split(' ')[1]);

// The PeerJS pages' origin: a blank page plus the peerjs client bundle.
const peerjsBundle = readFileSync(`${root}node_modules/peerjs/dist/peerjs.min.js`);
const pageServer = createServer((req, res) => {
  if (req.url === '/peerjs.min.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' });
    return res.end(peerjsBundle);
  }
  res.writeHead(200, { 'content-type': 'text/html' });
  res.end('<!doctype html><title>peerjs bench</title><script src="/peerjs.min.js"></script>');
});
await new Promise((r) => pageServer.listen(0, '127.0.0.1', r));
const pageUrl = `http://127.0.0.1:${pageServer.address().port}`;

const { mintToken, DEV_API_KEY, DEV_API_SECRET } = await import(`${root}packages/server/dist/src/index.js`);
const token = (room, identity) => mintToken({ apiKey: DEV_API_KEY, apiSecret: DEV_API_SECRET, room, identity });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream', '--allow-loopback-in-peer-connection',
    '--disable-features=WebRtcHideLocalIpsWithMdns',
  ],
});

async function page(url) {
  const p = await (await browser.newContext()).newPage();
  await p.goto(url);
  await p.addScriptTag({ path: `${here}page.js` });
  await p.evaluate(() => window.bench.prepareMedia());
  return p;
}

function withTimeout(promise, what) {
  return Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} timed out`)), CALL_TIMEOUT_MS))]);
}

const results = { dari: [], peerjs: [] };
try {
  const [dA, dB] = [await page(`${dariUrl}/healthz`), await page(`${dariUrl}/healthz`)];
  const [pA, pB] = [await page(pageUrl), await page(pageUrl)];
  const runs = {
    async dari(i) {
      const room = `cs-${i}`;
      await dA.evaluate((a) => window.bench.dariHost(a), { url: dariUrl, token: await token(room, 'a') });
      const ms = await withTimeout(dB.evaluate((a) => window.bench.dariJoin(a), { url: dariUrl, token: await token(room, 'b') }), 'dari call');
      await dB.evaluate(() => window.bench.dariLeave());
      await dA.evaluate(() => window.bench.dariLeave());
      return ms;
    },
    async peerjs(i) {
      const args = { host: '127.0.0.1', port: peerPort, id: `a-${i < 0 ? "w" : i}-${process.pid}` };
      await pA.evaluate((a) => window.bench.peerjsHost(a), args);
      const ms = await withTimeout(pB.evaluate((a) => window.bench.peerjsJoin(a), { ...args, id: `b-${i < 0 ? "w" : i}-${process.pid}`, target: args.id }), 'peerjs call');
      await pB.evaluate(() => window.bench.peerjsLeave());
      await pA.evaluate(() => window.bench.peerjsLeave());
      return ms;
    },
  };
  // One warm-up call each (JIT, first module loads), not counted.
  await runs.dari(-1);
  await runs.peerjs(-1);
  for (let i = 0; i < CALLS; i++) {
    const order = i % 2 === 0 ? ['dari', 'peerjs'] : ['peerjs', 'dari'];
    for (const name of order) results[name].push(await runs[name](i));
    process.stderr.write(`call ${i + 1}/${CALLS}: dari ${results.dari.at(-1).toFixed(0)} ms, peerjs ${results.peerjs.at(-1).toFixed(0)} ms\n`);
  }
} finally {
  await browser.close();
  pageServer.close();
  children.forEach((c) => c.kill('SIGTERM'));
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const summary = {
  calls: CALLS,
  dari: { medianMs: median(results.dari), p95Ms: quantile(results.dari, 0.95) },
  peerjs: { medianMs: median(results.peerjs), p95Ms: quantile(results.peerjs, 0.95) },
};
summary.ratioMedian = summary.dari.medianMs / summary.peerjs.medianMs;
summary.ratioP95 = summary.dari.p95Ms / summary.peerjs.p95Ms;
const f = (x) => x.toFixed(0).padStart(6);
console.log(`\ncall setup, connect → first decoded remote frame, ${CALLS} calls each (ms)`);
console.log(`           median    p95`);
console.log(`Dari       ${f(summary.dari.medianMs)} ${f(summary.dari.p95Ms)}`);
console.log(`PeerJS     ${f(summary.peerjs.medianMs)} ${f(summary.peerjs.p95Ms)}`);
console.log(`Dari/PeerJS ratio: median ${summary.ratioMedian.toFixed(2)}, p95 ${summary.ratioP95.toFixed(2)}  (target: ratio ≤ 1.0, median ≤ 400 ms)`);
console.log(`reproduce: npm run build && node bench/call-setup/run.mjs --calls ${CALLS}`);
console.log(`RESULT ${JSON.stringify(summary)}`);
process.exit(0);
