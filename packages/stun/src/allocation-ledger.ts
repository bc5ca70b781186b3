/**
 * The allocation ledger: allocations counted per user and in total against the quotas (coturn's
 * `user-quota` and `total-quota`), and the relay ports reserved by EVEN-PORT's R bit for a later
 * Allocate carrying the RESERVATION-TOKEN (RFC 8656 §7.2, §14.6, §14.9). A TurnServer has one of
 * its own by default; the workers of a sharded server share one (server/turn/shared-ledger.ts), so
 * the quotas hold across them and a token made in one worker is good in another.
 * Synchronous and free of I/O, like the core that calls it.
 */

/** A relay port set aside for a later Allocate with its RESERVATION-TOKEN. */
export interface Reservation {
  family: 4 | 6;
  port: number;
  /** ms on the core's clock. */
  expiresAt: number;
}

export interface AllocationLedger {
  /**
   * Counts one more allocation for `username`, unless a quota is full (0 = unlimited).
   * @returns null when counted; else the quota that refused it ('total' is checked first)
   */
  acquire(username: string, userQuota: number, totalQuota: number): 'user' | 'total' | null;
  /** One allocation of `username` is gone (or was never made after acquire). */
  release(username: string): void;
  /**
   * Sets a port aside under an 8-byte token.
   * @returns false when the ledger has no room for another reservation (the Allocate gets 508)
   */
  reserve(token: Uint8Array, r: Reservation): boolean;
  /** Takes the reservation of a token, if it exists and is live at `now` (ms); it is gone after. */
  take(token: Uint8Array, now: number): Reservation | undefined;
  /** Forgets reservations that expired by `now` (ms). */
  expire(now: number): void;
}

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** A ledger for one TurnServer in one thread. */
export class LocalLedger implements AllocationLedger {
  private total = 0;
  private readonly perUser = new Map<string, number>();
  private readonly reservations = new Map<string, Reservation>();

  acquire(username: string, userQuota: number, totalQuota: number): 'user' | 'total' | null {
    if (totalQuota > 0 && this.total >= totalQuota) return 'total';
    const n = this.perUser.get(username) ?? 0;
    if (userQuota > 0 && n >= userQuota) return 'user';
    this.total++;
    this.perUser.set(username, n + 1);
    return null;
  }

  release(username: string): void {
    const n = this.perUser.get(username);
    if (n === undefined) return;
    this.total--;
    if (n > 1) this.perUser.set(username, n - 1);
    else this.perUser.delete(username);
  }

  reserve(token: Uint8Array, r: Reservation): boolean {
    this.reservations.set(hex(token), { ...r });
    return true;
  }

  take(token: Uint8Array, now: number): Reservation | undefined {
    const key = hex(token);
    const r = this.reservations.get(key);
    this.reservations.delete(key);
    return r && r.expiresAt > now ? r : undefined;
  }

  expire(now: number): void {
    for (const [key, r] of this.reservations) if (r.expiresAt <= now) this.reservations.delete(key);
  }
}
