/**
 * An {@link AllocationLedger} in a SharedArrayBuffer, shared by the worker threads of a sharded
 * STUN/TURN server: per-user and total allocation counts (so `userQuota` and `totalQuota` hold
 * across workers) and reservation tokens (so an RTCP Allocate whose 5-tuple lands in another
 * worker still gets its reserved port). One spin/wait lock guards the tables; every critical
 * section is a few dozen memory operations.
 *
 * Layout (32-bit words): [lock, total, userSlots, reservationSlots, users, reservations], then
 * userSlots × (hashA,
 * hashB, count), then reservationSlots × (token0, token1, family, port); then reservationSlots
 * float64 expiry times (ms). Users are keyed by two independent 32-bit hashes of the name (a
 * 2^-64 collision would merge two users' counts). Open addressing with linear probing and
 * backward-shift deletion; a table is never filled past all but one slot, so probes end.
 */
import type { AllocationLedger, Reservation } from '@dari/stun';

const HEADER = 6;
const USER_WORDS = 3;
const RES_WORDS = 4;

/** Two 32-bit hashes of a string's UTF-8 bytes (FNV-1a and a multiply-xorshift), never both 0. */
function hashes(s: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (const byte of new TextEncoder().encode(s)) {
    a = Math.imul(a ^ byte, 0x01000193);
    b = Math.imul(b ^ byte, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return a === 0 && b === 0 ? [0, 1] : [a | 0, b | 0];
}

const tokenWords = (t: Uint8Array): [number, number] => {
  const v = new DataView(t.buffer, t.byteOffset, 8);
  const w0 = v.getInt32(0);
  const w1 = v.getInt32(4);
  return w0 === 0 && w1 === 0 ? [0, 1] : [w0, w1]; // (0, 0) marks an empty slot
};

export class SharedLedger implements AllocationLedger {
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly users: number;
  private readonly slots: number;
  private readonly resBase: number;

  /**
   * A buffer for a ledger of `userSlots` concurrent users and `reservationSlots` reservations
   * (both rounded up to powers of two; a full table refuses: 486 for a new user, no token).
   */
  static buffer(userSlots = 1 << 16, reservationSlots = 1 << 12): SharedArrayBuffer {
    const u = 1 << Math.ceil(Math.log2(Math.max(2, userSlots)));
    const r = 1 << Math.ceil(Math.log2(Math.max(2, reservationSlots)));
    const words = HEADER + u * USER_WORDS + r * RES_WORDS;
    const bytes = Math.ceil((words * 4) / 8) * 8 + r * 8;
    const sab = new SharedArrayBuffer(bytes);
    const i32 = new Int32Array(sab);
    i32[2] = u;
    i32[3] = r;
    return sab;
  }

  constructor(readonly sab: SharedArrayBuffer) {
    this.i32 = new Int32Array(sab);
    this.users = this.i32[2]!;
    this.slots = this.i32[3]!;
    this.resBase = HEADER + this.users * USER_WORDS;
    const f64Offset = Math.ceil(((this.resBase + this.slots * RES_WORDS) * 4) / 8) * 8;
    this.f64 = new Float64Array(sab, f64Offset, this.slots);
  }

  /** Allocations counted across every worker. */
  get total(): number {
    return Atomics.load(this.i32, 1);
  }

  acquire(username: string, userQuota: number, totalQuota: number): 'user' | 'total' | null {
    const [ha, hb] = hashes(username);
    return this.locked(() => {
      if (totalQuota > 0 && this.i32[1]! >= totalQuota) return 'total';
      const slot = this.findUser(ha, hb);
      const at = HEADER + slot * USER_WORDS;
      const count = this.i32[at + 2]!;
      if (userQuota > 0 && count >= userQuota) return 'user';
      if (count === 0) {
        // A new user, in the empty slot the probe ended on; refused when the table is full.
        if (this.i32[4]! >= this.users - 1) return 'user';
        this.i32[at] = ha;
        this.i32[at + 1] = hb;
        this.i32[4]!++;
      }
      this.i32[at + 2] = count + 1;
      this.i32[1]!++;
      return null;
    });
  }

  release(username: string): void {
    const [ha, hb] = hashes(username);
    this.locked(() => {
      const slot = this.findUser(ha, hb);
      const at = HEADER + slot * USER_WORDS;
      const count = this.i32[at + 2]!;
      if (count === 0 || this.i32[at] !== ha || this.i32[at + 1] !== hb) return;
      this.i32[1]!--;
      if (count > 1) this.i32[at + 2] = count - 1;
      else {
        this.deleteUser(slot);
        this.i32[4]!--;
      }
    });
  }

  reserve(token: Uint8Array, r: Reservation): boolean {
    const [t0, t1] = tokenWords(token);
    return this.locked(() => {
      const slot = this.findReservation(t0, t1);
      const at = this.resBase + slot * RES_WORDS;
      const fresh = this.i32[at] === 0 && this.i32[at + 1] === 0;
      if (fresh && this.i32[5]! >= this.slots - 1) return false;
      if (fresh) this.i32[5]!++;
      this.i32[at] = t0;
      this.i32[at + 1] = t1;
      this.i32[at + 2] = r.family;
      this.i32[at + 3] = r.port;
      this.f64[slot] = r.expiresAt;
      return true;
    });
  }

  take(token: Uint8Array, now: number): Reservation | undefined {
    const [t0, t1] = tokenWords(token);
    return this.locked(() => {
      const slot = this.findReservation(t0, t1);
      const at = this.resBase + slot * RES_WORDS;
      if (this.i32[at] !== t0 || this.i32[at + 1] !== t1) return undefined;
      const r: Reservation = { family: this.i32[at + 2] === 6 ? 6 : 4, port: this.i32[at + 3]!, expiresAt: this.f64[slot]! };
      this.deleteReservation(slot);
      return r.expiresAt > now ? r : undefined;
    });
  }

  expire(now: number): void {
    this.locked(() => {
      // Deleting shifts later entries back into the slot: look at the same slot again.
      for (let slot = 0; slot < this.slots; ) {
        const at = this.resBase + slot * RES_WORDS;
        const used = this.i32[at] !== 0 || this.i32[at + 1] !== 0;
        if (used && this.f64[slot]! <= now) this.deleteReservation(slot);
        else slot++;
      }
    });
  }

  private locked<T>(fn: () => T): T {
    while (Atomics.compareExchange(this.i32, 0, 0, 1) !== 0) Atomics.wait(this.i32, 0, 1, 1);
    try {
      return fn();
    } finally {
      Atomics.store(this.i32, 0, 0);
      Atomics.notify(this.i32, 0, 1);
    }
  }

  /** The user's slot, or the empty slot where it would go (there is always one). */
  private findUser(ha: number, hb: number): number {
    const mask = this.users - 1;
    let slot = ha & mask;
    for (;;) {
      const at = HEADER + slot * USER_WORDS;
      const a = this.i32[at]!;
      const b = this.i32[at + 1]!;
      if ((a === ha && b === hb) || (a === 0 && b === 0)) return slot;
      slot = (slot + 1) & mask;
    }
  }

  private deleteUser(slot: number): void {
    this.shiftDelete(slot, this.users, HEADER, USER_WORDS, (s) => this.i32[HEADER + s * USER_WORDS]!, () => {});
  }

  /** The token's slot, or the empty slot where it would go (there is always one). */
  private findReservation(t0: number, t1: number): number {
    const mask = this.slots - 1;
    let slot = t0 & mask;
    for (;;) {
      const at = this.resBase + slot * RES_WORDS;
      const a = this.i32[at]!;
      const b = this.i32[at + 1]!;
      if ((a === t0 && b === t1) || (a === 0 && b === 0)) return slot;
      slot = (slot + 1) & mask;
    }
  }

  private deleteReservation(slot: number): void {
    this.i32[5]!--;
    this.shiftDelete(slot, this.slots, this.resBase, RES_WORDS, (s) => this.i32[this.resBase + s * RES_WORDS]!, (from, to) => (this.f64[to] = this.f64[from]!));
  }

  /**
   * Backward-shift deletion for linear probing: later entries of the same probe run move back so
   * that every entry stays reachable from its home slot (home = first word & mask).
   */
  private shiftDelete(slot: number, size: number, base: number, words: number, first: (s: number) => number, moveExtra: (from: number, to: number) => void): void {
    const mask = size - 1;
    let hole = slot;
    let next = (hole + 1) & mask;
    for (;;) {
      const at = base + next * words;
      if (this.i32[at] === 0 && this.i32[at + 1] === 0) break;
      const home = first(next) & mask;
      // Move `next` into the hole unless its home lies cyclically in (hole, next].
      const inRange = hole <= next ? home > hole && home <= next : home > hole || home <= next;
      if (!inRange) {
        for (let w = 0; w < words; w++) this.i32[base + hole * words + w] = this.i32[at + w]!;
        moveExtra(next, hole);
        hole = next;
      }
      next = (next + 1) & mask;
    }
    for (let w = 0; w < words; w++) this.i32[base + hole * words + w] = 0;
  }
}
