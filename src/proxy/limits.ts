import { CapTable, ConnectionCap } from '../limits/counters.js';
import { IpLimiter } from '../limits/ip-limiter.js';
import type { ConnectionRate } from '../limits/settings.js';
import type { ListenSpec } from '../settings/types.js';

/** What one connection holds of the limits, released when it ends. */
export interface Hold {
  ip?: string;
  cap?: ConnectionCap;
  route?: string;
}

export interface LimitOptions {
  maxConnections?: number;
  maxConnectionsPerIp?: number;
  connectionRatePerIp?: ConnectionRate;
}

/**
 * The connection limits of the stream listeners: per listener, per client IP (open connections and a token bucket
 * for new ones) and per route (`kong-ts.max_connections=N`). Refusals are status codes for the session record:
 * 429 for a client over its own limits, 503 for a full listener or route. A proxy without limits pays one boolean
 * test per connection; a route without the tag pays one Map lookup.
 */
export class Limits {
  readonly #perIp: IpLimiter | undefined;
  readonly #caps = new Map<ListenSpec, ConnectionCap>();
  readonly #maxPerListener: number;
  readonly #routes = new CapTable();
  /** why the last refusal happened, for its log line */
  reason = '';
  /** false when no listener or per-IP limit is set: `admit` need not be called (route limits still apply) */
  readonly active: boolean;

  constructor(opts: LimitOptions = {}) {
    this.active =
      (opts.maxConnections ?? 0) > 0 || (opts.maxConnectionsPerIp ?? 0) > 0 || opts.connectionRatePerIp !== undefined;
    this.#maxPerListener = opts.maxConnections ?? 0;
    if ((opts.maxConnectionsPerIp ?? 0) > 0 || opts.connectionRatePerIp) {
      this.#perIp = new IpLimiter({
        maxPerIp: opts.maxConnectionsPerIp || undefined,
        ratePerSec: opts.connectionRatePerIp?.ratePerSec,
        burst: opts.connectionRatePerIp?.burst,
      });
    }
  }

  /** Admits a new connection on `spec` from `ip`: the hold to release later, or the refusal's status code. */
  admit(spec: ListenSpec, ip: string): Hold | number {
    const hold: Hold = {};
    if (this.#maxPerListener > 0) {
      let cap = this.#caps.get(spec);
      if (!cap) this.#caps.set(spec, (cap = new ConnectionCap(this.#maxPerListener)));
      if (!cap.tryAcquire()) {
        this.reason = `listener ${spec.text} is at stream_max_connections (${this.#maxPerListener})`;
        return 503;
      }
      hold.cap = cap;
    }
    if (this.#perIp) {
      if (!this.#perIp.admit(ip)) {
        this.reason =
          this.#perIp.refusal === 'rate'
            ? 'over stream_connection_rate_per_ip'
            : this.#perIp.refusal === 'concurrency'
              ? 'over stream_max_connections_per_ip'
              : 'per-IP table full';
        this.release(hold);
        return 429;
      }
      hold.ip = ip;
    }
    return hold;
  }

  /** Counts a connection on its route; false (status 503) when the route is at its maximum. */
  admitRoute(hold: Hold, routeId: string, max: number): boolean {
    if (!this.#routes.tryAcquire(routeId, max)) {
      this.reason = `route is at its kong-ts.max_connections (${max})`;
      return false;
    }
    hold.route = routeId;
    return true;
  }

  release(hold: Hold): void {
    hold.cap?.release();
    if (hold.ip !== undefined) this.#perIp!.release(hold.ip);
    if (hold.route !== undefined) this.#routes.release(hold.route);
    hold.cap = hold.ip = hold.route = undefined;
  }
}
