/**
 * How the process's descriptors (RLIMIT_NOFILE, read from /proc/self/limits by `fdLimit()`) are shared, so that
 * no kind of traffic can take them all (issue 14: spoofed UDP sources once opened a socket per session until TCP
 * clients, the admin API and the logs had none left):
 *
 *   reserve      128 (a quarter of the limit below 512): listeners, log files, the admin API, DNS, health checks,
 *                plugin sockets; Node itself holds about 20. Under very small limits the EMFILE guard
 *                (accept-guard.ts) is the backstop.
 *   UDP          a third of the rest (one connected socket per session), when there are udp listeners
 *   TCP          what is left, two descriptors per proxied connection (client and upstream)
 *
 * Where the limit cannot be read, the fixed caps stay (UDP 10,000 sessions, TCP unbounded).
 */

export interface FdBudget {
  /** the soft open-file limit, undefined when unknown */
  readonly limit: number | undefined;
  /** descriptors kept for everything that is not a proxied connection */
  readonly reserve: number;
  /** proxied TCP connections that may be open at once (Infinity when the limit is unknown) */
  readonly tcp: number;
  /** UDP sessions that may be open at once (undefined when the limit is unknown: the fixed cap applies) */
  readonly udp: number | undefined;
}

export function fdBudget(limit: number | undefined, opts: { udp: boolean }): FdBudget {
  if (limit === undefined || !Number.isFinite(limit) || limit >= Number.MAX_SAFE_INTEGER) {
    return { limit: undefined, reserve: 0, tcp: Infinity, udp: undefined };
  }
  const reserve = limit <= 512 ? Math.floor(limit / 4) : 128;
  const free = Math.max(0, limit - reserve);
  const udp = opts.udp ? Math.max(1, Math.floor(free / 3)) : 0;
  const tcp = Math.max(1, Math.floor((free - udp) / 2));
  return { limit, reserve, tcp, udp: opts.udp ? udp : undefined };
}
