/** Structured logging (pino). Child loggers per plane: `http`, `signaling` (later `turn`, `sfu`). */
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/** Creates the root logger; JSON lines on stdout (or a given destination stream). */
export function createLogger(level: LevelWithSilent, destination?: NodeJS.WritableStream): Logger {
  const opts = { level, base: { app: 'dari' }, timestamp: pino.stdTimeFunctions.isoTime };
  return destination ? pino(opts, destination) : pino(opts);
}
