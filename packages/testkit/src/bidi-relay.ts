/**
 * Runs Firefox inside a network namespace and makes its WebDriver BiDi endpoint reachable from
 * the host. Started (already inside the namespace) as
 * `node bidi-relay.js <bind-ip> <firefox> <firefox args…>`.
 *
 * Firefox's remote agent listens only on the namespace's own loopback, and answers a WebSocket
 * handshake only when its Host header names that loopback endpoint. This process starts Firefox,
 * waits for its `WebDriver BiDi listening on ws://127.0.0.1:<port>` line on stderr, opens a TCP
 * relay on `<bind-ip>` (the namespace's veth address) with the same port, and prints the line
 * again with the relay's address, which is what puppeteer reads. The relay rewrites the Host
 * header of each connection's handshake to `127.0.0.1:<port>` and then copies bytes both ways.
 * It exits with Firefox.
 */
import { spawn } from 'node:child_process';
import { createServer, connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';

const [bindIp, firefox, ...args] = process.argv.slice(2);
if (!bindIp || !firefox) {
  process.stderr.write('usage: bidi-relay <bind-ip> <firefox> [args…]\n');
  process.exit(2);
}

const child = spawn(firefox, args, { stdio: ['inherit', 'inherit', 'pipe'] });
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

let bidiPort = 0;
/** Largest handshake head accepted before the relay gives up on a connection, bytes. */
const MAX_HEAD_BYTES = 16 * 1024;

/** Copies `socket` to Firefox's loopback endpoint, with the handshake's Host header rewritten. */
function relayConnection(socket: Socket): void {
  const upstream = connect(bidiPort, '127.0.0.1');
  for (const [a, b] of [[socket, upstream], [upstream, socket]] as const) {
    a.on('error', () => b.destroy());
    a.on('close', () => b.destroy());
  }
  let head = Buffer.alloc(0);
  const onHead = (chunk: Buffer): void => {
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) {
      if (head.length > MAX_HEAD_BYTES) socket.destroy();
      return;
    }
    socket.off('data', onHead);
    const text = head.subarray(0, end).toString('latin1').replace(/^host:.*$/im, `Host: 127.0.0.1:${bidiPort}`);
    upstream.write(Buffer.concat([Buffer.from(text, 'latin1'), head.subarray(end)]));
    socket.pipe(upstream);
  };
  socket.on('data', onHead);
  upstream.pipe(socket);
}

const relay = createServer(relayConnection);
relay.unref();
relay.on('error', (err) => {
  process.stderr.write(`bidi-relay: cannot listen on ${bindIp}:${bidiPort}: ${err.message}\n`);
  child.kill('SIGKILL');
});

const LISTENING = /^WebDriver BiDi listening on ws:\/\/[^/]+:(\d+)(.*)$/;
createInterface({ input: child.stderr! }).on('line', (line) => {
  const m = LISTENING.exec(line);
  if (!m) {
    process.stderr.write(`${line}\n`);
    return;
  }
  bidiPort = Number(m[1]);
  relay.listen(bidiPort, bindIp, () => process.stderr.write(`WebDriver BiDi listening on ws://${bindIp}:${bidiPort}${m[2] ?? ''}\n`));
});
