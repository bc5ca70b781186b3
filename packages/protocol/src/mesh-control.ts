/**
 * Mesh control messages: what two SDKs tell each other directly, on the negotiated data channel
 * `dari` (id 0, RFC 8832 not used: both ends create it with `negotiated: true`) of their mesh
 * peer connection. The server never sees them. One JSON object per data-channel message, with a
 * `t` discriminator (short: it rides every mesh link). See docs/protocol.md, "Mesh control
 * messages".
 */
import { z } from 'zod';
import { ErrorCode } from './errors.js';

/** Label of the negotiated control data channel on a mesh link (and on the SFU publisher leg). */
export const CONTROL_CHANNEL_LABEL = 'dari';
/** Its SCTP stream id (RFC 8831 §6.5); both ends open it with `negotiated: true`. */
export const CONTROL_CHANNEL_ID = 0;
/** Largest control message accepted, bytes (UTF-8). Every defined message is far smaller. */
export const MAX_CONTROL_MESSAGE_BYTES = 4096;

/**
 * Make-before-break topology switch: "I now receive everything of yours over `path`". Sent once
 * per peer per switch, when every track of the peer that the app has comes over the room's new
 * path. A mesh link closes when both ends said `sfu`; the SFU legs close when every peer and we
 * said `p2p` (docs/protocol.md, "Topology").
 */
export const MovedControl = z.object({
  t: z.literal('moved'),
  path: z.enum(['p2p', 'sfu']),
});
export type MovedControl = z.infer<typeof MovedControl>;

export const MeshControlMessage = z.discriminatedUnion('t', [MovedControl]);
export type MeshControlMessage = z.infer<typeof MeshControlMessage>;
export const MESH_CONTROL_TYPES = ['moved'] as const;

/** Result of {@link parseMeshControl}: the message, or why it was refused. */
export type MeshControlParseResult =
  | { ok: true; message: MeshControlMessage }
  | { ok: false; code: ErrorCode; message: string };

/**
 * Parses and validates one control message received from a peer SDK.
 * @param data the data channel message's `data` (binary messages are refused)
 * @returns the message, or a typed reason: MESSAGE_TOO_LARGE (over
 *   {@link MAX_CONTROL_MESSAGE_BYTES}), BAD_JSON, UNKNOWN_TYPE (`t` missing or not one of
 *   {@link MESH_CONTROL_TYPES}), INVALID_MESSAGE (binary, not an object, or a field violates the
 *   schema). Never throws.
 */
export function parseMeshControl(data: unknown): MeshControlParseResult {
  if (typeof data !== 'string') return { ok: false, code: ErrorCode.INVALID_MESSAGE, message: 'a control message must be text' };
  // A UTF-16 code unit is at most 3 UTF-8 bytes: exact counting only near the limit.
  if (data.length * 3 > MAX_CONTROL_MESSAGE_BYTES && new TextEncoder().encode(data).byteLength > MAX_CONTROL_MESSAGE_BYTES) {
    return { ok: false, code: ErrorCode.MESSAGE_TOO_LARGE, message: `control message exceeds ${MAX_CONTROL_MESSAGE_BYTES} bytes` };
  }
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch (err) {
    return { ok: false, code: ErrorCode.BAD_JSON, message: `malformed JSON: ${(err as Error).message}` };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { ok: false, code: ErrorCode.INVALID_MESSAGE, message: 'a control message must be a JSON object' };
  }
  const t = (json as Record<string, unknown>)['t'];
  if (typeof t !== 'string' || !(MESH_CONTROL_TYPES as readonly string[]).includes(t)) {
    return { ok: false, code: ErrorCode.UNKNOWN_TYPE, message: `unknown control message ${JSON.stringify(t)}; expected t in ${MESH_CONTROL_TYPES.join(', ')}` };
  }
  const parsed = MeshControlMessage.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.join('.') : '(message)';
    return { ok: false, code: ErrorCode.INVALID_MESSAGE, message: `invalid ${t} control message at ${where}: ${issue?.message ?? 'schema violation'}` };
  }
  return { ok: true, message: parsed.data };
}

/** The text to send for a control message (JSON). */
export function encodeMeshControl(message: MeshControlMessage): string {
  return JSON.stringify(message);
}
