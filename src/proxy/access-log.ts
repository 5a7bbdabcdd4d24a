/**
 * The stream access log in Kong's `basic` format:
 * `$remote_addr [$time_local] $protocol $status $bytes_sent $bytes_received $session_time`.
 * Lines go through a SonicBoom (pino.destination): buffered and non-blocking, one write syscall per batch.
 */
import { pino } from 'pino';
import type { Logger } from '../log.js';
import type { SessionRecord } from './record.js';

type SonicBoom = ReturnType<typeof pino.destination>;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function pad2(n: number): string {
  return n < 10 ? '0' + n : String(n);
}

/** nginx's `$time_local` for a time in ms: `26/Nov/2026:08:12:57 +0000` (local time zone). */
export function formatTimeLocal(ms: number): string {
  const d = new Date(ms);
  const off = -d.getTimezoneOffset();
  const abs = Math.abs(off);
  return `${pad2(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${pad2(d.getHours())}:${pad2(d.getMinutes())}:`
    + `${pad2(d.getSeconds())} ${off < 0 ? '-' : '+'}${pad2(Math.floor(abs / 60))}${pad2(abs % 60)}`;
}

let cachedSecond = -1;
let cachedTime = '';

// Formatting a date costs more than the rest of the line: one string per second is enough.
function timeLocalNow(): string {
  const now = Date.now();
  const sec = Math.floor(now / 1000);
  if (sec !== cachedSecond) {
    cachedSecond = sec;
    cachedTime = formatTimeLocal(now);
  }
  return cachedTime;
}

/** One `basic` line (with its newline) for a session record. */
export function formatBasic(r: SessionRecord, timeLocal: string = timeLocalNow()): string {
  return `${r.client_ip} [${timeLocal}] ${r.protocol.toUpperCase()} ${r.session.status} ${r.session.sent} `
    + `${r.session.received} ${(r.latencies.session / 1000).toFixed(3)}\n`;
}

/** The stream access log; `open()` returns undefined for `off`. */
export class AccessLog {
  readonly #dest: SonicBoom;
  readonly #path: string;
  readonly #stdout: boolean;
  #failed = false;

  private constructor(path: string, logger: Logger) {
    this.#path = path;
    this.#stdout = path === 'stdout' || path === '/dev/stdout';
    this.#dest = this.#stdout
      ? pino.destination({ dest: 1, sync: false })
      : pino.destination({ dest: path, mkdir: true, sync: false });
    this.#dest.on('error', (err: NodeJS.ErrnoException) => {
      // one warning, not one per line: a full disk would otherwise flood the error log
      if (this.#failed) return;
      this.#failed = true;
      logger.warn({ path, code: err.code }, `access log '${path}' cannot be written: ${err.message}`);
    });
  }

  /** Opens the access log at `path` (`stdout` or `/dev/stdout` mean fd 1); `off` gives undefined. */
  static open(path: string | 'off', logger: Logger): AccessLog | undefined {
    if (path === 'off' || path === '') return undefined;
    return new AccessLog(path, logger);
  }

  /** Appends one line for the session. */
  write(r: SessionRecord): void {
    this.#dest.write(formatBasic(r));
  }

  /** Reopens the file (after log rotation moved it away); a no-op on stdout. */
  reopen(): void {
    if (this.#stdout) return;
    this.#failed = false;
    this.#dest.reopen();
  }

  /** Flushes what is buffered and closes the file (stdout is flushed, never closed). */
  close(): Promise<void> {
    const dest = this.#dest;
    return new Promise((resolve) => {
      if (this.#stdout) {
        dest.flush((err?: Error) => { void err; resolve(); });
        return;
      }
      dest.once('close', () => resolve());
      dest.once('error', () => resolve());
      dest.end();
    });
  }

  get path(): string {
    return this.#path;
  }
}
