/**
 * Typed errors of the media plane. One class, {@link MediaError}, with a {@link MediaErrorCode};
 * callers (the MCU, egress, HTTP routes) map codes to their own (e.g. 503 for `GSTREAMER_UNAVAILABLE`).
 */

/**
 * - `GSTREAMER_UNAVAILABLE`: GStreamer, its Python bindings or a plugin is missing (the message says what to install).
 * - `WORKER_START_FAILED`: the child process did not say `ready` in time, or exited first.
 * - `WORKER_TIMEOUT`: a command got no reply in time (the worker is then checked by its heartbeat).
 * - `WORKER_EXITED`: the child process exited (crash, kill) with the command outstanding.
 * - `WORKER_RESTARTING`: the worker crashed and is being restarted; retry after `restarted`.
 * - `WORKER_STOPPED`: the worker was stopped on purpose (or gave up restarting).
 * - `COMMAND_FAILED`: the worker answered with an error (its code is in `workerCode`).
 */
export type MediaErrorCode =
  | 'GSTREAMER_UNAVAILABLE'
  | 'WORKER_START_FAILED'
  | 'WORKER_TIMEOUT'
  | 'WORKER_EXITED'
  | 'WORKER_RESTARTING'
  | 'WORKER_STOPPED'
  | 'COMMAND_FAILED';

export class MediaError extends Error {
  override readonly name = 'MediaError';
  constructor(
    readonly code: MediaErrorCode,
    message: string,
    /** For `COMMAND_FAILED`: the worker's own code (`BAD_ARGUMENT`, `NOT_FOUND`, `INTERNAL`, …). */
    readonly workerCode?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
