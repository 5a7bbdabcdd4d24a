/**
 * Route rules of `config lint`: routes that can never win (`route-shadowed`), ties only ids decide (`route-tie`),
 * overlapping CIDRs of different services at equal priority (`route-cidr-overlap`).
 *
 * Every verdict comes from the compiled router: the witness connections of a route (lint-witness.ts) are routed
 * with `router.match`, a route's own match is `matchRoute`, priorities are the router's `priority` numbers, and
 * whether a tie is decided by ids is found by routing the witness through a router of the two routes with their
 * ids swapped. So lint follows the router whatever its priority and tie rules become.
 */
import { compileRouter, matchRoute, type StreamRoute } from '../router/compile.js';
import type { ConnAddrs } from '../router/match.js';
import type { ConnInfo } from '../router/types.js';
import { hostPort } from '../net/address.js';
import { labelOf, type LintContext } from './lint-types.js';
import { escapeConn, mayOverlap, netsOverlap, witnesses, type Proto } from './lint-witness.js';

const PROTOS: readonly Proto[] = ['tcp', 'tls', 'udp'];
/** a tie of one pair is tried on at most this many witnesses */
const TIE_TRIES = 8;

interface RouteState {
  matched: boolean;
  won: boolean;
  unchecked: boolean;
  /** routes that took its witnesses, by id */
  takenBy: Map<string, StreamRoute>;
}

/** `tcp 10.0.0.1:1 → 10.0.0.2:6379` or `tls … sni a.example.com` */
export function connText(c: ConnInfo): string {
  return `${c.protocol} ${hostPort(c.srcIp, c.srcPort)} → ${hostPort(c.dstIp, c.dstPort)}${c.sni !== undefined ? ` sni ${c.sni}` : c.protocol === 'tls' ? ' (no sni)' : ''}`;
}

function ref(r: StreamRoute): { type: 'routes'; id: string; name?: string } {
  return r.name === undefined ? { type: 'routes', id: r.id } : { type: 'routes', id: r.id, name: r.name };
}

/** `.example.com`, `.com` for `a.example.com` or `.a.example.com` (the suffixes strictly above it). */
function ancestors(x: string): string[] {
  const out: string[] = [];
  for (let i = x.indexOf('.', x.startsWith('.') ? 1 : 0); i >= 0; i = x.indexOf('.', i + 1)) out.push(x.slice(i));
  return out;
}

/** Whether the route's SNIs are all exact names or `*.suffix` wildcards (then the SNI index finds its rivals). */
function indexable(r: StreamRoute): boolean {
  return !!r.snis && r.snis.prefixes.length === 0;
}

function portsOf(r: StreamRoute): number[] | undefined {
  return r.destinations && r.destinations.every((d) => d.port !== undefined)
    ? [...new Set(r.destinations.map((d) => d.port!))]
    : undefined;
}

/** Routes of one protocol, bucketed the way the router's index is, so rivals are found without a full scan. */
class Pools {
  readonly byPort = new Map<number, StreamRoute[]>();
  readonly anyPort: StreamRoute[] = [];
  /** exact SNI name → routes naming it */
  readonly exact = new Map<string, StreamRoute[]>();
  /** `.suffix` → routes with the wildcard `*.suffix` */
  readonly star = new Map<string, StreamRoute[]>();
  /** `.suffix` → routes with a name or wildcard under it */
  readonly under = new Map<string, StreamRoute[]>();
  /** tls routes without SNIs or with `prefix.*` ones: rivals of every tls route */
  readonly openSni: StreamRoute[] = [];

  constructor(
    readonly all: readonly StreamRoute[],
    proto: Proto,
  ) {
    const push = <K>(m: Map<K, StreamRoute[]>, k: K, r: StreamRoute) => {
      const l = m.get(k);
      if (l) l.push(r);
      else m.set(k, [r]);
    };
    for (const r of all) {
      const ports = portsOf(r);
      if (ports) for (const p of ports) push(this.byPort, p, r);
      else this.anyPort.push(r);
      if (proto !== 'tls') continue;
      if (!indexable(r)) {
        this.openSni.push(r);
        continue;
      }
      for (const n of r.snis!.exact) {
        push(this.exact, n, r);
        for (const a of ancestors(n)) push(this.under, a, r);
      }
      for (const s of r.snis!.suffixes) {
        push(this.star, s, r);
        push(this.under, s, r);
        for (const a of ancestors(s)) push(this.under, a, r);
      }
    }
  }

