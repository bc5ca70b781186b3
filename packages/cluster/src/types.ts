/**
 * What the cluster keeps in Redis, as zod schemas: a node's registration (heartbeat entry) and a
 * room's record (its node and the snapshot another node adopts the room from). Values read back
 * from Redis are validated like any other input: a malformed entry is skipped, never trusted.
 */
import { z } from 'zod';

/** A node's state: `serving` takes new rooms; `draining` keeps its rooms but takes no new ones. */
export const NodeState = z.enum(['serving', 'draining']);
export type NodeState = z.infer<typeof NodeState>;

/** Load a node reports with each heartbeat; the placement selector reads it. */
export const NodeLoad = z.object({
  /** Rooms this node holds. */
  rooms: z.number().int().min(0),
  /** Participants in those rooms (including those reconnecting). */
  participants: z.number().int().min(0),
  /** Signaling connections open on this node (direct and relayed). */
  connections: z.number().int().min(0),
  /** Process CPU use over the last heartbeat interval, 0..1 of all cores. */
  cpu: z.number().min(0),
});
export type NodeLoad = z.infer<typeof NodeLoad>;

/** A node's registration (key `<prefix>node:<id>`, refreshed every heartbeat, expiring after the node TTL). */
export const NodeInfo = z.object({
  id: z.string().min(1).max(64),
  /** Base URL other nodes use to reach this node's HTTP port (node links, REST), e.g. http://10.0.0.5:7880. */
  url: z.string().min(1).max(512),
  /** Addresses this node announces for media (SFU host candidates) and TURN. */
  addresses: z.array(z.string().max(64)).max(16),
  ports: z.object({ http: z.number().int(), turn: z.number().int().nullable() }),
  state: NodeState,
  load: NodeLoad,
  /** Start time and last heartbeat, ms since the Unix epoch. */
  startedAt: z.number(),
  updatedAt: z.number(),
});
export type NodeInfo = z.infer<typeof NodeInfo>;

/** A participant as the room's node last wrote it; enough to resume the session elsewhere. */
export const ParticipantSnapshot = z.object({
  sid: z.string().min(1).max(64),
  identity: z.string().min(1).max(256),
  name: z.string().max(256),
  metadata: z.string().max(4096),
  joinedAt: z.number(),
  grants: z.object({ canPublish: z.boolean(), canSubscribe: z.boolean(), canPublishData: z.boolean() }),
  tracks: z.array(z.unknown()).max(16),
});
export type ParticipantSnapshot = z.infer<typeof ParticipantSnapshot>;

/** The room's state that moves with it when another node adopts it. */
export const RoomSnapshot = z.object({
  room: z.string().min(1).max(256),
  /** The node that wrote the snapshot. */
  node: z.string(),
  policy: z.enum(['auto', 'p2p', 'sfu', 'mcu']),
  mode: z.enum(['p2p', 'sfu']),
  participants: z.array(ParticipantSnapshot).max(10_000),
  /** Write time, ms since the Unix epoch. */
  at: z.number(),
});
export type RoomSnapshot = z.infer<typeof RoomSnapshot>;

/** A room as `GET /api/rooms` lists it cluster-wide. */
export interface ClusterRoom {
  room: string;
  node: string;
  participants: number;
  mode: 'p2p' | 'sfu' | null;
}

/** Parses a JSON value stored in Redis against a schema; undefined when absent or malformed. */
export function parseStored<T>(schema: z.ZodType<T>, text: string | null | undefined): T | undefined {
  if (text === null || text === undefined) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}
