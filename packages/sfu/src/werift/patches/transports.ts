/**
 * werift workaround: UDP sockets left open on close.
 *
 * werift (0.25.x) creates a DTLS/ICE transport (with its own gathered UDP sockets) for each
 * transceiver added to a connection; when BUNDLE folds transceivers onto one transport, the extra
 * ones are dropped without being stopped, and `RTCPeerConnection.close()` only stops the
 * transports transceivers still point at. On a renegotiated SFU subscriber connection this left
 * UDP sockets open after close. {@link trackTransports} records every transport a connection
 * creates, and {@link closeConnection} stops them all after `close()`. The same hook lets the SFU
 * read RTCP werift's router hands to no sender (FIRs, RFC 5104 §4.3.1: media SSRC 0).
 * Test: packages/server/test/e2e-sfu.test.ts (open UDP sockets back to their count).
 */
import type { RTCPeerConnection, RTCDtlsTransport } from 'werift';

interface StoppableTransport {
  stop(): Promise<void>;
}

const created = new WeakMap<RTCPeerConnection, StoppableTransport[]>();

/**
 * Records every DTLS transport `pc` creates from now on. Call right after constructing it.
 * @param onTransport called with each new transport (werift's RTCDtlsTransport), e.g. to read
 *   RTCP that werift's router does not hand to any sender
 */
export function trackTransports(pc: RTCPeerConnection, onTransport?: (transport: RTCDtlsTransport) => void): void {
  const manager = (pc as unknown as { secureManager?: { createTransport?: (...args: unknown[]) => StoppableTransport } }).secureManager;
  const original = manager?.createTransport;
  if (!manager || typeof original !== 'function') return; // werift changed: nothing to patch
  const list: StoppableTransport[] = [];
  created.set(pc, list);
  manager.createTransport = (...args: unknown[]) => {
    const transport = original.apply(manager, args);
    list.push(transport);
    onTransport?.(transport as unknown as RTCDtlsTransport);
    return transport;
  };
}

/** Closes `pc` and stops every transport it ever created (their ICE sockets included). */
export async function closeConnection(pc: RTCPeerConnection): Promise<void> {
  await pc.close().catch(() => undefined);
  const list = created.get(pc) ?? [];
  await Promise.allSettled(list.map((t) => t.stop()));
  list.length = 0;
}
