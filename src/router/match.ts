/**
 * The per-side match functions of a compiled stream route. They are pure (no state, no logging) so that the
 * router and a later `route explain` command can both ask "does this side match this connection?".
 */
import type { IpPort } from '../config/types.js';
import type { ConnInfo } from './types.js';
import { netContains, parseAddr, parseNet, type Addr, type Net } from './ip.js';

/** One `sources` / `destinations` entry, parsed: either part may be absent (but not both). */
export interface IpPortMatcher {
  readonly net?: Net;
  readonly port?: number;
}

/** A route's SNI list split into exact names, `*.suffix` suffixes (with the dot) and `prefix.` prefixes. */
export interface SniMatcher {
  readonly exact: ReadonlySet<string>;
  /** for `*.example.com`: `.example.com` (matches any deeper name) */
  readonly suffixes: readonly string[];
  /** for `example.*`: `example.` (matches any name it starts, `example.a.b` too, as Kong's prefix match) */
  readonly prefixes: readonly string[];
}

/** The address of a connection side, parsed lazily and at most once per match call. */
export interface ConnAddrs {
  src: Addr | undefined | null;
  dst: Addr | undefined | null;
}

export function compileIpPorts(entries: readonly IpPort[] | null | undefined): IpPortMatcher[] | undefined {
  if (!entries || entries.length === 0) return undefined;
  return entries.map((e) => {
    const net = e.ip === undefined || e.ip === null ? undefined : parseNet(e.ip);
    if (e.ip && !net) throw new Error(`invalid ip or cidr '${e.ip}'`);
    return { net, port: e.port ?? undefined };
  });
}

export function compileSnis(snis: readonly string[] | null | undefined): SniMatcher | undefined {
  if (!snis || snis.length === 0) return undefined;
  const exact = new Set<string>();
  const suffixes: string[] = [];
  const prefixes: string[] = [];
  for (const raw of snis) {
    let s = raw.toLowerCase();
    // Kong (transform.lua): `x.*` keeps its text up to the `*`; otherwise a last dot is not used for routing
    if (s.length > 1 && s.endsWith('*')) {
      prefixes.push(s.slice(0, -1));
      continue;
    }
    if (s.length > 1 && s.endsWith('.')) s = s.slice(0, -1);
    if (s.startsWith('*')) suffixes.push(s.slice(1));
    else exact.add(s);
  }
  return { exact, suffixes, prefixes };
}

/** Kong's side weight (transform.lua): the OR of every entry's bits, ip 8, port 4, cidr 1. */
export function sideWeight(side: readonly IpPortMatcher[] | undefined): number {
  if (!side) return 0;
  let bits = 0;
  for (const e of side) bits |= (e.net ? (e.net.cidr ? 1 : 8) : 0) | (e.port !== undefined ? 4 : 0);
  return bits;
}

/** True when any entry matches (ip or cidr, port, or both). An absent side matches everything. */
export function matchSide(side: readonly IpPortMatcher[] | undefined, addr: Addr | undefined, port: number): boolean {
  if (!side) return true;
  for (let i = 0; i < side.length; i++) {
    const e = side[i]!;
    if (e.port !== undefined && e.port !== port) continue;
    if (e.net !== undefined && (addr === undefined || !netContains(e.net, addr))) continue;
    return true;
  }
  return false;
}

/** 2 for an exact SNI match, 1 for a wildcard match (atc-router's ends-with / starts-with), 0 for none. */
export function sniMatchKind(m: SniMatcher, sni: string): 0 | 1 | 2 {
  if (m.exact.has(sni)) return 2;
  for (const s of m.suffixes) if (sni.endsWith(s)) return 1;
  for (const p of m.prefixes) if (sni.startsWith(p)) return 1;
  return 0;
}

/**
 * SNI is enforced on `tls` connections only; a route with snis never matches a TLS connection without SNI (Kong's
 * preread gives such a connection an empty `tls.sni`, which no route's SNI equals).
 */
export function matchSni(m: SniMatcher | undefined, conn: ConnInfo): boolean {
  if (!m || conn.protocol !== 'tls') return true;
  return conn.sni !== undefined && sniMatchKind(m, conn.sni) !== 0;
}

/** Parses the source address once per match call (null = not parsed yet). */
export function srcAddr(conn: ConnInfo, cache: ConnAddrs): Addr | undefined {
  if (cache.src === null) cache.src = parseAddr(conn.srcIp);
  return cache.src;
}

export function dstAddr(conn: ConnInfo, cache: ConnAddrs): Addr | undefined {
  if (cache.dst === null) cache.dst = parseAddr(conn.dstIp);
  return cache.dst;
}
