/**
 * `dari nat-check`: RFC 5780 behaviour discovery over real sockets. The procedure and its
 * meaning live in classify.ts; this file performs the Binding transactions it asks for.
 */
import { createSocket, type Socket } from 'node:dgram';
import { connect, isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { lookup } from 'node:dns/promises';
import { NAT_CHECK, helpText, parseCommand } from '../cli-options.js';
import { Attr, MessageBuilder, Method, decodeMessage, frameLength, getAttribute, readAddress, readXorAddress, writeChangeRequest } from '@dari/stun';
import { classify, formatReport, nextStep, type Endpoint, type Observations } from './classify.js';

interface Response {
  mapped: Endpoint;
  other: Endpoint | null;
}

/** A UDP STUN client on one socket: retransmits (RFC 8489 §6.2.1 style, bounded) and matches by transaction id. */
class StunUdp {
  private readonly pending = new Map<string, (r: Response | 'request') => void>();

  constructor(readonly socket: Socket) {
    socket.on('message', (msg) => {
      const r = decodeMessage(new Uint8Array(msg));
      if (!r.ok) return;
      const key = Buffer.from(r.value.transactionId).toString('hex');
      const done = this.pending.get(key);
      if (!done) return;
      if (r.value.cls === 'request') return done('request'); // our own request came back: hairpinning
      if (r.value.cls !== 'success') return;
      const xma = getAttribute(r.value, Attr.XOR_MAPPED_ADDRESS);
      const ma = getAttribute(r.value, Attr.MAPPED_ADDRESS);
      const mapped = xma ? readXorAddress(xma.value, r.value.transactionId) : ma ? readAddress(ma.value) : undefined;
      if (!mapped?.ok) return;
      const otherAttr = getAttribute(r.value, Attr.OTHER_ADDRESS);
      const other = otherAttr ? readAddress(otherAttr.value) : undefined;
      done({ mapped: { address: mapped.value.address, port: mapped.value.port }, other: other?.ok ? { address: other.value.address, port: other.value.port } : null });
    });
  }

  /**
   * One Binding transaction.
   * @param rtoMs first retransmission timeout, ms (doubles); `tries` sends in all
   * @returns the response, 'request' when our own request arrived (hairpin), or null on timeout
   */
  transact(to: Endpoint, change?: { changeIp: boolean; changePort: boolean }, rtoMs = 300, tries = 3): Promise<Response | 'request' | null> {
    const b = new MessageBuilder('request', Method.Binding);
    if (change) b.add(Attr.CHANGE_REQUEST, writeChangeRequest(change));
    const bytes = b.fingerprint().build();
    const key = Buffer.from(b.transactionId).toString('hex');
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let sent = 0;
      const finish = (r: Response | 'request' | null) => {
        clearTimeout(timer);
        this.pending.delete(key);
        resolve(r);
      };
      this.pending.set(key, finish);
      const send = () => {
        if (sent === tries) return finish(null);
        sent++;
        this.socket.send(bytes, to.port, to.address);
        timer = setTimeout(send, rtoMs * 2 ** (sent - 1));
      };
      send();
    });
  }
}

function tcpReachable(to: Endpoint, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(to.port, to.address);
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

/**
 * A STUN Binding over TLS (RFC 8489 §6.2.3) to `to`: TURN over TLS there, or only some TLS server
 * (HTTPS), or nothing. The certificate is not checked: this tests reachability, and sends no
 * credentials.
 */
function tlsStun(to: Endpoint, servername: string | undefined, timeoutMs: number): Promise<'stun' | 'tls-only' | false> {
  return new Promise((resolve) => {
    let handshake = false;
    const s = tlsConnect({ host: to.address, port: to.port, rejectUnauthorized: false, ...(servername ? { servername } : {}) });
    const finish = (r: 'stun' | 'tls-only' | false) => {
      clearTimeout(t);
      s.destroy();
      resolve(r);
    };
    const t = setTimeout(() => finish(handshake ? 'tls-only' : false), timeoutMs);
    const request = new MessageBuilder('request', Method.Binding).fingerprint();
    const id = Buffer.from(request.transactionId).toString('hex');
    let pending = Buffer.alloc(0);
    s.once('secureConnect', () => {
      handshake = true;
      s.write(request.build());
    });
    s.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      const n = frameLength(pending);
      if (n < 0) return finish('tls-only'); // e.g. an HTTP 400 answer
      if (n === 0 || pending.length < n) return;
      const r = decodeMessage(new Uint8Array(pending.subarray(0, n)));
      finish(r.ok && r.value.cls === 'success' && Buffer.from(r.value.transactionId).toString('hex') === id ? 'stun' : 'tls-only');
    });
    s.once('error', () => finish(handshake ? 'tls-only' : false));
    s.once('close', () => finish(handshake ? 'tls-only' : false));
  });
}

