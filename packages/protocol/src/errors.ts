/**
 * Error codes of the signaling protocol. The server sends them in `{type:'error', code}` frames,
 * and the SDK raises them as {@link SignalingError}. See docs/protocol.md#errors.
 */
export const ErrorCode = {
  /** The frame is not valid JSON. */
  BAD_JSON: 'BAD_JSON',
  /** `type` is missing or not a known message type. */
  UNKNOWN_TYPE: 'UNKNOWN_TYPE',
  /** The message violates its schema (field missing, wrong type, too long). */
  INVALID_MESSAGE: 'INVALID_MESSAGE',
  /** The frame is larger than the server's `maxMessageBytes` (default 64 KiB). */
  MESSAGE_TOO_LARGE: 'MESSAGE_TOO_LARGE',
  /** The connection sent faster than its rate limit; the message was dropped. */
  RATE_LIMITED: 'RATE_LIMITED',
  /** A message other than `join` arrived before a successful join. */
  NOT_JOINED: 'NOT_JOINED',
  /** A second `join` on a connection that has joined. */
  ALREADY_JOINED: 'ALREADY_JOINED',
  /** The client's protocol version is not supported. */
  UNSUPPORTED_VERSION: 'UNSUPPORTED_VERSION',
  /** No token was given. */
  TOKEN_MISSING: 'TOKEN_MISSING',
  /** The token's `exp` is in the past. */
  TOKEN_EXPIRED: 'TOKEN_EXPIRED',
  /** Bad signature, unknown key, malformed JWT or malformed claims. */
  TOKEN_INVALID: 'TOKEN_INVALID',
  /** The token is for another room than the one asked for. */
  ROOM_MISMATCH: 'ROOM_MISMATCH',
  /** The token's grants do not allow this (e.g. a signal without canPublishData). */
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  /** A signal, SDP or candidate names an identity that is not in the room. */
  TARGET_NOT_FOUND: 'TARGET_NOT_FOUND',
  /** No `join` within the join deadline. */
  JOIN_TIMEOUT: 'JOIN_TIMEOUT',
  /** The room has reached its participant limit. */
  ROOM_FULL: 'ROOM_FULL',
  /** An SDP the SFU will not take: no DTLS fingerprint, too many m-lines, no codec it forwards. */
  INVALID_SDP: 'INVALID_SDP',
  /**
   * Scale-out: the join needs the cluster (its room is not on the node that took the connection)
   * and the cluster store (Redis) cannot be reached, or no node can take the room now. Transient:
   * the SDK retries.
   */
  CLUSTER_UNAVAILABLE: 'CLUSTER_UNAVAILABLE',
  /** A bug on the server; the message was dropped. */
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];
export type ErrorCodeName = keyof typeof ErrorCode;

/** True when `value` is one of {@link ErrorCode}'s codes. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ErrorCode, value);
}

/** A signaling error with its protocol {@link ErrorCode}; thrown by the server core and by the SDK. */
export class SignalingError extends Error {
  override readonly name = 'SignalingError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
