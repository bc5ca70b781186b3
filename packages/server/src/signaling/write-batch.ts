/**
 * One `writev` per client socket per event-loop turn, instead of one per frame.
 *
 * `ws` writes every frame to its socket at once: on loopback and LAN the system call and the
 * kernel's TCP path cost more than the JavaScript that produced the frame (a CPU profile of the
 * offer/answer relay, bench/signaling: `writev` ~35–45 % of the server's time). Frames produced in
 * the same turn for the same socket (the frames of one TCP read, relayed to one peer; a broadcast's
 * share for each receiver) are held with `socket.cork()` and leave together when the turn ends
 * (`process.nextTick`), as Node's HTTP server does for a response. Order and content are unchanged;
 * each frame still goes out in the turn that produced it.
 */
import type { Duplex } from 'node:stream';

export class WriteBatcher {
  private readonly corked = new Set<Duplex>();
  private scheduled = false;
  private readonly flushNow = (): void => this.flush();

  /** Call before writing to `socket`: holds its writes until the end of this turn. */
  hold(socket: Duplex): void {
    if (this.corked.has(socket)) return;
    this.corked.add(socket);
    socket.cork();
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(this.flushNow);
    }
  }

  /** Writes out everything held (before a socket is destroyed, or at the end of the turn). */
  flush(): void {
    this.scheduled = false;
    for (const socket of this.corked) socket.uncork();
    this.corked.clear();
  }
}
