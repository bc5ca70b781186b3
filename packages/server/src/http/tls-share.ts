/**
 * TURN over TLS and HTTPS on one port (`turn.tlsPort` equal to `port`, e.g. 443, for networks
 * that let nothing but TCP 443 out; coturn#508). The HTTPS server terminates TLS for both; each
 * connection then goes to one of them:
 * - by ALPN, when the client offers `stun.turn` (RFC 7443 §4) and the server picks it;
 * - else by its first byte after the handshake: a STUN message starts with two zero bits
 *   (RFC 8489 §5: 0x00 or 0x01; RFC 7983 §7 demultiplexes on the same ranges), an HTTP request
 *   with a method name in ASCII letters. Browsers' TURN clients send no ALPN; they start with an
 *   Allocate (or Binding) request.
 * Everything else stays on the HTTPS server unchanged: routes, WebSocket upgrades, keep-alive,
 * `server.close()` and `closeAllConnections()`.
 */
import type { Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';

/** ALPN protocol id of STUN/TURN over (D)TLS (RFC 7443 §4). */
export const STUN_TURN_ALPN = 'stun.turn';

/** ALPN list of a shared HTTPS server: HTTP/1.1 first, so browsers (h2, http/1.1) get HTTP/1.1. */
export const SHARED_ALPN = ['http/1.1', STUN_TURN_ALPN];

/** A first byte after the TLS handshake that starts a STUN message (or ChannelData, 0x40–0x4f, never first from a TURN client). */
export function isStunFirstByte(byte: number): boolean {
  return (byte & 0xc0) === 0;
}

/**
 * Makes `server` hand TLS connections that speak STUN to `turn`. The server must have been
 * created with `ALPNProtocols: SHARED_ALPN`.
 * @param turn takes over the socket (TURN over TLS framing); the first bytes are still readable
 * @param firstByteTimeoutMs a client that sends nothing this long after the handshake is closed, ms
 */
export function shareTlsPort(server: HttpsServer, turn: (socket: TLSSocket) => void, firstByteTimeoutMs = 10_000): void {
  const http = server.listeners('secureConnection') as ((socket: TLSSocket) => void)[];
  server.removeAllListeners('secureConnection');
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.alpnProtocol === STUN_TURN_ALPN) return turn(socket);
    const idle = setTimeout(() => socket.destroy(), firstByteTimeoutMs);
    idle.unref();
    const onClose = () => clearTimeout(idle);
    socket.once('close', onClose);
    socket.once('data', (chunk: Buffer) => {
      clearTimeout(idle);
      socket.off('close', onClose);
      // Back into the stream: whoever takes the socket reads the request from its first byte.
      socket.pause();
      socket.unshift(chunk);
      if (isStunFirstByte(chunk[0]!)) turn(socket);
      else for (const listener of http) listener.call(server, socket);
      socket.resume();
    });
    socket.on('error', () => socket.destroy());
  });
}
