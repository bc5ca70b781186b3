/**
 * Errors the SDK raises by itself (the server's own come as {@link SignalingError}). Both reach
 * the app through the Room's `error` event, and both carry a `code`.
 */

/** Codes of {@link ClientError}. */
export const ClientErrorCode = {
  /** An app listener of a Room event threw; `details.event` names the event, `cause` is the exception. */
  LISTENER_FAILED: 'LISTENER_FAILED',
  /**
   * A peer's SDK sent a mesh control message that fails its schema (@dari/protocol
   * `parseMeshControl`); it was ignored. `details`: `from` (identity), `reason` (BAD_JSON,
   * UNKNOWN_TYPE, INVALID_MESSAGE or MESSAGE_TOO_LARGE).
   */
  INVALID_CONTROL_MESSAGE: 'INVALID_CONTROL_MESSAGE',
  /** Creating or applying an offer/answer (JSEP, RFC 9429) or a candidate failed. `details.peer`. */
  NEGOTIATION_FAILED: 'NEGOTIATION_FAILED',
  /** `RTCRtpSender.replaceTrack` or `setParameters` (dynacast layers) failed. `details.peer`, `details.track`. */
  MEDIA_UPDATE_FAILED: 'MEDIA_UPDATE_FAILED',
  /** An exception in the SDK's own handling (a bug); `cause` is the exception. */
  INTERNAL: 'INTERNAL',
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

/** An error the SDK detected on its side, with a {@link ClientErrorCode} and the original `cause`. */
export class ClientError extends Error {
  override readonly name = 'ClientError';
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The message of anything thrown. */
export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
