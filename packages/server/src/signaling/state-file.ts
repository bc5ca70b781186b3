/**
 * Rooms across a graceful restart of one `dari serve` (no Redis): on SIGTERM/SIGINT the server
 * writes every room's snapshot (its participants with their sids, tracks and grants) to a file,
 * then tells clients `closing: reconnect` (1012). The next start on the same host and port reads
 * the file, deletes it, and adopts each room as the scale-out code adopts a dead node's room
 * (`SignalingCore.adoptRoom`): every participant is in it as reconnecting, its grace period
 * counted from the shutdown, so each client resumes with its sid and keeps its peer connections.
 *
 * Only a graceful stop writes the file: after a crash the rooms start empty, and clients join
 * again as new participants. With `redis.url` the cluster's snapshots in Redis do this job.
 * docs/configuration.md ("Restarts") has the user's view.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { RoomSnapshot } from '@dari/cluster';

/** The file's shape (version 1). */
export const StateFileSchema = z.object({
  version: z.literal(1),
  /** The node id of the process that wrote it. */
  node: z.string(),
  /** Write time (the shutdown), ms since the Unix epoch. */
  at: z.number(),
  rooms: z.array(RoomSnapshot).max(100_000),
});
export type StateFile = z.infer<typeof StateFileSchema>;

/**
 * The default file for a server on `host`:`port`: `$XDG_STATE_HOME/dari/rooms-<host>-<port>.json`
 * (XDG_STATE_HOME defaults to ~/.local/state). None for port 0: an ephemeral port is never the
 * same twice, so nothing could be carried over.
 * @param env the environment (XDG_STATE_HOME, HOME)
 */
export function defaultStateFile(host: string, port: number, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (port === 0) return undefined;
  const base = env['XDG_STATE_HOME'] || join(env['HOME'] || homedir(), '.local', 'state');
  return join(base, 'dari', `rooms-${host.replace(/[^A-Za-z0-9.-]/g, '_')}-${port}.json`);
}

/**
 * Writes the rooms (atomically: a temporary file renamed over the old one, mode 0600).
 * @throws Error (EACCES, EROFS, …) when the file cannot be written
 */
export function writeStateFile(path: string, state: StateFile): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
  renameSync(tmp, path);
}

/** What {@link takeStateFile} found. */
export type TakenState =
  | { kind: 'rooms'; state: StateFile }
  /** No file (the usual case: first start, or the last stop was not graceful). */
  | { kind: 'none' }
  /** A file that cannot be used; it is deleted. `why` is for the log. */
  | { kind: 'discarded'; why: string };

/**
 * Reads and deletes the state file. A file older than `maxAgeMs` (the server was down longer
 * than its clients keep trying) or malformed is discarded; it never throws for bad content.
 * @param now ms since the Unix epoch
 * @param maxAgeMs how long a saved room stays worth restoring, ms (serve.ts: the reconnect grace + {@link RESTORE_WINDOW_MS})
 */
/**
 * How long after a graceful stop its saved rooms are still restored, beyond the reconnect grace,
 * ms: the SDK keeps reconnecting for the grace + 2 min, so its clients are still there.
 */
export const RESTORE_WINDOW_MS = 120_000;

export function takeStateFile(path: string, now: number, maxAgeMs: number): TakenState {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'none' };
    return { kind: 'discarded', why: `cannot read it: ${(err as Error).message}` };
  }
  rmSync(path, { force: true });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { kind: 'discarded', why: 'not JSON' };
  }
  const parsed = StateFileSchema.safeParse(raw);
  if (!parsed.success) return { kind: 'discarded', why: `not a version 1 state file (${parsed.error.issues[0]?.path.join('.') || 'root'}: ${parsed.error.issues[0]?.message})` };
  const age = now - parsed.data.at;
  if (age >= maxAgeMs) return { kind: 'discarded', why: `written ${Math.round(age / 1000)} s ago, past the ${Math.round(maxAgeMs / 1000)} s a saved room is kept` };
  if (age < -60_000) return { kind: 'discarded', why: 'written in the future (clock moved back?)' };
  return { kind: 'rooms', state: parsed.data };
}
