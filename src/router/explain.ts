/**
 * `route explain`: which route takes a connection and why, and for every other route why it did not. The winner
 * always comes from the real compiled router (`router.match`); the misses come from the router's own matcher
 * (`firstMismatch` over the table of match fields, match-fields.ts), so the explanation cannot drift from what the
 * proxy does. This module only words and orders them.
 */
import type { DeclarativeConfig } from '../config/types.js';
import {
  compileRouter,
  compileService,
  exactSni,
  routedPort,
  type RouterOptions,
  type StreamRoute,
} from './compile.js';
import type { ConnAddrs } from './match.js';
import { MATCH_FIELDS, firstMismatch, priorityText, unservedBy, type MatchFieldName } from './match-fields.js';
import type { CompiledService, ConnInfo, Router } from './types.js';

export { priorityText } from './match-fields.js';

export type ExplainField = MatchFieldName | 'service';

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

/**
 * Every field that misses, in the matcher's order: the first is the one `router.match` stopped at, the rest are
 * found by asking the same matcher on from the field after each miss.
 */
function mismatches(r: StreamRoute, conn: ConnInfo, addrs: ConnAddrs, port: number): RouteVerdict['mismatches'] {
  const out: RouteVerdict['mismatches'] = [];
  for (let i = firstMismatch(r, conn, addrs, port, 0); i >= 0; i = firstMismatch(r, conn, addrs, port, i + 1)) {
    const f = MATCH_FIELDS[i]!;
    out.push({ field: f.name, reason: f.why(r, conn, port) });
  }
  return out;
}

function routeLabel(r: { id: string; name?: string }): string {
  return `'${r.name ?? r.id}'`;
}

/** Explains one connection against an already compiled context. */
export function explainWith(ctx: ExplainContext, conn: ConnInfo): Explanation {
  const won = ctx.router.match(conn) as StreamRoute | undefined;
  const compiled = new Map<string, StreamRoute>();
  for (const r of ctx.router.routes as readonly StreamRoute[]) compiled.set(r.id, r);
  const svcName = (id: string | null | undefined) => (id ? (ctx.services.get(id)?.name ?? id) : undefined);
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
      // the router left it out: its service is disabled, or a match field makes it a route kong-ts does not serve
      const f = s && !s.entity.enabled ? undefined : unservedBy(e);
      if (f) v.mismatches.push({ field: f.name, reason: f.unserved!(e) });
      else v.mismatches.push({ field: 'service', reason: `service '${svc}' is disabled` });
      others.push(v);
      continue;
    }
    v.priority = r.priority;
    v.priority_text = priorityText(r);
    v.mismatches = mismatches(r, conn, addrs, port);
    v.matched = v.mismatches.length === 0;
    if (won && r.id === won.id) {
      v.note = r.service
        ? 'matched with the highest priority'
        : 'matched, but has no service: the connection is closed';
      winner = v;
    } else {
      if (v.matched && won) v.note = lostBecause(r, won, conn, exactFirst);
      others.push(v);
    }
  }
  others.sort(
    (a, b) =>
      Number(b.matched) - Number(a.matched) ||
      a.mismatches.length - b.mismatches.length ||
      (b.priority ?? -1) - (a.priority ?? -1) ||
      (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
  return winner ? { conn, winner, others } : { conn, others };
}

function lostBecause(r: StreamRoute, won: StreamRoute, conn: ConnInfo, exactFirst: boolean): string {
  if (r.priority < won.priority)
    return `matched, but with a lower priority: ${r.priority} < ${won.priority} of route ${routeLabel(won)}`;
  const we = exactSni(won, conn),
    re = exactSni(r, conn);
  if (exactFirst && we && !re)
    return `matched with the same priority ${r.priority}, but route ${routeLabel(won)} matched the SNI exactly (this one by wildcard; router_exact_sni_first)`;
  return `matched with the same priority ${r.priority}; the tie goes to the larger id (as Kong): ${won.id} > ${r.id}`;
}
