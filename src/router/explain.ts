/**
 * `route explain`: which route takes a connection and why, and for every other route why it did not. The winner
 * always comes from the real compiled router (`router.match`); the reasons come from the same per-side matchers
 * the router uses, so the explanation cannot drift from what the proxy does.
 */
import type { DeclarativeConfig, RouteEntity } from '../config/types.js';
import { compileRouter, compileService, matchRoute, routedPort, type RouterOptions, type StreamRoute } from './compile.js';
import { dstAddr, matchSide, matchSni, sideWeight, sniMatchKind, srcAddr, type ConnAddrs, type SniMatcher } from './match.js';
import type { CompiledService, ConnInfo, Router } from './types.js';

export type ExplainField = 'protocols' | 'sources' | 'destinations' | 'snis' | 'service';

export interface RouteVerdict {
  id: string;
  name?: string;
  /** the service's name (or id); absent when the route has none */
  service?: string;
  /** undefined for routes the router never sees (disabled service, HTTP-only) */
  priority?: number;
  /** how the priority adds up, e.g. `256 (snis) + 16 (sources: 1×16) + 4 (destinations)` */
  priority_text?: string;
  matched: boolean;
  /** one entry per field that did not match */
  mismatches: { field: ExplainField; reason: string }[];
  /** the winner's or a matching loser's story */
  note?: string;
}

export interface Explanation {
  conn: ConnInfo;
  winner?: RouteVerdict;
  /** every other route: matching ones first (best first), then by fewest mismatches, priority, id */
  others: RouteVerdict[];
}

/** The router and services of a config, compiled once (explain many connections against one build). */
export interface ExplainContext {
  config: DeclarativeConfig;
  router: Router;
  services: ReadonlyMap<string, CompiledService>;
  /** the router's settings (port_maps, router_exact_sni_first) */
  options?: RouterOptions;
}

export function explainContext(config: DeclarativeConfig, options: RouterOptions = {}): ExplainContext {
  const services = new Map<string, CompiledService>();
  for (const s of config.services) services.set(s.id, compileService(s));
  return { config, services, router: compileRouter(config.routes, services, options), options };
}

/** Explains which route of `config` takes `conn` (SNI lower-cased, as the data path gives it). */
export function explainRoute(config: DeclarativeConfig, conn: ConnInfo, options: RouterOptions = {}): Explanation {
  return explainWith(explainContext(config, options), conn);
}

function sideText(entities: RouteEntity['sources']): string {
  const list = (entities ?? []).map((p) => (p.port !== undefined && p.port !== null ? `${p.ip ? (p.ip.includes(':') ? `[${p.ip}]` : p.ip) : ''}:${p.port}` : p.ip ?? ''));
  return `[${list.join(', ')}]`;
}

function addr(ip: string, port: number): string {
  return `${ip.includes(':') ? `[${ip}]` : ip}:${port}`;
}

function sniList(m: SniMatcher): string {
  return [...m.exact, ...m.suffixes.map((s) => '*' + s), ...m.prefixes.map((p) => p + '*')].join(', ');
}

/** `256 (snis) + 16 (sources: 1×16) + 4 (destinations)`: Kong 3's priority in parts. */
export function priorityText(r: StreamRoute): string {
  const parts: string[] = [];
  if (r.snis || (r.sources && r.destinations)) parts.push(`256 (${r.snis ? 'snis' : 'sources and destinations'})`);
  const sw = sideWeight(r.sources), dw = sideWeight(r.destinations);
  if (sw) parts.push(`${sw * 16} (sources: ${sw}×16)`);
  if (dw) parts.push(`${dw} (destinations)`);
  return parts.length ? parts.join(' + ') : '0';
}

