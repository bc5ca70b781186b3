/**
 * Creates many live TURN allocations (UDP, long-term credentials) with Dari's own STUN codec:
 * per client socket, Allocate → 401 (REALM, NONCE) → Allocate with USERNAME, REALM, NONCE and
 * MESSAGE-INTEGRITY (HMAC-SHA1, key MD5(user:realm:password)) → success (XOR-RELAYED-ADDRESS).
 * One allocation needs its own 5-tuple, so every allocation has its own client socket.
 *
 * Bounded: at most `window` transactions in flight, retransmission after 1 s (at most 4 tries),
 * an overall deadline; every socket is closed by `close()`.
 */
import { createSocket } from 'node:dgram';
import { STUN_LIB } from './common.mjs';

const stun = await import(STUN_LIB);
const { MessageBuilder, Method, Attr, writeRequestedTransport, writeString, longTermKey, nodeHmac, decodeMessage, getAttribute, readString, readErrorCode } = stun;

const TRANSPORT_UDP = 17;
const requestedTransport = () => (writeRequestedTransport ? writeRequestedTransport(TRANSPORT_UDP) : new Uint8Array([TRANSPORT_UDP, 0, 0, 0]));

function allocateRequest(auth) {
  const b = new MessageBuilder('request', Method.Allocate);
  b.add(Attr.REQUESTED_TRANSPORT, requestedTransport());
  if (auth) {
    b.add(Attr.USERNAME, writeString(auth.user));
    b.add(Attr.REALM, writeString(auth.realm));
    b.add(Attr.NONCE, writeString(auth.nonce));
    b.integrity(auth.key, nodeHmac, 'sha1');
  }
  return { bytes: b.fingerprint().build(), txid: Buffer.from(b.transactionId).toString('hex') };
}

/**
 * @param o { port, count, user, password, window, deadlineMs, localAddress }
 * @returns { ok, failed, errors: {code: n}, seconds, sockets, close() }
 */
export async function createAllocations(o) {
  const t0 = performance.now();
  const deadline = t0 + (o.deadlineMs ?? 120_000);
  const sockets = [];
  const errors = {};
  let ok = 0;
  let failed = 0;
  let keyFor = null;
  const one = (i) =>
    new Promise((resolve) => {
      const s = createSocket('udp4');
      sockets.push(s);
      let tries = 0;
      let current = null;
      let timer = null;
      const finish = (good, why) => {
        clearTimeout(timer);
        s.removeAllListeners('message');
        if (good) ok++;
        else {
          failed++;
          errors[why] = (errors[why] ?? 0) + 1;
        }
        resolve();
      };
      const send = (req) => {
        current = req;
        tries = 0;
        const fire = () => {
          if (++tries > 4 || performance.now() > deadline) return finish(false, 'timeout');
          s.send(req.bytes, o.port, '127.0.0.1');
          timer = setTimeout(fire, 1000);
        };
        fire();
      };
      s.on('error', (e) => finish(false, e.code ?? 'socket-error'));
      s.on('message', (msg) => {
        const d = decodeMessage(new Uint8Array(msg.buffer, msg.byteOffset, msg.length));
        if (!d.ok) return;
        const m = d.value;
        if (Buffer.from(m.transactionId).toString('hex') !== current.txid) return;
        clearTimeout(timer);
        if (m.cls === 'success') return finish(true);
        const ec = getAttribute(m, Attr.ERROR_CODE);
        const code = ec ? readErrorCode(ec.value) : null;
        const c = code?.ok ? code.value.code : 0;
        if ((c === 401 || c === 438) && current.attempt !== 'auth2') {
          const realm = readString(getAttribute(m, Attr.REALM).value).value;
          const nonce = readString(getAttribute(m, Attr.NONCE).value).value;
          keyFor ??= longTermKey(o.user, realm, o.password);
          const req = allocateRequest({ user: o.user, realm, nonce, key: keyFor });
          req.attempt = current.attempt === 'auth' ? 'auth2' : 'auth';
          return send(req);
        }
        finish(false, `error-${c}`);
      });
      s.bind(0, o.localAddress ?? '127.0.0.1', () => send({ ...allocateRequest(null), attempt: 'plain' }));
    });
  // Bounded concurrency: `window` allocations in progress at a time.
  let next = 0;
  const worker = async () => {
    while (next < o.count && performance.now() < deadline) await one(next++);
  };
  await Promise.all(Array.from({ length: Math.min(o.window ?? 200, o.count) }, worker));
  return {
    ok,
    failed,
    errors,
    seconds: (performance.now() - t0) / 1000,
    sockets: sockets.length,
    close: () => Promise.all(sockets.map((s) => new Promise((r) => { try { s.close(r); } catch { r(); } }))),
  };
}
