/**
 * Egress (recording) shapes shared by the manager, the REST routes and the CLI: what a request
 * asks for, what a listing shows, and the typed error every refusal carries.
 */
import type { RecordingFormat } from '@dari/media';

/** `room-composite`: the room's composite (video grid + full audio mix). `track`: one published track as it arrives. */
export type EgressType = 'room-composite' | 'track';

/** `starting` until the first bytes reach the file; `complete` once stopped and finalized; `failed` with a reason. */
export type EgressStatus = 'starting' | 'active' | 'complete' | 'failed';

export interface EgressRequest {
  room: string;
  type: EgressType;
  /** Default `webm`. `track` recordings are `webm` only (VP8/Opus as received, no re-encoding). */
  format?: RecordingFormat;
  /** For `track`: the track's sid (as `GET /api/rooms?room=` lists it). */
  track?: string;
}

export interface EgressInfo {
  egressId: string;
  room: string;
  type: EgressType;
  format: RecordingFormat;
  track?: string;
  status: EgressStatus;
  /** Why it failed (`failed` only). */
  reason?: string;
  /** Absolute path of the file (Dari's name: `<egressId>.<format>` under `recording.dir`). */
  file: string;
  /** ms since the Unix epoch. */
  startedAt: number;
  endedAt?: number;
  /** Seconds recorded: from the first bytes to the end (or now). */
  durationS: number;
  /** File size, bytes. */
  sizeBytes: number;
}

/**
 * A refused egress call. `status` is the HTTP status the REST API answers with:
 * - 400 `INVALID_REQUEST` (the message names the field)
 * - 404 `ROOM_NOT_FOUND`, `TRACK_NOT_FOUND`, `EGRESS_NOT_FOUND`
 * - 500 `EGRESS_FAILED` (it could not start: the recording directory, a worker; the message says
 *   why, and the egress is listed as `failed` with that reason)
 * - 503 `GSTREAMER_UNAVAILABLE` (the message says what to install), `TOO_MANY_WORKERS` (past `mcu.maxWorkers`)
 */
export class EgressError extends Error {
  override readonly name = 'EgressError';
  constructor(
    readonly status: 400 | 404 | 409 | 500 | 503,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The egresses a listing keeps: every running one, and the ended ones (`endedAt` set) that ended
 * within `keepMs` of `now`, at most `keepCount` of them, the latest ended first.
 * @returns the ids to drop
 */
export function endedToDrop(egresses: Iterable<Pick<EgressInfo, 'egressId' | 'endedAt'>>, now: number, keepCount: number, keepMs: number): string[] {
  const ended = [...egresses].filter((e) => e.endedAt !== undefined).sort((a, b) => b.endedAt! - a.endedAt!);
  return ended.filter((e, i) => i >= keepCount || now - e.endedAt! > keepMs).map((e) => e.egressId);
}

/** Counts media worker processes (composites, recorders) against `mcu.maxWorkers`. */
export class WorkerBudget {
  private used = 0;
  constructor(readonly max: number) {}

  /**
   * Takes `n` workers.
   * @returns a release function (idempotent)
   * @throws EgressError 503 `TOO_MANY_WORKERS`
   */
  take(n: number): () => void {
    if (this.used + n > this.max) throw new EgressError(503, 'TOO_MANY_WORKERS', `media workers at their limit (mcu.maxWorkers = ${this.max}); try again later`);
    this.used += n;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= n;
    };
  }

  get inUse(): number {
    return this.used;
  }
}