function mismatches(r: StreamRoute, conn: ConnInfo, addrs: ConnAddrs, port: number): RouteVerdict['mismatches'] {
  const out: RouteVerdict['mismatches'] = [];
  const e = r.entity;
  if (!r[conn.protocol]) out.push({ field: 'protocols', reason: `[${e.protocols.join(', ')}] does not serve ${conn.protocol} connections` });
  if (r.destinations && !matchSide(r.destinations, r.dstIp ? dstAddr(conn, addrs) : undefined, port)) {
    const mapped = port !== conn.dstPort ? ` (port_maps: listener port ${conn.dstPort} is host port ${port})` : '';
    out.push({ field: 'destinations', reason: `no entry of ${sideText(e.destinations)} matched ${addr(conn.dstIp, port)}${mapped}` });
  }
  if (r.sources && !matchSide(r.sources, r.srcIp ? srcAddr(conn, addrs) : undefined, conn.srcPort)) {
    out.push({ field: 'sources', reason: `no entry of ${sideText(e.sources)} matched ${addr(conn.srcIp, conn.srcPort)}` });
  }
  if (!matchSni(r.snis, conn)) {
    out.push({ field: 'snis', reason: conn.sni === undefined
      ? `the connection sent no SNI; the route needs one of [${sniList(r.snis!)}]`
      : `'${conn.sni}' matched none of [${sniList(r.snis!)}]` });
  }
  return out;
}

function exactSni(r: StreamRoute, conn: ConnInfo): boolean {
  return conn.protocol === 'tls' && r.snis !== undefined && conn.sni !== undefined && sniMatchKind(r.snis, conn.sni) === 2;
}

function routeLabel(r: { id: string; name?: string }): string {
  return `'${r.name ?? r.id}'`;
}

/** Explains one connection against an already compiled context. */
export function explainWith(ctx: ExplainContext, conn: ConnInfo): Explanation {
  const won = ctx.router.match(conn) as StreamRoute | undefined;
  const compiled = new Map<string, StreamRoute>();
  for (const r of ctx.router.routes as readonly StreamRoute[]) compiled.set(r.id, r);
  const svcName = (id: string | null | undefined) => (id ? ctx.services.get(id)?.name ?? id : undefined);
  let winner: RouteVerdict | undefined;
  const others: RouteVerdict[] = [];
  const addrs: ConnAddrs = { src: null, dst: null };
  const port = routedPort(conn, ctx.options);
  const exactFirst = ctx.options?.exactSniFirst === true;
  for (const e of ctx.config.routes) {
    const v: RouteVerdict = { id: e.id, matched: false, mismatches: [] };
    if (e.name !== undefined) v.name = e.name;
    const svc = svcName(e.service);
    if (svc !== undefined) v.service = svc;
    const r = compiled.get(e.id);
    if (!r) {
      const s = e.service ? ctx.services.get(e.service) : undefined;
      if (s && !s.entity.enabled) v.mismatches.push({ field: 'service', reason: `service '${svc}' is disabled` });
      else v.mismatches.push({ field: 'protocols', reason: `[${e.protocols.join(', ')}] are not served by kong-ts (no stream protocol)` });
      others.push(v);
      continue;
    }
    v.priority = r.priority;
    v.priority_text = priorityText(r);
    v.matched = matchRoute(r, conn, addrs, port);
    if (!v.matched) v.mismatches = mismatches(r, conn, addrs, port);
    if (won && r.id === won.id) {
      v.note = r.service ? 'matched with the highest priority' : 'matched, but has no service: the connection is closed';
      winner = v;
    } else {
      if (v.matched && won) v.note = lostBecause(r, won, conn, exactFirst);
      others.push(v);
    }
  }
  others.sort((a, b) => Number(b.matched) - Number(a.matched) || a.mismatches.length - b.mismatches.length
    || (b.priority ?? -1) - (a.priority ?? -1) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return winner ? { conn, winner, others } : { conn, others };
}

function lostBecause(r: StreamRoute, won: StreamRoute, conn: ConnInfo, exactFirst: boolean): string {
  if (r.priority < won.priority) return `matched, but with a lower priority: ${r.priority} < ${won.priority} of route ${routeLabel(won)}`;
  const we = exactSni(won, conn), re = exactSni(r, conn);
  if (exactFirst && we && !re) return `matched with the same priority ${r.priority}, but route ${routeLabel(won)} matched the SNI exactly (this one by wildcard; router_exact_sni_first)`;
  return `matched with the same priority ${r.priority}; the tie goes to the larger id (as Kong): ${won.id} > ${r.id}`;
}
