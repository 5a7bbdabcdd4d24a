import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * The process logger: pino JSON lines, to stdout unless a file is named.
 * Private keys never reach it: the redact paths cover every field that can hold one.
 */
export function createLogger(opts: { level?: string; file?: string } = {}): Logger {
  const level = (opts.level ?? 'info') as LevelWithSilent;
  const dest =
    opts.file && opts.file !== 'stdout' && opts.file !== '/dev/stdout'
      ? pino.destination({ dest: opts.file, mkdir: true, sync: false })
      : pino.destination({ dest: 1, sync: false });
  return pino(
    {
      level:
        level === ('notice' as string)
          ? 'info'
          : level === ('crit' as string) || level === ('alert' as string) || level === ('emerg' as string)
            ? 'fatal'
            : level,
      base: { pid: process.pid },
      redact: { paths: ['key', 'key_alt', '*.key', '*.key_alt', 'config.key', 'config.key_alt'], censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    dest,
  );
}

/** A logger that drops everything (tests, library use). */
export const silentLogger: Logger = pino({ level: 'silent' });

/**
 * A warn line at most once per `intervalMs` (default 10 s), saying how many times it was suppressed meanwhile:
 * when a cap refuses a flood, the log must not become the next flood.
 */
export class RateLimitedWarn {
  readonly #logger: Logger;
  readonly #intervalMs: number;
  #last = -Infinity;
  #suppressed = 0;

  constructor(logger: Logger, intervalMs = 10_000) {
    this.#logger = logger;
    this.#intervalMs = intervalMs;
  }

  warn(fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    if (now - this.#last < this.#intervalMs) {
      this.#suppressed++;
      return;
    }
    this.#last = now;
    const n = this.#suppressed;
    this.#suppressed = 0;
    this.#logger.warn({ ...fields, suppressed: n }, msg);
  }
}
