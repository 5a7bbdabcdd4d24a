/**
 * Host name resolution for upstream connects: IP literals never get here; names go through `dns.lookup`
 * (the system resolver, /etc/hosts included) with a short TTL cache and one lookup in flight per name,
 * so a burst of connections to the same service costs one getaddrinfo, not one each.
 */
import { lookup } from 'node:dns';

/** Something waiting for a name: sessions implement it, so no closure is made per connection. */
export interface ResolveWaiter {
  resolved(err: NodeJS.ErrnoException | null, ip: string): void;
}

// getaddrinfo gives no TTL; a few seconds keeps bursts cheap while a changed record is seen quickly.
const TTL_MS = 5000;
const NEGATIVE_TTL_MS = 1000;

interface Entry {
  ip: string;
  err: NodeJS.ErrnoException | null;
  expires: number;
}

const cache = new Map<string, Entry>();
const pending = new Map<string, ResolveWaiter[]>();

/**
 * The cached address of `host`, or undefined after queueing `w` (called back once the lookup ends).
 * A cached failure is reported to `w` synchronously, as is a cached address (returned).
 */
export function resolveHost(host: string, w: ResolveWaiter): string | undefined {
  const e = cache.get(host);
  if (e && e.expires > Date.now()) {
    if (e.err) {
      w.resolved(e.err, '');
      return undefined;
    }
    return e.ip;
  }
  const waiting = pending.get(host);
  if (waiting) {
    waiting.push(w);
    return undefined;
  }
  pending.set(host, [w]);
  lookup(host, (err, ip) => {
    const list = pending.get(host) ?? [];
    pending.delete(host);
    cache.set(host, { ip: ip ?? '', err, expires: Date.now() + (err ? NEGATIVE_TTL_MS : TTL_MS) });
    for (const x of list) x.resolved(err, ip ?? '');
  });
  return undefined;
}