  /** The routes that could share a connection with `r` by destination port or exact SNI (the smaller set). */
  near(r: StreamRoute, proto: Proto): Iterable<StreamRoute> {
    const ports = portsOf(r);
    let best: StreamRoute[] | readonly StreamRoute[] = this.all;
    if (ports) {
      const set = new Set<StreamRoute>(this.anyPort);
      for (const p of ports) for (const x of this.byPort.get(p) ?? []) set.add(x);
      if (set.size < best.length) best = [...set];
    }
    if (proto === 'tls' && indexable(r)) {
      const set = new Set<StreamRoute>(this.openSni);
      const add = (l: StreamRoute[] | undefined) => {
        for (const x of l ?? []) set.add(x);
      };
      for (const n of r.snis!.exact) {
        add(this.exact.get(n));
        for (const a of ancestors(n)) add(this.star.get(a));
      }
      for (const s of r.snis!.suffixes) {
        add(this.under.get(s));
        for (const a of ancestors(s)) add(this.star.get(a));
      }
      if (set.size < best.length) best = [...set];
    }
    return best;
  }
}

export function lintRoutes(ctx: LintContext): void {
  const routes = ctx.router.routes as readonly StreamRoute[];
  const state = new Map<string, RouteState>();
  for (const r of routes) state.set(r.id, { matched: false, won: false, unchecked: false, takenBy: new Map() });
  const ties = new Map<string, boolean>();
  const tieTries = new Map<string, number>();
  const overlaps = new Set<string>();

  for (const proto of PROTOS) {
    const pools = new Pools(
      routes.filter((r) => r[proto]),
      proto,
    );
    for (const r of pools.all) {
      const st = state.get(r.id)!;
      const rivals: StreamRoute[] = [];
      for (const c of pools.near(r, proto)) if (c !== r && mayOverlap(r, c, proto)) rivals.push(c);
      const cidrRivals = rivals.filter(
        (c) =>
          c.priority === r.priority &&
          r.id < c.id &&
          (c.service?.id ?? '') !== (r.service?.id ?? '') &&
          !overlaps.has(`${r.id} ${c.id}`) &&
          cidrPair(r, c),
      );
      // a connection only this route matches: it can win (most routes do), and then only equal-priority rivals
      // (ties, CIDR overlaps) need the witnesses
      let equal = rivals.filter((c) => c.priority === r.priority);
      if (!st.won) {
        const esc = escapeConn(r, rivals, proto);
        if (esc && matchRoute(r, esc, { src: null, dst: null }) && ctx.router.match(esc)?.id === r.id)
          st.matched = st.won = true;
      }
      if (st.won && equal.length === 0) continue;
      const ws = witnesses(r, rivals, proto, ctx.opts.maxWitnesses);
      if (!ws) {
        pairwise(ctx, r, rivals, cidrRivals, proto, st, ties, tieTries, overlaps);
        continue;
      }
      let n = 0;
      for (const conn of ws) {
        // a pair whose tie is settled (found, or tried enough) and whose overlap is reported tells nothing more
        if (st.won && (n++ & 63) === 0)
          equal = equal.filter(
            (c) => !settled(r, c, ties, tieTries) || (cidrRivals.includes(c) && !overlaps.has(`${r.id} ${c.id}`)),
          );
        if (st.won && equal.length === 0) break;
        const addrs: ConnAddrs = { src: null, dst: null };
        if (!matchRoute(r, conn, addrs)) continue;
        st.matched = true;
        if (st.won && !equal.some((c) => matchRoute(c, conn, { src: null, dst: null }))) continue;
        const w = ctx.router.match(conn) as StreamRoute | undefined;
        if (!w || w.id === r.id) st.won = true;
        else {
          st.takenBy.set(w.id, w);
          if (w.priority === r.priority) tie(ctx, r, w, conn, ties, tieTries);
        }
        for (const c of cidrRivals) {
          const key = `${r.id} ${c.id}`;
          if (overlaps.has(key) || !matchRoute(c, conn, { src: null, dst: null })) continue;
          overlaps.add(key);
          reportOverlap(ctx, r, c, conn);
        }
      }
    }
  }
  for (const r of routes) {
    const st = state.get(r.id)!;
    if (st.unchecked && !st.won && st.takenBy.size === 0) {
      ctx.add(
        'route-not-checked',
        'routes',
        r.id,
        `route ${labelOf(r)} has more value combinations against the routes near it than lint checks at once (${ctx.opts.maxWitnesses}): no single route shadows it, but whether several together do was not checked (ties were, pair by pair)`,
      );
      continue;
    }
    if ((!st.matched && !st.unchecked) || st.won) continue;
    const by = [...st.takenBy.values()].sort((a, b) => b.priority - a.priority || (a.id < b.id ? -1 : 1));
    const why = by.map(
      (w) =>
        `${labelOf(w)} (${w.priority > r.priority ? `priority ${w.priority} > ${r.priority}` : `same priority ${w.priority}, wins the tie`})`,
    );
    ctx.add(
      'route-shadowed',
      'routes',
      r.id,
      `route ${labelOf(r)} can never win: every connection it matches goes to route${by.length > 1 ? 's' : ''} ${why.join(', ')}`,
      by.map(ref),
    );
  }
}

/**
 * For a route with too many witnesses against all its rivals at once: a connection only it matches (then it can
 * win), and ties and CIDR overlaps pair by pair (a pair's witnesses are few), each still routed by the router.
 */
