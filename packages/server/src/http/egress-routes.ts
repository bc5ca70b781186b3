/**
 * The egress REST API (HTTP Basic with an API key, as `/api/rooms`):
 * - `POST /api/egress {room, type: 'room-composite' | 'track', format?: 'webm' | 'mp4', track?}` → 200 EgressInfo
 * - `GET /api/egress[?room=R]` → `{egresses: EgressInfo[]}`
 * - `DELETE /api/egress/<id>` (or `POST /api/egress/<id>/stop`) → 200 EgressInfo, file finalized
 *
 * Errors: 400 `INVALID_REQUEST` naming the field, 404 `ROOM_NOT_FOUND` / `TRACK_NOT_FOUND` /
 * `EGRESS_NOT_FOUND`, 503 `GSTREAMER_UNAVAILABLE` / `TOO_MANY_WORKERS` (see EgressError).
 */
import { z } from 'zod';
import { EgressError } from '../egress/egress-types.js';

/** Body of `POST /api/egress`. Unknown keys are refused (a typo is not silently ignored). */
export const EgressRequestSchema = z.strictObject({
  room: z.string().min(1).max(128),
  type: z.enum(['room-composite', 'track']),
  format: z.enum(['webm', 'mp4']).optional(),
  track: z.string().min(1).max(128).optional(),
});

const EGRESS_ID = /^EG_[0-9a-f]{12}$/;

export type EgressRoute =
  | { action: 'start' }
  | { action: 'list' }
  | { action: 'stop'; egressId: string };

/**
 * Which egress call a method and path are, or undefined when the path is not under /api/egress.
 * @throws EgressError 404 `EGRESS_NOT_FOUND` for a malformed id; 405 is the caller's (`METHOD_NOT_ALLOWED` via null)
 */
export function matchEgressRoute(method: string, path: string): EgressRoute | null | undefined {
  if (path === '/api/egress' || path === '/api/egress/') {
    if (method === 'POST') return { action: 'start' };
    if (method === 'GET') return { action: 'list' };
    return null;
  }
  const m = /^\/api\/egress\/([^/]+)(\/stop)?$/.exec(path);
  if (!m) return path.startsWith('/api/egress/') ? null : undefined;
  let id = '';
  try {
    id = decodeURIComponent(m[1]!);
  } catch {
    /* malformed escapes (`%zz`): no egress has that id (404 below) */
  }
  if ((method === 'DELETE' && !m[2]) || (method === 'POST' && m[2])) {
    if (!EGRESS_ID.test(id)) throw new EgressError(404, 'EGRESS_NOT_FOUND', `no egress ${JSON.stringify(id.slice(0, 64))}`);
    return { action: 'stop', egressId: id };
  }
  return null;
}
