/**
 * The stream access log in Kong's `basic` format:
 * `$remote_addr [$time_local] $protocol $status $bytes_sent $bytes_received $session_time`,
 * or `json`: one object a line with the fields of `JsonAccessRecord` (README lists them; `config diff --replay`
 * reads them back).
 * Lines go through a SonicBoom (pino.destination): buffered and non-blocking, one write syscall per batch.
 */
import { pino } from 'pino';
import type { Logger } from '../log.js';
import type { SessionRecord } from './record.js';
import { hostPort } from '../net/address.js';

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
  return (
    `${pad2(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${pad2(d.getHours())}:${pad2(d.getMinutes())}:` +
    `${pad2(d.getSeconds())} ${off < 0 ? '-' : '+'}${pad2(Math.floor(abs / 60))}${pad2(abs % 60)}`
  );
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
  return (
    `${r.client_ip} [${timeLocal}] ${r.protocol.toUpperCase()} ${r.session.status} ${r.session.sent} ` +
    `${r.session.received} ${(r.latencies.session / 1000).toFixed(3)}\n`
  );
}

/** One line of the `json` access log. Field names are a documented interface: add, never rename. */
export interface JsonAccessRecord {
  /** when the session ended, ISO 8601 UTC */
  time: string;
  /** when it was accepted, ms since the epoch */
  started_at: number;
  /** tcp, tls or udp (tls for terminated and passed-through TLS alike) */
  protocol: string;
  client_ip: string;
  client_port: number;
  server_ip: string | null;
  server_port: number;
  listener: string;
  sni: string | null;
  route_id: string | null;
  route_name: string | null;
  service_id: string | null;
  service_name: string | null;
  /** the peer of the last connect try, `ip:port` */
  upstream: string | null;
  status: number;
  /** bytes received from the client, sent to it */
  bytes_received: number;
  bytes_sent: number;
  /** bytes sent to the upstream, received from it */
  upstream_bytes_sent: number;
  upstream_bytes_received: number;
  /** ms from accept to the end; ms spent before the upstream connected (Kong's kong latency); the last connect */
  duration_ms: number;
  proxy_ms: number;
  connect_ms: number | null;
  tries: number;
  closed_by: string | null;
  config_hash: string | null;
}

/** The `json` record of a session. */
export function jsonRecord(r: SessionRecord, now: number = Date.now()): JsonAccessRecord {
  const last = r.tries.length ? r.tries[r.tries.length - 1]! : undefined;
  return {
    time: new Date(now).toISOString(),
    started_at: r.started_at,
    protocol: r.protocol,
    client_ip: r.client_ip,
    client_port: r.client_port,
    server_ip: r.server_ip ?? null,
    server_port: r.session.server_port,
    listener: r.listener,
    sni: r.session.tls?.sni ?? null,
    route_id: r.route?.id ?? null,
    route_name: r.route?.name ?? null,
    service_id: r.service?.id ?? null,
    service_name: r.service?.name ?? null,
    upstream: last ? hostPort(last.ip, last.port) : null,
    status: r.session.status,
    bytes_received: r.session.received,
    bytes_sent: r.session.sent,
    upstream_bytes_sent: r.upstream.sent,
    upstream_bytes_received: r.upstream.received,
    duration_ms: r.latencies.session,
    proxy_ms: r.latencies.kong,
    connect_ms: r.latencies.connect ?? null,
    tries: r.tries.length,
    closed_by: r.session.closed_by ?? null,
    config_hash: r.config_hash ?? null,
  };
}

/** One `json` line (with its newline) for a session record. */
export function formatJson(r: SessionRecord): string {
  return JSON.stringify(jsonRecord(r)) + '\n';
}

/** The stream access log; `open()` returns undefined for `off`. */
export class AccessLog {
  readonly #dest: SonicBoom;
  readonly #path: string;
  readonly #stdout: boolean;
  readonly #format: (r: SessionRecord) => string;
  #failed = false;

  private constructor(path: string, logger: Logger, format: 'basic' | 'json') {
    this.#path = path;
    this.#format = format === 'json' ? formatJson : (r) => formatBasic(r);
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
  static open(path: string, logger: Logger, format: 'basic' | 'json' = 'basic'): AccessLog | undefined {
    if (path === 'off' || path === '') return undefined;
    return new AccessLog(path, logger, format);
  }

  /** Appends one line for the session. */
  write(r: SessionRecord): void {
    this.#dest.write(this.#format(r));
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
        dest.flush((err?: Error) => {
          void err;
          resolve();
        });
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
