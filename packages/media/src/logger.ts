/** The logging the media plane needs: pino's method shape (`logger.info({ fields }, 'message')`). */
export interface MediaLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** A logger that drops everything (the default when none is given). */
export const silentLogger: MediaLogger = { debug() {}, info() {}, warn() {}, error() {} };
