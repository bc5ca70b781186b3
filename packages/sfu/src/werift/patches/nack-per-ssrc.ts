/**
 * werift workaround: one NACK generator per simulcast layer (test: test/werift-nack.test.ts).
 */

/** werift's NackHandler, as used through a receiver (lib/webrtc/src/media/receiver/nack.js). */
interface WeriftNackHandler {
  addPacket(packet: { header: { ssrc: number; sequenceNumber: number } }): void;
  close(): void;
  onPacketLost: { subscribe(f: (nack: unknown) => void): unknown; execute(nack: unknown): void };
}

/**
 * werift keeps one NACK generator per receiver and compares sequence numbers across every SSRC
 * it sees; a simulcast receiver gets three unrelated sequence spaces (one per layer), so it
 * "detects" bursts of losses that are not, NACKs them with whichever layer's SSRC came last,
 * and real losses on the other layers go un-NACKed. This gives `receiver` one generator per
 * SSRC (RFC 4585 §6.2.1 NACKs are per media source), each reporting through the receiver's
 * own `onPacketLost`. Idempotent per receiver.
 * @returns false when werift's internals changed and nothing was patched
 */
export function nackPerSsrc(receiver: unknown): boolean {
  const r = receiver as { nack?: WeriftNackHandler & { daripatched?: boolean } };
  const original = r.nack;
  if (!original || typeof original.addPacket !== 'function') return false;
  if (original.daripatched) return true;
  const NackHandler = (original as unknown as { constructor: new (receiver: unknown) => WeriftNackHandler }).constructor;
  const handlers = new Map<number, WeriftNackHandler>();
  const dispatcher = Object.assign(Object.create(original) as WeriftNackHandler, {
    daripatched: true,
    addPacket(packet: { header: { ssrc: number; sequenceNumber: number } }): void {
      let h = handlers.get(packet.header.ssrc);
      if (!h) {
        h = new NackHandler(receiver);
        h.onPacketLost.subscribe((nack) => original.onPacketLost.execute(nack));
        handlers.set(packet.header.ssrc, h);
      }
      h.addPacket(packet);
    },
    close(): void {
      for (const h of handlers.values()) h.close();
      handlers.clear();
      original.close();
    },
  });
  r.nack = dispatcher;
  return true;
}

