/**
 * Compiles routes into an index so a connection looks at a handful of candidates, never at every route.
 *
 * Matching and priority come from the table of match fields (match-fields.ts).
 * Priority as Kong 3's `traditional_compatible` router (kong/router/transform.lua): a high band (Kong's bit 61)
 * for routes with `snis` or with both `sources` and `destinations`; below it the source bits shifted by 4 above the
 * destination bits, each side the OR of its entries' bits (ip 8, port 4, cidr 1). Ties go to the larger route id,
 * as atc-router walks its (priority, uuid) keys from the top. Exact and wildcard SNI weigh the same, as in Kong;
 * the kong-ts setting `router_exact_sni_first` (off by default) prefers an exact SNI match on equal priority.
 * `port_maps` (kong.conf) turns a listener's port into the host port routes name, as Kong's `host_ports`.
 */
import type { RouteEntity, ServiceEntity } from '../config/types.js';
import type { CompiledService, ConnInfo, Router, ServiceExtras } from './types.js';
import { sniMatchKind, type ConnAddrs } from './match.js';
import { compileMatch, firstMismatch, priorityOf, type StreamRoute } from './match-fields.js';

export type { StreamRoute } from './match-fields.js';

/** Resolves a service's numbers once, so the data path computes nothing per connection. */
export function compileService(s: ServiceEntity, extra: ServiceExtras = {}): CompiledService {
  return Object.freeze({
    ...extra,
    id: s.id,
    name: s.name,
    entity: s,
    protocol: s.protocol,
    host: s.host,
    port: s.port,
    retries: s.retries,
    connectTimeout: s.connect_timeout,
    readTimeout: s.read_timeout,
    writeTimeout: s.write_timeout,
  });
}

/** What the router is built with besides the routes (from settings). */
export interface RouterOptions {
  /** kong-ts's `router_exact_sni_first`: on equal priority an exact SNI match beats a wildcard one */
  exactSniFirst?: boolean;
  /** Kong's `port_maps` as `listener port → host port`: routes' destination ports name the host port */
  hostPorts?: ReadonlyMap<number, number>;
}

/** The destination port routes see: the host port of `port_maps`, else the listener's. */
export function routedPort(conn: ConnInfo, opts: RouterOptions | undefined): number {
  return opts?.hostPorts?.get(conn.dstPort) ?? conn.dstPort;
}

/** True when every match field of the route matches (match-fields.ts: protocols, destinations, sources, snis). */
export function matchRoute(r: StreamRoute, conn: ConnInfo, addrs: ConnAddrs, dstPort = conn.dstPort): boolean {
  return firstMismatch(r, conn, addrs, dstPort, 0) < 0;
}

interface Bucket {
  /** tls index only: routes with this exact SNI */
  bySni?: Map<string, StreamRoute[]>;
  /** routes without an exact SNI for the connection: no snis, wildcard snis, or any route off the tls index */
  other: StreamRoute[];
}

interface Index {
  byPort: Map<number, Bucket>;
  /** routes that can match any destination port */
  any: Bucket;
}

function better(
  a: StreamRoute,
  aExact: boolean,
  b: StreamRoute | undefined,
  bExact: boolean,
  exactFirst: boolean,
): boolean {
  if (!b) return true;
  if (a.priority !== b.priority) return a.priority > b.priority;
  if (exactFirst && aExact !== bExact) return aExact;
  return a.idKey > b.idKey;
}

/** Best first: higher priority, then the larger id (atc-router's order). */
export function byPriority(a: StreamRoute, b: StreamRoute): number {
  return b.priority - a.priority || (a.idKey > b.idKey ? -1 : a.idKey < b.idKey ? 1 : 0);
}

type Indexes = Record<ConnInfo['protocol'], Index>;

class StreamRouter implements Router {
  readonly routes: readonly StreamRoute[];
  readonly options: RouterOptions;
  readonly #index: Indexes;

  /** `sorted`: by `byPriority` */
  constructor(sorted: StreamRoute[], index: Indexes, options: RouterOptions) {
    this.routes = Object.freeze(sorted);
    this.#index = index;
    this.options = options;
  }

  match(conn: ConnInfo): StreamRoute | undefined {
    const idx = this.#index[conn.protocol];
    if (!idx) return undefined;
    const port = routedPort(conn, this.options);
    const st: Best = {
      route: undefined,
      exact: false,
      port,
      exactFirst: this.options.exactSniFirst === true,
      addrs: { src: null, dst: null },
    };
    const pb = idx.byPort.get(port);
    if (pb) searchBucket(pb, conn, st);
    searchBucket(idx.any, conn, st);
    return st.route;
  }
}

interface Best {
  route: StreamRoute | undefined;
  exact: boolean;
  port: number;
  exactFirst: boolean;
  addrs: ConnAddrs;
}

function searchBucket(b: Bucket, conn: ConnInfo, st: Best): void {
  if (b.bySni && conn.sni !== undefined) {
    const list = b.bySni.get(conn.sni);
    if (list) searchList(list, conn, st, true);
  }
  searchList(b.other, conn, st, false);
}

/** Whether a TLS connection's SNI is one of the route's exact names (not a wildcard's): `router_exact_sni_first`. */
export function exactSni(r: StreamRoute, conn: ConnInfo): boolean {
  return (
    conn.protocol === 'tls' && r.snis !== undefined && conn.sni !== undefined && sniMatchKind(r.snis, conn.sni) === 2
  );
}

