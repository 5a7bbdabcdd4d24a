/**
 * Keeps a listener alive when the process runs out of file descriptors (EMFILE / ENFILE).
 *
 * What Node 20 does (measured with `ulimit -n 64`): libuv's "EMFILE trick" accepts each connection it has no
 * descriptor for with a reserved one and closes it at once, so clients see a connection that closes right away
 * and the server emits nothing. Node emits 'error' (fatal without a listener) only when that trick fails too.
 * Meanwhile the proxy itself fails: each accepted client needs a second descriptor for its upstream, so connects
 * fail with EMFILE and the client gets closed after its handshake.
 *
 * The guard reacts to both signals (the server's 'error', and `noteError()` from the data path when an upstream
 * connect or another socket call fails with EMFILE) by pausing accepts: it stops listening (new clients get a
 * clean ECONNREFUSED, which a load balancer in front takes as "try another instance") and listens again on the
 * same address after a delay that doubles while the shortage lasts. Node has no supported "stop accepting"
 * call; `close()` followed by `listen()` on the same Server object is supported and keeps open connections.
 * Headroom is better than recovery: `connectionBudget(fdLimit())` gives a `server.maxConnections` that leaves
 * descriptors for upstream connections, log files and the admin API.
 */
import { readFileSync } from 'node:fs';
import type { Server } from 'node:net';
import type { Logger } from '../log.js';

export interface AcceptGuardOptions {
  logger: Logger;
  /** first pause in ms (default 500); doubles while the shortage lasts */
  pauseMs?: number;
  /** longest pause in ms (default 10,000) */
  maxPauseMs?: number;
  /** the listen options to reuse when listening again (host and port come from server.address()) */
  listen?: { backlog?: number; ipv6Only?: boolean };
}

const FD_ERRORS = new Set(['EMFILE', 'ENFILE']);

/** True for "out of file descriptors" errors. */
export function isFdExhausted(err: unknown): boolean {
  return typeof err === 'object' && err !== null && FD_ERRORS.has((err as NodeJS.ErrnoException).code ?? '');
}

export class AcceptGuard {
  readonly #server: Server;
  readonly #opts: AcceptGuardOptions;
  readonly #onError = (err: NodeJS.ErrnoException) => this.#serverError(err);
  readonly #onDrop = () => this.#drop();
  #address: { host: string; port: number } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #delay: number;
  #closed = false;
  #resuming = false;
  #lastPauseEnd = 0;
  /** times accepting was paused */
  pauses = 0;
  /** connections Node dropped because server.maxConnections was reached */
  drops = 0;

  constructor(server: Server, opts: AcceptGuardOptions) {
    this.#server = server;
    this.#opts = opts;
    this.#delay = opts.pauseMs ?? 500;
    server.on('error', this.#onError);
    server.on('drop', this.#onDrop);
  }

  /** True while accepting is paused. */
  get paused(): boolean {
    return this.#timer !== undefined;
  }

  /**
   * Reports an error from the data path; pauses accepting when it is EMFILE/ENFILE. Returns true when it was one.
   */
  noteError(err: unknown): boolean {
    if (!isFdExhausted(err)) return false;
    this.pause((err as NodeJS.ErrnoException).code!);
    return true;
  }

  /** Stops accepting for the current delay (no-op while paused or closed). */
  pause(reason: string): void {
    if (this.#closed || this.#timer !== undefined || !this.#server.listening) return;
    const a = this.#server.address();
    if (!a || typeof a !== 'object') return;
    this.#address = { host: a.address, port: a.port };
    // a shortage right after the last pause ended is the same one: back off further
    const max = this.#opts.maxPauseMs ?? 10_000;
    if (Date.now() - this.#lastPauseEnd > 2 * this.#delay) this.#delay = this.#opts.pauseMs ?? 500;
    else this.#delay = Math.min(max, this.#delay * 2);
    this.pauses++;
    this.#opts.logger.warn(
      { reason, address: this.#address, pauseMs: this.#delay, open: 'kept' },
      'out of file descriptors: not accepting new connections for a while',
    );
    this.#server.close(); // stops the listening socket only; open connections live on
    this.#timer = setTimeout(resumeGuard, this.#delay, this);
  }

  /** @internal timer callback */
  resume(): void {
    this.#timer = undefined;
    if (this.#closed || !this.#address) return;
    this.#resuming = true;
    this.#server.listen({ host: this.#address.host, port: this.#address.port, ...this.#opts.listen }, () => {
      this.#resuming = false;
      this.#lastPauseEnd = Date.now();
      this.#opts.logger.info({ address: this.#address }, 'accepting new connections again');
    });
  }

  /** Stops the guard: no listen again after this. Call it before closing the server for good. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#server.off('error', this.#onError);
    this.#server.off('drop', this.#onDrop);
  }

  #serverError(err: NodeJS.ErrnoException): void {
    if (this.#resuming) {
      // listening again failed (the port was taken meanwhile, or still no descriptor): try again later
      this.#resuming = false;
      this.#opts.logger.error(
        { err: err.code ?? err.message, address: this.#address },
        'cannot listen again; retrying',
      );
      this.#timer = setTimeout(resumeGuard, Math.min(this.#opts.maxPauseMs ?? 10_000, this.#delay * 2), this);
      return;
    }
    if (isFdExhausted(err)) this.pause(err.code!);
    else this.#opts.logger.debug({ err: err.code ?? err.message }, 'listener error');
  }

  #drop(): void {
    // one line per thousand: at the cap every new connection drops, and the log must not become the flood
    if (this.drops++ % 1000 === 0) {
      this.#opts.logger.warn(
        { drops: this.drops, max: this.#server.maxConnections },
        'connection limit reached: new connections are closed',
      );
    }
  }
}

function resumeGuard(g: AcceptGuard): void {
  g.resume();
}

/** The process's open-file limit (soft), from /proc/self/limits; undefined where that file does not exist. */
export function fdLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!m) return undefined;
    return m[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[1]);
  } catch {
    return undefined;
  }
}

/**
 * How many proxied connections fit in `limit` descriptors: each takes one for the client and one for the
 * upstream; `reserve` are kept for log files, the admin API, DNS and health checks.
 */
export function connectionBudget(limit: number, opts: { reserve?: number; perConnection?: number } = {}): number {
  const reserve = opts.reserve ?? 64;
  return Math.max(1, Math.floor((limit - reserve) / (opts.perConnection ?? 2)));
}
