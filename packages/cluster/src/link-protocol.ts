/**
 * The node link: one WebSocket between two nodes that carries the signaling of participants who
 * connected to one node (the *edge*) while their room lives on the other (the *room node*), and
 * small RPCs (cluster-wide REST). Sans-I/O codec: bytes in, a value or a typed error out.
 *
 * Binary frames, so a relayed signaling message crosses the link as its own UTF-8 bytes, never
 * re-escaped inside JSON; the frames of one event-loop turn travel as one WebSocket message
 * ({@link encodeBatch}):
 * ```
 *  0        1                 5
 * +--------+-----------------+---------------------------+
 * | type   | session (u32 BE)| payload (type-specific)   |
 * +--------+-----------------+---------------------------+
 * ```
 * | type | dir | payload |
 * |---|---|---|
 * | OPEN (1) | edge → room | JSON {@link OpenPayload}: verified token claims, the `join` message, whether to adopt the room |
 * | MSG (2) | edge → room | a client frame's text, as received |
 * | CLOSE (3) | edge → room | empty: the client's connection closed |
 * | SEND (4) | room → edge | a server frame's text, to send as is |
 * | END (5) | room → edge | JSON {code, reason}: close the client's connection with this WebSocket close code |
 * | RPC (6) | either | JSON {method, params}; session = request id |
 * | RPC_RESULT (7) | either | JSON {@link RpcResult}; session = request id |
 */
import { z } from 'zod';

export const FrameType = { OPEN: 1, MSG: 2, CLOSE: 3, SEND: 4, END: 5, RPC: 6, RPC_RESULT: 7 } as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Header size, bytes. */
export const HEADER_BYTES = 5;

export interface Frame {
  type: FrameType;
  /** Relayed session id (chosen by the edge), or RPC request id. */
  session: number;
  payload: Uint8Array;
}

/** Why a link frame was rejected. */
export class LinkDecodeError extends Error {
  override readonly name = 'LinkDecodeError';
  constructor(
    readonly reason: 'short' | 'unknown-type' | 'bad-json' | 'bad-payload',
    message: string,
  ) {
    super(message);
  }
}

const TYPES = new Set<number>(Object.values(FrameType));
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: false });

/** Encodes a frame; `payload` as text (UTF-8 encoded here) or bytes. */
export function encodeFrame(type: FrameType, session: number, payload: string | Uint8Array = ''): Uint8Array {
  const body = typeof payload === 'string' ? utf8.encode(payload) : payload;
  const out = new Uint8Array(HEADER_BYTES + body.length);
  out[0] = type;
  new DataView(out.buffer).setUint32(1, session >>> 0);
  out.set(body, HEADER_BYTES);
  return out;
}

/** Decodes a frame's header; never throws. */
export function decodeFrame(bytes: Uint8Array): Frame | LinkDecodeError {
  if (bytes.length < HEADER_BYTES) return new LinkDecodeError('short', `frame of ${bytes.length} bytes is shorter than the ${HEADER_BYTES}-byte header`);
  const type = bytes[0]!;
  if (!TYPES.has(type)) return new LinkDecodeError('unknown-type', `unknown frame type ${type}`);
  const session = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(1);
  return { type: type as FrameType, session, payload: bytes.subarray(HEADER_BYTES) };
}

/**
 * A batch: the frames one node queued in one event-loop turn, sent as one WebSocket message
 * (one write, one wake-up at the peer): each frame preceded by its length (u32 BE).
 */
export function encodeBatch(frames: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const f of frames) size += 4 + f.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const f of frames) {
    view.setUint32(at, f.length);
    out.set(f, at + 4);
    at += 4 + f.length;
  }
  return out;
}

/** Splits a batch into its frames (views, no copy); a typed error when a length runs past the end. */
export function splitBatch(bytes: Uint8Array): Uint8Array[] | LinkDecodeError {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const frames: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; ) {
    if (at + 4 > bytes.length) return new LinkDecodeError('short', `batch: ${bytes.length - at} bytes left, less than a length field`);
    const len = view.getUint32(at);
    if (at + 4 + len > bytes.length) return new LinkDecodeError('short', `batch: a frame of ${len} bytes runs past the end`);
    frames.push(bytes.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return frames;
}

/** A frame's payload as text. */
export function payloadText(frame: Frame): string {
  return fromUtf8.decode(frame.payload);
}

/** The verified claims of a relayed join (what @dari/protocol's TokenClaims holds). */
export const RelayedClaims = z.object({
  iss: z.string().min(1),
  sub: z.string().min(1).max(256),
  room: z.string().min(1).max(256),
  name: z.string().max(256).optional(),
  metadata: z.string().max(4096).optional(),
  grants: z.object({ canPublish: z.boolean().optional(), canSubscribe: z.boolean().optional(), canPublishData: z.boolean().optional() }).optional(),
  exp: z.number().int(),
});
export type RelayedClaims = z.infer<typeof RelayedClaims>;

export const OpenPayload = z.object({
  claims: RelayedClaims,
  /** The client's `join` message as the edge parsed it. */
  join: z.record(z.string(), z.unknown()),
  /** The room was just placed here after its previous node died or drained: adopt its snapshot first. */
  adopt: z.boolean(),
});
export type OpenPayload = z.infer<typeof OpenPayload>;

export const EndPayload = z.object({ code: z.number().int().min(1000).max(4999), reason: z.string().max(123) });
export type EndPayload = z.infer<typeof EndPayload>;

export const RpcRequest = z.object({ method: z.string().min(1).max(64), params: z.unknown() });
export type RpcRequest = z.infer<typeof RpcRequest>;

export const RpcResult = z.union([
  z.object({ ok: z.literal(true), result: z.unknown() }),
  z.object({ ok: z.literal(false), error: z.object({ status: z.number().int(), code: z.string(), message: z.string() }) }),
]);
export type RpcResult = z.infer<typeof RpcResult>;

/** Parses a frame's JSON payload against a schema; a typed error when it is not valid. */
export function payloadJson<T>(frame: Frame, schema: z.ZodType<T>): T | LinkDecodeError {
  let raw: unknown;
  try {
    raw = JSON.parse(payloadText(frame));
  } catch {
    return new LinkDecodeError('bad-json', `frame type ${frame.type}: payload is not JSON`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return new LinkDecodeError('bad-payload', `frame type ${frame.type}: ${issue?.path.join('.') || '(payload)'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}
