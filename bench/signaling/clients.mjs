/**
 * Load generator: WebSocket clients (npm `ws`) for Dari's /rtc protocol and PeerJS's /peerjs
 * protocol, the fan-out load and the offer/answer relay load. All clients live in this process,
 * so send and receive timestamps come from one clock (performance.now, ms).
 */
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';

const WS_OPTS = { perMessageDeflate: false, skipUTF8Validation: true };
/** In the open-loop fan-out a client with this many bytes unsent skips its turn (backpressure). */
const MAX_BUFFERED_BYTES = 64 * 1024;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Latency histogram, ms, with log buckets 1 % wide from 1 µs to ~150 s (bounded memory). */
export class Histogram {
  static GROWTH = Math.log(1.01);
  counts = new Float64Array(1900);
  n = 0;
  add(ms) {
    const i = ms <= 0.001 ? 0 : Math.min(this.counts.length - 1, Math.ceil(Math.log(ms / 0.001) / Histogram.GROWTH));
    this.counts[i]++;
    this.n++;
  }
  /** q-quantile in ms (upper edge of its bucket), or null when empty. */
  quantile(q) {
    if (this.n === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.n));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) if ((seen += this.counts[i]) >= rank) return 0.001 * Math.exp(i * Histogram.GROWTH);
    return null;
  }
}

/**
 * Opens a socket; `hello(ws)` runs on open; `greet(text)` judges each frame until the client is
 * ready (true), failed (an error string) or undecided (false). Afterwards frames go to
 * `client.onFrame(text)`.
 */
function open(url, hello, greet, timeoutMs = 30_000) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, WS_OPTS);
    const client = { ws, onFrame: () => {} };
    let settled = false;
    const fail = (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.terminate();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error(`not ready within ${timeoutMs} ms`)), timeoutMs);
    ws.on('open', () => hello(ws));
    ws.on('message', (data) => {
      const text = data.toString();
      if (settled) return client.onFrame(text);
      const verdict = greet(text);
      if (verdict === true) {
        settled = true;
        clearTimeout(timer);
        resolve(client);
      } else if (verdict) fail(new Error(verdict));
    });
    ws.on('error', (err) => fail(err));
    ws.on('close', (code) => fail(new Error(`closed ${code}`)));
  });
}

/** A Dari client: connect, send `join`, ready on `joined` (fails with the error code). */
export async function openDari(url, { room, identity, token }) {
  const client = await open(
    url,
    (ws) => ws.send(JSON.stringify({ type: 'join', v: 1, token })),
    (text) => (text.startsWith('{"type":"joined"') ? true : text.startsWith('{"type":"error"') ? JSON.parse(text).code : false),
  );
  return Object.assign(client, { room, identity });
}

/** A PeerJS client: id and token in the query string, ready on `OPEN`. */
export async function openPeerJs(url, id) {
  const client = await open(
    `${url}?key=peerjs&id=${encodeURIComponent(id)}&token=${randomUUID()}`,
    () => {},
    (text) => (text.startsWith('{"type":"OPEN"') ? true : text.startsWith('{"type":"ERROR"') || text.startsWith('{"type":"ID-TAKEN"') ? text : false),
  );
  return Object.assign(client, { id });
}

/**
 * Opens clients for `specs` with at most `concurrency` handshakes in flight.
 * @returns clients in spec order (failed ones left out), join latency (ms, connect → ready), wall time (s), failures by message
 */
export async function connectAll(openOne, specs, concurrency = 200) {
  const clients = new Array(specs.length);
  const joinMs = new Histogram();
  const failures = {};
  let next = 0;
  const t0 = performance.now();
  async function lane() {
    while (next < specs.length) {
      const i = next++;
      const t = performance.now();
      try {
        clients[i] = await openOne(specs[i]);
        joinMs.add(performance.now() - t);
      } catch (err) {
        failures[err.message] = (failures[err.message] ?? 0) + 1;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, specs.length) }, lane));
  return { clients: clients.filter(Boolean), joinMs, seconds: (performance.now() - t0) / 1000, failures };
}

export function closeAll(clients) {
  for (const c of clients) c.ws.terminate();
}

/**
 * Fan-out load on joined Dari clients: broadcast signals (`to: []`, so every member of the room,
 * sender included, receives each one) whose `data` is "<send time ms> <client index>".
 *  - open loop (`rate` signals/s per client): a 5 ms ticker sends the signals due so far
 *    round-robin; a client whose socket has > 64 KiB unsent skips its turn (counted as skipped);
 *  - closed loop (`window`): each client keeps `window` own signals in flight and sends the next
 *    one when its own copy comes back (finds the saturation throughput).
 * Counts frames received during the window (`seconds`), then waits up to 5 s for stragglers.
 * `mark()` is called at the start and the end of the window (server CPU samples).
 */
