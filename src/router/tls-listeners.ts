/**
 * Which plain (non-`ssl`) TCP listeners must look for a TLS ClientHello before routing (`stream_tls_detect = auto`,
 * the behaviour of Kong 1.x's stream mode): those where a `tls` or `tls_passthrough` route could take a connection,
 * because its destinations allow the listener's address and port, or it has none. Decided once per snapshot, so
 * the accept path asks one Set and never scans routes; listeners no TLS route can reach never wait for the client.
 */
import type { CompiledRoute, Router } from './types.js';
import type { Slices, StreamRoute } from './compile.js';
import type { IpPortMatcher } from './match.js';
import { netContains, parseAddr, type Addr } from './ip.js';

/** What is needed of a `stream_listen` entry. */
export interface ListenerAddress {
  readonly host: string;
  readonly port: number;
  readonly ssl: boolean;
  readonly udp: boolean;
  /** the entry as written, for messages */
  readonly text: string;
}

/** A plain TCP listener where TLS routes apply. */
export interface TlsListener {
  readonly listener: ListenerAddress;
  /** the tls / tls_passthrough routes that could take a connection arriving there */
  readonly routes: readonly CompiledRoute[];
  /** those of `routes` without destinations (they apply on every listener) */
  readonly open: readonly CompiledRoute[];
  /** whether a tcp route could take a plain connection there too (then waiting delays it) */
  readonly tcp: boolean;
}

function isStreamRoute(r: CompiledRoute): r is StreamRoute {
  return typeof (r as StreamRoute).tls === 'boolean';
}

/** undefined for a wildcard (or a host name): any local address may be a connection's destination */
function listenerAddr(host: string): Addr | undefined {
  if (host === '0.0.0.0' || host === '::' || host === '::0') return undefined;
  return parseAddr(host);
}

/** Whether a destination side could match connections arriving on a listener at `addr` (undefined: any) and `port`. */
function sideAllows(side: readonly IpPortMatcher[] | undefined, addr: Addr | undefined, port: number): boolean {
  if (!side) return true;
  // port 0: the system picks the port when listening, after the snapshot is built; any port entry may match it
  return side.some(
    (e) =>
      (e.port === undefined || port === 0 || e.port === port) &&
      (e.net === undefined || addr === undefined || netContains(e.net, addr)),
  );
}

/** Works out `tlsListeners` one route at a time (so a build can cut it in slices). */
class TlsListenerScan {
  readonly #found: { l: ListenerAddress; addr: Addr | undefined; tls: StreamRoute[]; tcp: boolean }[] = [];
  constructor(listeners: readonly ListenerAddress[]) {
    for (const l of listeners) {
      if (!l.ssl && !l.udp) this.#found.push({ l, addr: listenerAddr(l.host), tls: [], tcp: false });
    }
  }
  add(r: CompiledRoute): void {
    if (!isStreamRoute(r)) return;
    for (const f of this.#found) {
      if (!sideAllows(r.destinations, f.addr, f.l.port)) continue;
      if (r.tls) f.tls.push(r);
      if (r.tcp) f.tcp = true;
    }
  }
  result(): TlsListener[] {
    return this.#found
      .filter((f) => f.tls.length > 0)
      .map((f) => ({ listener: f.l, routes: f.tls, open: f.tls.filter((r) => !r.destinations), tcp: f.tcp }));
  }
}

/** For every plain TCP listener where at least one TLS route applies, the routes that do. */
export function tlsListeners(router: Router, listeners: readonly ListenerAddress[]): TlsListener[] {
  const scan = new TlsListenerScan(listeners);
  for (const r of router.routes) scan.add(r);
  return scan.result();
}

/** `tlsListeners`, pausing when the slice is due (a snapshot build on the main thread). */
export async function tlsListenersSliced(
  router: Router,
  listeners: readonly ListenerAddress[],
  sl: Slices,
): Promise<TlsListener[]> {
  const scan = new TlsListenerScan(listeners);
  for (const r of router.routes) {
    scan.add(r);
    if (sl.due()) await sl.pause();
  }
  return scan.result();
}

/** The plain listeners (the very objects given) that read a ClientHello before routing; empty with `off`. */
export function tlsDetectSet(
  router: Router,
  listeners: readonly ListenerAddress[],
  mode: 'auto' | 'off',
): ReadonlySet<ListenerAddress> {
  return detectingListeners(mode === 'off' ? [] : tlsListeners(router, listeners), mode);
}

/** `tlsDetectSet` from listeners already found (a snapshot build finds them in slices). */
export function detectingListeners(found: readonly TlsListener[], mode: 'auto' | 'off'): ReadonlySet<ListenerAddress> {
  return new Set(mode === 'off' ? [] : found.map((t) => t.listener));
}