/** The local address the kernel would use to reach `to` (a connected UDP socket tells). */
async function localAddressFor(to: Endpoint, family: 4 | 6): Promise<string> {
  const s = createSocket(family === 6 ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.connect(to.port, to.address, () => resolve());
  });
  const address = s.address().address;
  s.close();
  return address;
}

/**
 * Runs the RFC 5780 tests against `server`.
 * @param rtoMs first retransmission timeout per transaction, ms (3 sends: 300 + 600 + 1200 ms by default)
 * @param tls where STUN over TLS is tried when UDP and TCP fail: port (default 443) and SNI name
 * @throws Error when the server name does not resolve or no socket can be bound
 */
export async function natCheck(server: Endpoint, rtoMs = 300, tls: { port: number; servername?: string | undefined } = { port: 443 }): Promise<ReturnType<typeof classify>> {
  const family = isIP(server.address) === 6 ? 6 : 4;
  const localIp = await localAddressFor(server, family);
  const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, localIp, () => resolve());
  });
  const client = new StunUdp(socket);
  const o: Partial<Observations> = { local: { address: localIp, port: socket.address().port } };
  try {
    for (let step = nextStep(o); step !== null; step = nextStep(o)) {
      const t1 = o.test1!;
      switch (step) {
        case 'test1': {
          const r = await client.transact(server, undefined, rtoMs);
          o.test1 = r && r !== 'request' ? r : null;
          break;
        }
        case 'mapping2': {
          const r = await client.transact({ address: t1.other!.address, port: server.port }, undefined, rtoMs);
          o.mapping2 = r && r !== 'request' ? { mapped: r.mapped } : null;
          break;
        }
        case 'mapping3': {
          const r = await client.transact(t1.other!, undefined, rtoMs);
          o.mapping3 = r && r !== 'request' ? { mapped: r.mapped } : null;
          break;
        }
        case 'filtering2':
          o.filtering2 = (await client.transact(server, { changeIp: true, changePort: true }, rtoMs)) !== null;
          break;
        case 'filtering3':
          o.filtering3 = (await client.transact(server, { changeIp: false, changePort: true }, rtoMs)) !== null;
          break;
        case 'hairpin':
          o.hairpin = (await client.transact(t1.mapped, undefined, rtoMs, 2)) === 'request';
          break;
        case 'tcp':
          o.tcp = await tcpReachable(server, rtoMs * 7);
          break;
        case 'tls':
          o.tlsPort = tls.port;
          o.tls = await tlsStun({ address: server.address, port: tls.port }, tls.servername, rtoMs * 10);
          break;
      }
    }
  } finally {
    socket.close();
  }
  return classify(o as Observations);
}

/** `dari nat-check [--stun host:port] [--json] [--rto-ms MS]` (see cli-options.ts). @returns exit code */
export async function runNatCheck(argv: string[]): Promise<number> {
  const parsed = parseCommand(NAT_CHECK, argv);
  if (parsed === 'help') {
    process.stdout.write(helpText(NAT_CHECK));
    return 0;
  }
  const values = parsed as { stun: string; json?: boolean; 'rto-ms': string; 'tls-port': string };
  const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(values.stun);
  if (!m) {
    process.stderr.write(`dari nat-check: --stun: expected host:port, got ${JSON.stringify(values.stun)}\n`);
    return 2;
  }
  const host = m[1]!;
  const port = Number(m[2] ?? 3478);
  const address = isIP(host) ? host : (await lookup(host)).address;
  const tlsPort = Number(values['tls-port']);
  if (!Number.isInteger(tlsPort) || tlsPort < 1 || tlsPort > 65535) {
    process.stderr.write(`dari nat-check: --tls-port: expected a port number, got ${JSON.stringify(values['tls-port'])}\n`);
    return 2;
  }
  const report = await natCheck({ address, port }, Number(values['rto-ms']), { port: tlsPort, servername: isIP(host) ? undefined : host });
  process.stdout.write(values.json ? JSON.stringify(report) + '\n' : formatReport(report, `${host}:${port}`));
  return 0;
}