function pairwise(
  ctx: LintContext,
  r: StreamRoute,
  rivals: readonly StreamRoute[],
  cidrRivals: readonly StreamRoute[],
  proto: Proto,
  st: RouteState,
  ties: Map<string, boolean>,
  tries: Map<string, number>,
  overlaps: Set<string>,
): void {
  if (!st.won) st.unchecked = true;
  for (const c of rivals) {
    if (!st.won && c.priority >= r.priority && covers(ctx, r, c, proto)) st.takenBy.set(c.id, c);
    if (c.priority !== r.priority) continue;
    const ws = witnesses(r, [c], proto, ctx.opts.maxWitnesses) ?? [];
    for (const conn of ws) {
      if (!matchRoute(r, conn, { src: null, dst: null }) || !matchRoute(c, conn, { src: null, dst: null })) continue;
      const w = ctx.router.match(conn);
      if (w?.id === c.id) tie(ctx, r, c, conn, ties, tries);
      if (cidrRivals.includes(c) && !overlaps.has(`${r.id} ${c.id}`)) {
        overlaps.add(`${r.id} ${c.id}`);
        reportOverlap(ctx, r, c, conn);
      }
    }
  }
}

/**
 * Whether rival `c` alone takes every connection `r` matches: on every witness of the pair, `c` matches too and a
 * router of the two picks `c`. Exact without the other routes, as they can only take connections from `r`.
 */
function covers(ctx: LintContext, r: StreamRoute, c: StreamRoute, proto: Proto): boolean {
  const ws = witnesses(r, [c], proto, ctx.opts.maxWitnesses);
  if (!ws) return false;
  const pair = compileRouter([r.entity, c.entity], ctx.services);
  let any = false;
  for (const conn of ws) {
    if (!matchRoute(r, conn, { src: null, dst: null })) continue;
    any = true;
    if (!matchRoute(c, conn, { src: null, dst: null }) || pair.match(conn)?.id !== c.id) return false;
  }
  return any;
}

function pairKey(a: StreamRoute, b: StreamRoute): string {
  return a.id < b.id ? `${a.id} ${b.id}` : `${b.id} ${a.id}`;
}

/** The pair's tie was found, or tried on enough witnesses. */
function settled(a: StreamRoute, b: StreamRoute, ties: Map<string, boolean>, tries: Map<string, number>): boolean {
  const k = pairKey(a, b);
  return ties.get(k) === true || (tries.get(k) ?? 0) >= TIE_TRIES;
}

/** Whether only the ids decide between loser `r` and winner `w` on `conn`: swap their ids and route again. */
function tie(
  ctx: LintContext,
  r: StreamRoute,
  w: StreamRoute,
  conn: ConnInfo,
  ties: Map<string, boolean>,
  tries: Map<string, number>,
): void {
  const key = pairKey(r, w);
  if (ties.get(key)) return;
  const n = tries.get(key) ?? 0;
  if (n >= TIE_TRIES) return;
  tries.set(key, n + 1);
  const re = { ...r.entity, id: w.id },
    we = { ...w.entity, id: r.id };
  const swapped = compileRouter([re, we], ctx.services).match(conn);
  if (!swapped || swapped.entity !== re) return;
  ties.set(key, true);
  ctx.add(
    'route-tie',
    'routes',
    r.id,
    `routes ${labelOf(r)} and ${labelOf(w)} both match connections such as ${connText(conn)} with the same priority ${r.priority}; ` +
      `${labelOf(w)} wins only because its id sorts first. Make one of them more specific, or remove one`,
    [ref(w)],
  );
}

/** The first pair of overlapping CIDR entries of the two routes (sources with sources, destinations with destinations). */
function cidrPair(
  a: StreamRoute,
  b: StreamRoute,
): { side: 'sources' | 'destinations'; a: string; b: string } | undefined {
  for (const side of ['sources', 'destinations'] as const) {
    const x = a[side],
      y = b[side];
    if (!x || !y) continue;
    for (let i = 0; i < x.length; i++) {
      for (let j = 0; j < y.length; j++) {
        const n = x[i]!.net,
          m = y[j]!.net;
        if (!n || !m || !(n.cidr || m.cidr) || !netsOverlap(n, m)) continue;
        return { side, a: a.entity[side]![i]!.ip!, b: b.entity[side]![j]!.ip! };
      }
    }
  }
  return undefined;
}

function reportOverlap(ctx: LintContext, r: StreamRoute, c: StreamRoute, conn: ConnInfo): void {
  const p = cidrPair(r, c)!;
  const svc = (x: StreamRoute) => (x.service ? labelOf(x.service) : 'no service');
  ctx.add(
    'route-cidr-overlap',
    'routes',
    r.id,
    `${p.side} ${p.a} of route ${labelOf(r)} (service ${svc(r)}) overlaps ${p.b} of route ${labelOf(c)} (service ${svc(c)}) ` +
      `at the same priority ${r.priority}; connections such as ${connText(conn)} match both`,
    [ref(c)],
  );
}
