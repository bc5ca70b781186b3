/**
 * A small TURN client for tests and the soak (RFC 8656 Allocate with the long-term mechanism,
 * RFC 8489 §9.2), over UDP (one socket, bound once, so its 5-tuple survives a server restart)
 * or over TLS (RFC 8489 §6.2.3; frames cut by their length fields). Real sockets; it does
 * nothing the tests do not claim to test (no permissions or channels).
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import {
  Attr,
  MessageBuilder,
  Method,
  decodeMessage,
  frameLength,
  getAttribute,
  longTermKey,
  nodeHmac,
  readErrorCode,
  readString,
  readXorAddress,
  writeRequestedTransport,
  writeString,
  writeUint32,
  writeXorAddress,
  type StunMessage,
} from '@dari/stun';

export interface TurnCredentials {
  username: string;
  password: string;
}

/** The outcome of {@link TurnClient.allocate}. */
export interface AllocateResult {
  /** Success, or the last error code (401, 438, 486, …). */
  ok: boolean;
  code?: number;
  /** XOR-RELAYED-ADDRESS on success. */
  relay?: { address: string; port: number };
  /** Requests sent, the unauthenticated first one included (2 = the usual 401 then success). */
  requests: number;
}

/** One STUN/TURN client 5-tuple. */
export class TurnClient {
  /** The server's REALM and NONCE from its last challenge (kept across {@link allocate} calls). */
  realm: string | undefined;
  nonce: string | undefined;
  private readonly pending = new Map<string, (m: StunMessage) => void>();

  private constructor(
    private readonly write: (bytes: Uint8Array) => void,
    private readonly onClose: () => void,
    /** Retransmit (UDP) every this many ms; 0 = never (streams). */
    private readonly rtoMs: number,
  ) {}

