import { promises as dns } from 'node:dns';

/** One address of a name with its time to live in seconds. */
export interface ResolvedAddress {
  address: string;
  ttl: number;
}

/** Turns a host name into addresses; rejects when the name does not resolve. Injectable for tests. */
export interface Resolver {
  resolve(host: string): Promise<ResolvedAddress[]>;
}

/** TTL given to names only getaddrinfo knows (/etc/hosts, NSS): it reports none, and such files rarely change. */
export const LOOKUP_TTL = 10;

/**
 * The system resolver: A and AAAA records with their TTLs from the configured name servers, then, when both find
 * nothing, getaddrinfo (`dns.lookup`) so that names like `localhost` from /etc/hosts work as Kong's do.
 */
export function systemResolver(opts: { timeoutMs?: number; tries?: number } = {}): Resolver {
  const r = new dns.Resolver({ timeout: opts.timeoutMs ?? 2000, tries: opts.tries ?? 2 });
  return {
    async resolve(host: string): Promise<ResolvedAddress[]> {
      const [a, aaaa] = await Promise.allSettled([r.resolve4(host, { ttl: true }), r.resolve6(host, { ttl: true })]);
      const out: ResolvedAddress[] = [];
      if (a.status === 'fulfilled') out.push(...a.value);
      if (aaaa.status === 'fulfilled') out.push(...aaaa.value);
      if (out.length > 0) return out;
      const found = await dns.lookup(host, { all: true, verbatim: true });
      if (found.length === 0) throw Object.assign(new Error(`${host}: no address`), { code: 'ENODATA' });
      return found.map((f) => ({ address: f.address, ttl: LOOKUP_TTL }));
    },
  };
}
