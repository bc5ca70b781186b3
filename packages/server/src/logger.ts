/**
 * Structured logging (pino). Child loggers per plane carry `plane`: `http`, `signaling`, `turn`,
 * `sfu`. Rules (docs/architecture.md, "Logging and metrics"): structured fields (room,
 * participant, 5-tuple), one info line per lifecycle transition, no tokens or secrets.
 *
 * Format: JSON lines, or readable lines (pino-pretty, as `livekit-server --dev` prints) when the
 * destination is a terminal. pino-pretty runs in-process and synchronously rather than as a
 * worker-thread transport: only terminals get it, and lines then keep their order with stderr
 * and are all out before the process exits.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { PinoPretty } from 'pino-pretty';

export type { Logger };

/** `auto`: pretty when the destination is a terminal, JSON otherwise. */
export type LogFormat = 'auto' | 'json' | 'pretty';

/** A destination stream; `isTTY` is set on process.stdout/stderr when they are terminals. */
export type LogDestination = NodeJS.WritableStream & { isTTY?: boolean };

export interface LoggerOptions {
  /** Default `auto`. */
  format?: LogFormat;
  /** Default process.stdout. */
  destination?: LogDestination;
  /** The `app` field of JSON lines. Default `dari`. */
  app?: string;
}

/** Whether a format on a destination gives readable lines. */
export function isPretty(format: LogFormat, destination: LogDestination): boolean {
  return format === 'pretty' || (format === 'auto' && destination.isTTY === true);
}

/**
 * Creates the root logger.
 * @param level pino level (`silent` = nothing)
 * @param options format, destination (default stdout) and app name; a stream may be given
 *   directly as the second argument (JSON unless it is a terminal)
 */
export function createLogger(level: LevelWithSilent, options: LoggerOptions | LogDestination = {}): Logger {
  const o: LoggerOptions = 'write' in options ? { destination: options } : options;
  const destination = o.destination ?? process.stdout;
  const opts = { level, base: { app: o.app ?? 'dari' }, timestamp: pino.stdTimeFunctions.isoTime };
  if (!isPretty(o.format ?? 'auto', destination)) return pino(opts, destination);
  const pretty = PinoPretty({
    // Through the file descriptor (SonicBoom, synchronous) for stdout and stderr.
    destination: destination === process.stdout ? 1 : destination === process.stderr ? 2 : destination,
    sync: true,
    colorize: destination.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,app,plane',
    messageFormat: '{if plane}[{plane}] {end}{msg}',
    singleLine: true,
  });
  return pino(opts, pretty);
}