  /**
   * A UDP client on its own socket.
   * @param localPort 0 = any
   */
  static async udp(server: { address: string; port: number }, localPort = 0, localAddress?: string): Promise<TurnClient> {
    const socket: UdpSocket = createSocket(server.address.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(localPort, localAddress, () => resolve());
    });
    let target = server;
    const c = new TurnClient((b) => socket.send(b, target.port, target.address), () => socket.close(), 250);
    c.retarget = (to) => (target = to);
    c.localPort = socket.address().port;
    socket.on('message', (msg) => c.receive(new Uint8Array(msg)));
    return c;
  }

  /**
   * A client over TLS (TURN over TLS, `turns:`).
   * @param options TLS options (servername, ca, rejectUnauthorized; default rejectUnauthorized false: tests use self-signed certificates), ALPN
   */
  static async tls(server: { address: string; port: number }, options: { servername?: string; ca?: Buffer; rejectUnauthorized?: boolean; ALPNProtocols?: string[] } = {}): Promise<TurnClient> {
    const sock: TLSSocket = tlsConnect({ host: server.address, port: server.port, rejectUnauthorized: false, ...options });
    await new Promise<void>((resolve, reject) => {
      sock.once('secureConnect', () => resolve());
      sock.once('error', reject);
    });
    const c = new TurnClient((b) => sock.write(b), () => sock.destroy(), 0);
    c.alpn = sock.alpnProtocol;
    let pending = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (let n = frameLength(pending); n > 0 && pending.length >= n; n = frameLength(pending)) {
        c.receive(new Uint8Array(pending.subarray(0, n)));
        pending = pending.subarray(n);
      }
    });
    sock.on('error', () => undefined);
    return c;
  }

  /** UDP: the local port (to bind the same one again). */
  localPort = 0;
  /** TLS: the ALPN protocol the server chose (false: none). */
  alpn: string | false | null = null;
  /** UDP: points the client at another server address (same socket). */
  retarget: (to: { address: string; port: number }) => void = () => undefined;

  private receive(bytes: Uint8Array): void {
    const r = decodeMessage(bytes);
    if (!r.ok) return;
    const key = Buffer.from(r.value.transactionId).toString('hex');
    this.pending.get(key)?.(r.value);
  }

  /**
   * Sends a request and waits for its response (UDP: retransmits every 250 ms).
   * @throws Error when no response arrives within `timeoutMs`
   */
  transact(b: MessageBuilder, timeoutMs = 3000): Promise<StunMessage> {
    const bytes = b.build();
    const key = Buffer.from(b.transactionId).toString('hex');
    return new Promise((resolve, reject) => {
      const retry = this.rtoMs > 0 ? setInterval(() => this.write(bytes), this.rtoMs) : undefined;
      const timer = setTimeout(() => {
        clearInterval(retry);
        this.pending.delete(key);
        reject(new Error(`no answer to ${b.method === Method.Allocate ? 'Allocate' : `method ${b.method}`} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(key, (m) => {
        clearInterval(retry);
        clearTimeout(timer);
        this.pending.delete(key);
        resolve(m);
      });
      this.write(bytes);
    });
  }

  /**
   * A Binding request (no authentication).
   * @returns XOR-MAPPED-ADDRESS
   */
  async binding(): Promise<{ address: string; port: number } | undefined> {
    const b = new MessageBuilder('request', Method.Binding);
    const m = await this.transact(b.fingerprint());
    const x = getAttribute(m, Attr.XOR_MAPPED_ADDRESS);
    const a = x ? readXorAddress(x.value, m.transactionId) : undefined;
    return a?.ok ? { address: a.value.address, port: a.value.port } : undefined;
  }

  /**
   * Allocate (UDP relay). Uses the REALM and NONCE it already knows, if any; on a 401 or 438
   * challenge it takes the new ones and tries again (at most twice).
   */
  async allocate(creds: TurnCredentials, lifetimeS?: number): Promise<AllocateResult> {
    let requests = 0;
    let code: number | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      const b = new MessageBuilder('request', Method.Allocate).add(Attr.REQUESTED_TRANSPORT, writeRequestedTransport(17));
      if (lifetimeS !== undefined) b.add(Attr.LIFETIME, writeUint32(lifetimeS));
      if (this.realm !== undefined && this.nonce !== undefined) {
        b.add(Attr.USERNAME, writeString(creds.username)).add(Attr.REALM, writeString(this.realm)).add(Attr.NONCE, writeString(this.nonce));
        b.integrity(longTermKey(creds.username, this.realm, creds.password), nodeHmac);
      }
      requests++;
      const m = await this.transact(b.fingerprint());
      if (m.cls === 'success') {
        const x = getAttribute(m, Attr.XOR_RELAYED_ADDRESS);
        const a = x ? readXorAddress(x.value, m.transactionId) : undefined;
        return { ok: true, requests, ...(a?.ok ? { relay: { address: a.value.address, port: a.value.port } } : {}) };
      }
      const e = getAttribute(m, Attr.ERROR_CODE);
      const err = e ? readErrorCode(e.value) : undefined;
      code = err?.ok ? err.value.code : undefined;
      const realm = getAttribute(m, Attr.REALM);
      const nonce = getAttribute(m, Attr.NONCE);
      if ((code === 401 || code === 438) && realm && nonce) {
        const r = readString(realm.value);
        const n = readString(nonce.value);
        if (r.ok && n.ok) {
          const fresh = n.value !== this.nonce || r.value !== this.realm;
          this.realm = r.value;
          this.nonce = n.value;
          // A 401 with the nonce we just used: the credentials are wrong, asking again cannot help.
          if (fresh || code === 438) continue;
        }
      }
      break;
    }
    return { ok: false, requests, ...(code !== undefined ? { code } : {}) };
  }

  /** An authenticated request of `method` with the attributes `add` puts in (REALM and NONCE from the last challenge). */
  private authed(method: number, creds: TurnCredentials, add: (b: MessageBuilder) => void): MessageBuilder {
    const b = new MessageBuilder('request', method);
    add(b);
    b.add(Attr.USERNAME, writeString(creds.username)).add(Attr.REALM, writeString(this.realm ?? '')).add(Attr.NONCE, writeString(this.nonce ?? ''));
    return b.integrity(longTermKey(creds.username, this.realm ?? '', creds.password), nodeHmac).fingerprint();
  }

  /**
   * CreatePermission for `peer`'s address (RFC 8656 §9), after {@link allocate}.
   * @returns true on success
   */
  async permit(creds: TurnCredentials, peer: { address: string; port: number }): Promise<boolean> {
    const m = await this.transact(this.authed(Method.CreatePermission, creds, (b) => b.add(Attr.XOR_PEER_ADDRESS, writeXorAddress({ family: peer.address.includes(':') ? 6 : 4, ...peer }, b.transactionId))));
    return m.cls === 'success';
  }

  /** A Send indication (RFC 8656 §11): `data` to `peer` through the allocation's relay. No answer. */
  sendTo(peer: { address: string; port: number }, data: Uint8Array): void {
    const b = new MessageBuilder('indication', Method.Send);
    b.add(Attr.XOR_PEER_ADDRESS, writeXorAddress({ family: peer.address.includes(':') ? 6 : 4, ...peer }, b.transactionId)).add(Attr.DATA, data);
    this.write(b.fingerprint().build());
  }

  /** Deletes the allocation (Refresh with LIFETIME 0, RFC 8656 §7.2); resolves whatever the answer. */
  async release(creds: TurnCredentials): Promise<void> {
    if (this.realm === undefined || this.nonce === undefined) return;
    const b = new MessageBuilder('request', Method.Refresh).add(Attr.LIFETIME, writeUint32(0));
    b.add(Attr.USERNAME, writeString(creds.username)).add(Attr.REALM, writeString(this.realm)).add(Attr.NONCE, writeString(this.nonce));
    b.integrity(longTermKey(creds.username, this.realm, creds.password), nodeHmac);
    await this.transact(b.fingerprint()).catch(() => undefined);
  }

  close(): void {
    this.pending.clear();
    this.onClose();
  }
}