export async function runFanout(clients, { rate, window, seconds, mark = () => {} }) {
  const lat = new Histogram();
  let sent = 0, skipped = 0, received = 0, other = 0, measuring = true, sending = true;
  const send = (c, i) => {
    c.ws.send(`{"type":"signal","signal":{"type":"bench","data":"${performance.now().toFixed(3)} ${i}","to":[]}}`);
    sent++;
  };
  clients.forEach((c, i) => {
    c.onFrame = (text) => {
      const at = text.startsWith('{"type":"signal"') ? text.indexOf('"data":"') : -1;
      if (at < 0) return void other++; // presence frames, errors
      const end = text.indexOf('"', at + 8);
      const space = text.indexOf(' ', at + 8);
      received++;
      if (measuring) lat.add(performance.now() - Number(text.slice(at + 8, space)));
      if (window && sending && Number(text.slice(space + 1, end)) === i) send(c, i);
    };
  });
  const cpu0 = process.cpuUsage();
  mark();
  const t0 = performance.now();
  let ticker;
  if (window) {
    clients.forEach((c, i) => { for (let k = 0; k < window; k++) send(c, i); });
  } else {
    let cursor = 0;
    const perMs = (clients.length * rate) / 1000;
    ticker = setInterval(() => {
      const due = Math.floor((performance.now() - t0) * perMs) - sent - skipped;
      for (let k = 0; k < due; k++) {
        const i = cursor++ % clients.length;
        const c = clients[i];
        if (c.ws.bufferedAmount > MAX_BUFFERED_BYTES) skipped++;
        else send(c, i);
      }
    }, 5);
  }
  await sleep(seconds * 1000);
  sending = false;
  clearInterval(ticker);
  mark();
  measuring = false;
  const windowS = (performance.now() - t0) / 1000;
  const inWindow = { sent, received, latency: lat };
  const cpu = process.cpuUsage(cpu0);
  // Drain: stop when nothing arrived for 500 ms, or after 5 s.
  for (let last = -1, k = 0; k < 10 && received !== last; k++) {
    last = received;
    await sleep(500);
  }
  return {
    windowS, ...inWindow, skipped, other, receivedTotal: received,
    generatorCpuS: (cpu.user + cpu.system) / 1e6,
  };
}

/** An SDP-shaped offer of about `bytes` bytes (audio, video, data channel; padded with candidates). */
export function fakeSdp(bytes = 3000) {
  const lines = ['v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0 1 2', 'a=extmap-allow-mixed', 'a=msid-semantic: WMS'];
  for (const [mid, m] of [['0', 'audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126'], ['1', 'video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107'], ['2', 'application 9 UDP/DTLS/SCTP webrtc-datachannel']]) {
    lines.push(`m=${m}`, 'c=IN IP4 0.0.0.0', 'a=ice-ufrag:Yk4f', 'a=ice-pwd:0Dk1lB5ql8Y4HqCXSXJQFZ1m', 'a=ice-options:trickle', 'a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08', 'a=setup:actpass', `a=mid:${mid}`, 'a=sendrecv', 'a=rtcp-mux');
  }
  for (let k = 0; lines.join('\r\n').length < bytes - 100; k++) lines.push(`a=candidate:${1000 + k} 1 udp 2122260223 192.168.1.${k % 250} ${50000 + k} typ host generation 0 network-id 1`);
  return (lines.join('\r\n') + '\r\n').slice(0, bytes);
}

/**
 * Offer/answer relay between pairs [a, b]: `window` messages bounce inside each pair; whoever
 * receives an offer answers its partner at once, whoever receives an answer offers again, so each
 * received frame is one relayed message and `window` stay in flight per pair.
 * `frames(pair)` gives the two pre-serialised frames {offer: a→b, answer: b→a}; `isRelay(text)`
 * recognises a relayed frame. Returns relayed messages within `seconds`.
 */
export async function runRelay(pairs, { frames, isRelay, window, seconds, mark = () => {}, keepAlive }) {
  let relayed = 0, other = 0, running = true;
  const framesOf = pairs.map(frames);
  pairs.forEach(([a, b], k) => {
    const { offer, answer } = framesOf[k];
    b.onFrame = (text) => { if (!isRelay(text)) return void other++; if (running) { relayed++; b.ws.send(answer); } };
    a.onFrame = (text) => { if (!isRelay(text)) return void other++; if (running) { relayed++; a.ws.send(offer); } };
  });
  const ka = keepAlive ? setInterval(keepAlive, 5000) : undefined;
  const cpu0 = process.cpuUsage();
  mark();
  const t0 = performance.now();
  pairs.forEach(([a], k) => { for (let w = 0; w < window; w++) a.ws.send(framesOf[k].offer); });
  await sleep(seconds * 1000);
  running = false;
  mark();
  clearInterval(ka);
  const cpu = process.cpuUsage(cpu0);
  return { relayed, other, seconds: (performance.now() - t0) / 1000, generatorCpuS: (cpu.user + cpu.system) / 1e6 };
}
