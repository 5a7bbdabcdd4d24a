/**
 * Per-source-IP limits for new connections: a token bucket (rate per second with a burst) and a cap on concurrent
 * connections. Built for the accept path: `admit(ip)` and `release(ip)` are O(1), allocate nothing for an IP the
 * table knows, and use no timer per IP (buckets refill lazily from a monotonic clock when touched).
 *
 * The table is bounded: when it is full, the entry idle the longest (no open connection) is reused for the new
 * IP, so a flood of spoofed sources (a PROXY header can name any address) cannot grow memory without bound.
 * An evicted IP comes back with a full bucket; by then it has been idle longer than every other entry, so its
 * bucket would mostly have refilled anyway.
 */
import { performance } from 'node:perf_hooks';

export interface IpLimiterOptions {
  /** new connections per second per IP; 0 = no rate limit */
  ratePerSec?: number;
  /** bucket size (default: the rate, at least 1) */
  burst?: number;
  /** open connections per IP; 0 = no cap */
  maxPerIp?: number;
  /** most IPs remembered (default 100,000) */
  maxEntries?: number;
  /** a monotonic clock in ms (tests pass a fake one) */
  now?: () => number;
}

/** Why the last `admit` said no. */
export type Refusal = 'rate' | 'concurrency' | 'table-full' | undefined;

interface Entry {
  ip: string;
  tokens: number;
  /** clock at the last refill */
  at: number;
  active: number;
  // the idle list (entries with no open connection), oldest first
  prev: Entry | null;
  next: Entry | null;
  idle: boolean;
}

export class IpLimiter {
  readonly #table = new Map<string, Entry>();
  readonly #perMs: number;
  readonly #burst: number;
  readonly #maxPerIp: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  #head: Entry | null = null;
  #tail: Entry | null = null;
  /** why the last admit() returned false, for the log line of the refused connection */
  refusal: Refusal;

  constructor(opts: IpLimiterOptions) {
    const rate = opts.ratePerSec ?? 0;
    this.#perMs = rate / 1000;
    this.#burst = rate > 0 ? Math.max(1, opts.burst ?? rate) : 0;
    this.#maxPerIp = opts.maxPerIp ?? 0;
    this.#maxEntries = Math.max(1, opts.maxEntries ?? 100_000);
    this.#now = opts.now ?? performance.now.bind(performance);
  }

  /** IPs in the table now. */
  get size(): number {
    return this.#table.size;
  }

  /** Open connections counted for `ip` (0 when unknown). */
  active(ip: string): number {
    return this.#table.get(ip)?.active ?? 0;
  }

  /**
   * Counts a new connection from `ip`: true when it may go on (then call `release(ip)` when it closes exactly
   * once), false when a limit says no (`refusal` tells which; nothing is counted).
   */
  admit(ip: string): boolean {
    const now = this.#now();
    let e = this.#table.get(ip);
    if (e === undefined) {
      e = this.#newEntry(ip, now);
      if (e === undefined) {
        this.refusal = 'table-full';
        return false;
      }
    } else if (this.#perMs > 0) {
      const t = e.tokens + (now - e.at) * this.#perMs;
      e.tokens = t > this.#burst ? this.#burst : t;
      e.at = now;
    }
    if (this.#maxPerIp > 0 && e.active >= this.#maxPerIp) {
      this.refusal = 'concurrency';
      this.#touch(e);
      return false;
    }
    if (this.#perMs > 0) {
      if (e.tokens < 1) {
        this.refusal = 'rate';
        this.#touch(e);
        return false;
      }
      e.tokens -= 1;
    }
    if (e.active++ === 0) this.#unlink(e);
    return true;
  }

  /** The connection admitted for `ip` has closed. */
  release(ip: string): void {
    const e = this.#table.get(ip);
    if (e === undefined || e.active === 0) return; // a bookkeeping slip must not go negative
    if (--e.active === 0) this.#append(e);
  }

  #newEntry(ip: string, now: number): Entry | undefined {
    let e: Entry;
    if (this.#table.size >= this.#maxEntries) {
      const old = this.#head;
      if (old === null) return undefined; // every entry has open connections: refuse rather than grow
      this.#unlink(old);
      this.#table.delete(old.ip);
      e = old; // reused: a flood of new IPs allocates nothing once the table is full
      e.ip = ip;
      e.active = 0;
    } else {
      e = { ip, tokens: 0, at: now, active: 0, prev: null, next: null, idle: false };
    }
    e.tokens = this.#burst;
    e.at = now;
    this.#table.set(ip, e);
    this.#append(e);
    return e;
  }

  /** A refused attempt counts as activity: the idle entry moves to the young end. */
  #touch(e: Entry): void {
    if (e.idle && e !== this.#tail) {
      this.#unlink(e);
      this.#append(e);
    }
  }

  #append(e: Entry): void {
    e.idle = true;
    e.prev = this.#tail;
    e.next = null;
    if (this.#tail) this.#tail.next = e;
    else this.#head = e;
    this.#tail = e;
  }

  #unlink(e: Entry): void {
    if (!e.idle) return;
    e.idle = false;
    if (e.prev) e.prev.next = e.next;
    else this.#head = e.next;
    if (e.next) e.next.prev = e.prev;
    else this.#tail = e.prev;
    e.prev = e.next = null;
  }
}