// Lists are sorted best first, so the first full match is the list's winner and a lower priority ends the scan.
function searchList(list: readonly StreamRoute[], conn: ConnInfo, st: Best, exactList: boolean): void {
  for (let i = 0; i < list.length; i++) {
    const r = list[i]!;
    if (st.route && r.priority < st.route.priority) return;
    if (!matchRoute(r, conn, st.addrs, st.port)) continue;
    const exact = exactList || (st.exactFirst && exactSni(r, conn));
    if (better(r, exact, st.route, st.exact, st.exactFirst)) {
      st.route = r;
      st.exact = exact;
    }
    return;
  }
}

function bucketFor(idx: Index, port: number | undefined): Bucket {
  if (port === undefined) return idx.any;
  let b = idx.byPort.get(port);
  if (!b) idx.byPort.set(port, (b = { other: [] }));
  return b;
}

function indexRoute(idx: Index, r: StreamRoute, proto: ConnInfo['protocol']): void {
  if (!r[proto]) return;
  // a route goes under each destination port only if every destination entry names a port
  const ports =
    r.destinations && r.destinations.every((d) => d.port !== undefined)
      ? [...new Set(r.destinations.map((d) => d.port))]
      : [undefined];
  for (const port of ports) {
    const b = bucketFor(idx, port);
    if (proto === 'tls' && r.snis && r.snis.exact.size > 0) {
      b.bySni ??= new Map();
      for (const name of r.snis.exact) {
        let list = b.bySni.get(name);
        if (!list) b.bySni.set(name, (list = []));
        list.push(r);
      }
      if (r.snis.suffixes.length + r.snis.prefixes.length > 0) b.other.push(r);
    } else b.other.push(r);
  }
}

const emptyIndexes = (): Indexes => ({
  tcp: { byPort: new Map(), any: { other: [] } },
  tls: { byPort: new Map(), any: { other: [] } },
  udp: { byPort: new Map(), any: { other: [] } },
});

/** What the sliced build needs of a `Slicer` (src/slices.ts). */
export interface Slices {
  due(): boolean;
  pause(): Promise<void>;
}

/**
 * Sorts in slices: runs sorted by `Array.prototype.sort`, then merged pairwise, pausing whenever the slice is due.
 * Stable, like the sort it replaces.
 */
async function sortSliced<T>(a: T[], cmp: (x: T, y: T) => number, sl: Slices): Promise<T[]> {
  const RUN = 512;
  for (let i = 0; i < a.length; i += RUN) {
    const part = a.slice(i, i + RUN).sort(cmp);
    for (let j = 0; j < part.length; j++) a[i + j] = part[j]!;
    if (sl.due()) await sl.pause();
  }
  let src = a;
  let dst: T[] = new Array<T>(a.length);
  for (let width = RUN; width < a.length; width *= 2) {
    for (let lo = 0; lo < a.length; lo += 2 * width) {
      const mid = Math.min(lo + width, a.length),
        hi = Math.min(lo + 2 * width, a.length);
      let i = lo,
        j = mid,
        k = lo;
      while (k < hi) {
        dst[k++] = i < mid && (j >= hi || cmp(src[i]!, src[j]!) <= 0) ? src[i++]! : src[j++]!;
        if ((k & 1023) === 0 && sl.due()) await sl.pause();
      }
    }
    [src, dst] = [dst, src];
  }
  return src;
}

/** The router of compiled routes, sorted and indexed in slices (`compileRoute` makes them). */
export async function buildRouter(routes: StreamRoute[], sl: Slices, options: RouterOptions = {}): Promise<Router> {
  const sorted = await sortSliced(routes, byPriority, sl);
  const idx = emptyIndexes();
  for (let i = 0; i < sorted.length; i++) {
    const r = sorted[i]!;
    indexRoute(idx.tcp, r, 'tcp');
    indexRoute(idx.tls, r, 'tls');
    indexRoute(idx.udp, r, 'udp');
    if ((i & 63) === 0 && sl.due()) await sl.pause();
  }
  return new StreamRouter(sorted, idx, options);
}

/**
 * Compiles the routes of a configuration. Routes whose service is disabled are left out, as are routes with no
 * stream protocol (HTTP routes are not served here). A route without a service is kept: the data path closes it.
 */
export function compileRouter(
  routes: RouteEntity[],
  services: ReadonlyMap<string, CompiledService>,
  options: RouterOptions = {},
): Router {
  const out: StreamRoute[] = [];
  for (const e of routes) {
    const r = compileRoute(e, services);
    if (r) out.push(r);
  }
  out.sort(byPriority);
  const idx = emptyIndexes();
  for (const r of out) {
    indexRoute(idx.tcp, r, 'tcp');
    indexRoute(idx.tls, r, 'tls');
    indexRoute(idx.udp, r, 'udp');
  }
  return new StreamRouter(out, idx, options);
}

/** One route, compiled; undefined when it is not served (its service disabled, or no stream protocol). */
export function compileRoute(e: RouteEntity, services: ReadonlyMap<string, CompiledService>): StreamRoute | undefined {
  const service = e.service ? services.get(e.service) : undefined;
  if (service && !service.entity.enabled) return undefined;
  const m = compileMatch(e);
  if (!m) return undefined;
  return Object.freeze({
    id: e.id,
    name: e.name,
    entity: e,
    service,
    priority: priorityOf(m),
    ...m,
    idKey: e.id.toLowerCase(),
    tlsChain: e.protocols.includes('tls_passthrough') ? 'tls_passthrough' : 'tls',
  });
}
