/**
 * Witness connections for `config lint`: for one route and the routes that may compete with it, a finite set of
 * connections that holds one connection of every region the routes' values cut the connection space into
 * (protocol × destination address × destination port × source address × source port × SNI). Which route takes a
 * witness is then asked of the compiled router itself (`router.match`, `matchRoute`): lint never decides a match
 * or a priority on its own.
 *
 * Why the set is complete: along an address axis the regions of a set of nets start either at the axis' first
 * address or just after a net ends, or at a net's first address; along a port axis each named port is a region
 * and every other port is one more; SNI regions are each exact name, a fresh label under each `*.suffix`, a fresh
 * last label after each `prefix.*`, and names that a prefix and a suffix share.
 */
import type { StreamRoute } from '../router/compile.js';
import type { IpPortMatcher, SniMatcher } from '../router/match.js';
import { matchSni, sniMatchKind } from '../router/match.js';
import { netContains, type Addr, type Net } from '../router/ip.js';
import type { ConnInfo } from '../router/types.js';

export type Proto = ConnInfo['protocol'];

const PROBE = 'x-lint-probe';

/** True when two nets share an address (nets are nested or disjoint). */
export function netsOverlap(a: Net, b: Net): boolean {
  return a.bits <= b.bits ? netContains(a, b) : netContains(b, a);
}

function entriesOverlap(a: IpPortMatcher, b: IpPortMatcher): boolean {
  if (a.port !== undefined && b.port !== undefined && a.port !== b.port) return false;
  return !a.net || !b.net || netsOverlap(a.net, b.net);
}

function sidesOverlap(a: readonly IpPortMatcher[] | undefined, b: readonly IpPortMatcher[] | undefined): boolean {
  if (!a || !b) return true;
  for (const x of a) for (const y of b) if (entriesOverlap(x, y)) return true;
  return false;
}

/** SNI names that stand for every SNI region of the given matchers (undefined: a connection without SNI). */
export function sniCandidates(ms: readonly (SniMatcher | undefined)[]): (string | undefined)[] {
  const out = new Set<string | undefined>([undefined, `${PROBE}.invalid`]);
  const suffixes: string[] = [],
    prefixes: string[] = [];
  for (const m of ms) {
    if (!m) continue;
    for (const n of m.exact) out.add(n);
    suffixes.push(...m.suffixes);
    prefixes.push(...m.prefixes);
  }
  for (const s of suffixes) out.add(PROBE + s);
  for (const p of prefixes) {
    out.add(p + PROBE);
    for (const s of suffixes) out.add(p + s.slice(s.lastIndexOf('.') + 1));
  }
  return [...out];
}

/** A prefilter (never the verdict): false only when the two routes cannot both match one connection. */
export function mayOverlap(a: StreamRoute, b: StreamRoute, proto: Proto): boolean {
  if (!a[proto] || !b[proto]) return false;
  if (!sidesOverlap(a.destinations, b.destinations) || !sidesOverlap(a.sources, b.sources)) return false;
  if (proto !== 'tls' || !a.snis || !b.snis) return true;
  return snisOverlap(a.snis, b.snis) || snisOverlap(b.snis, a.snis);
}

/** True when a name `a` stands for (an exact name, a probe under a suffix, a probe after a prefix) is one `b` matches. */
function snisOverlap(a: SniMatcher, b: SniMatcher): boolean {
  for (const n of a.exact) if (sniMatchKind(b, n) !== 0) return true;
  for (const s of a.suffixes) {
    if (sniMatchKind(b, PROBE + s) !== 0) return true;
    for (const t of b.suffixes) if (t.endsWith(s) || s.endsWith(t)) return true;
    for (const p of b.prefixes)
      if (
        sniMatchKind(a, p + s.slice(s.lastIndexOf('.') + 1)) !== 0 &&
        sniMatchKind(b, p + s.slice(s.lastIndexOf('.') + 1)) !== 0
      )
        return true;
  }
  for (const p of a.prefixes) if (sniMatchKind(b, p + PROBE) !== 0) return true;
  return false;
}

// ---- addresses as four 32-bit words ----

function addrOf(n: Addr): Addr {
  return { v6: n.v6, w0: n.w0, w1: n.w1, w2: n.w2, w3: n.w3 };
}

/** The address after a net's last one, or undefined at the end of the family's space. */
function after(n: Net): Addr | undefined {
  const w = [(n.w0 | ~n.m0) >>> 0, (n.w1 | ~n.m1) >>> 0, (n.w2 | ~n.m2) >>> 0, (n.w3 | ~n.m3) >>> 0];
  if (!n.v6) w[0] = w[1] = w[2] = 0;
  for (let i = 3; i >= (n.v6 ? 0 : 3); i--) {
    if (w[i] !== 0xffffffff) {
      w[i] = (w[i]! + 1) >>> 0;
      return { v6: n.v6, w0: w[0]!, w1: w[1]!, w2: w[2]!, w3: w[3]! };
    }
    w[i] = 0;
  }
  return undefined;
}

export function addrText(a: Addr): string {
  if (!a.v6) return `${a.w3 >>> 24}.${(a.w3 >>> 16) & 255}.${(a.w3 >>> 8) & 255}.${a.w3 & 255}`;
  const g: string[] = [];
  for (const w of [a.w0, a.w1, a.w2, a.w3]) g.push((w >>> 16).toString(16), (w & 0xffff).toString(16));
  return g.join(':');
}

const V4_ZERO: Addr = { v6: false, w0: 0, w1: 0, w2: 0, w3: 0 };
const V6_ZERO: Addr = { v6: true, w0: 0, w1: 0, w2: 0, w3: 0 };

/**
 * One address of every region the nets cut the address space into (both families), kept to those the route's
 * own side could match (a side without an address entry takes them all).
 */
function addrCandidates(nets: readonly Net[], own: readonly IpPortMatcher[] | undefined): string[] {
  const mine = own && own.every((e) => e.net) ? own.map((e) => e.net!) : undefined;
  const out = new Map<string, Addr>();
  const add = (a: Addr | undefined) => {
    if (a && (!mine || mine.some((n) => netContains(n, a)))) {
      const t = addrText(a);
      if (!out.has(t)) out.set(t, a);
    }
  };
  add(V4_ZERO);
  add(V6_ZERO);
  for (const n of nets) {
    if (mine && !mine.some((m) => netsOverlap(m, n))) continue;
    add(addrOf(n));
    add(after(n));
  }
  return [...out.keys()];
}

function portCandidates(ports: ReadonlySet<number>, own: readonly IpPortMatcher[] | undefined): number[] {
  if (own && own.every((e) => e.port !== undefined)) return [...new Set(own.map((e) => e.port!))];
  let free = 1;
  while (ports.has(free)) free++;
  return [...ports, free];
}

interface SideValues {
  nets: Net[];
  ports: Set<number>;
}

function sideValues(routes: readonly StreamRoute[], side: 'sources' | 'destinations'): SideValues {
  const v: SideValues = { nets: [], ports: new Set() };
  for (const r of routes) {
    for (const e of r[side] ?? []) {
      if (e.net) v.nets.push(e.net);
      if (e.port !== undefined) v.ports.add(e.port);
    }
  }
  return v;
}

/**
 * Every witness connection of `route` on `proto` against `rivals` (the route itself included), or undefined
 * when there would be more than `cap`. Only connections the route itself matches are kept by the caller.
 */
export function witnesses(
  route: StreamRoute,
  rivals: readonly StreamRoute[],
  proto: Proto,
  cap: number,
): Iterable<ConnInfo> | undefined {
  const all = [route, ...rivals];
  const dst = sideValues(all, 'destinations'),
    src = sideValues(all, 'sources');
  const dIps = addrCandidates(dst.nets, route.destinations),
    dPorts = portCandidates(dst.ports, route.destinations);
  const sIps = addrCandidates(src.nets, route.sources),
    sPorts = portCandidates(src.ports, route.sources);
  const own = route.snis;
  const probe: ConnInfo = { protocol: 'tls', srcIp: '0.0.0.0', srcPort: 1, dstIp: '0.0.0.0', dstPort: 1 };
  const snis =
    proto !== 'tls'
      ? [undefined]
      : sniCandidates(all.map((r) => r.snis)).filter((sni) => {
          if (!own) return true;
          if (sni === undefined) return false;
          probe.sni = sni;
          return matchSni(own, probe);
        });
  const total = dIps.length * dPorts.length * sIps.length * sPorts.length * snis.length;
  if (total > cap) return undefined;
  return product(proto, dIps, dPorts, sIps, sPorts, snis);
}

/** The witnesses one at a time (a caller that has its answer stops early). */
function* product(
  proto: Proto,
  dIps: string[],
  dPorts: number[],
  sIps: string[],
  sPorts: number[],
  snis: (string | undefined)[],
): Generator<ConnInfo> {
  for (const dstIp of dIps)
    for (const dstPort of dPorts)
      for (const srcIp of sIps)
        for (const srcPort of sPorts) {
          for (const sni of snis) {
            const c: ConnInfo = { protocol: proto, srcIp, srcPort, dstIp, dstPort };
            if (sni !== undefined) c.sni = sni;
            yield c;
          }
        }
}

// ---- escape points: where a route matches and none of its rivals does (for routes with too many witnesses) ----

/** An address inside `within` (or anywhere in the family) covered by none of the nets, or undefined. */
function gap(within: Net | undefined, v6: boolean, nets: readonly Net[]): Addr | undefined {
  let at: Addr | undefined = within ? addrOf(within) : v6 ? V6_ZERO : V4_ZERO;
  // step past the nets that hold `at`, each step to the address after one of them; nets are nested or disjoint
  for (let steps = 0; at && steps <= nets.length; steps++) {
    if (within && !netContains(within, at)) return undefined;
    let holder: Net | undefined;
    for (const n of nets) {
      if (n.v6 === v6 && netContains(n, at) && (!holder || n.bits < holder.bits)) holder = n;
    }
    if (!holder) return at;
    at = after(holder);
  }
  return undefined;
}

/**
 * A source (or destination) the route's side matches and no rival's side does, or undefined. A rival with no
 * entry on this side matches every value of it: then there is none.
 */
export function sideEscape(
  own: readonly IpPortMatcher[] | undefined,
  others: readonly (readonly IpPortMatcher[] | undefined)[],
): { ip: string; port: number } | undefined {
  if (others.some((o) => !o)) return undefined;
  const named = new Set<number>();
  for (const o of others) for (const e of o!) if (e.port !== undefined) named.add(e.port);
  for (const e of own ?? [{}]) {
    let port = e.port;
    if (port === undefined) {
      port = 1;
      while (named.has(port)) port++;
    }
    const blockers = others.flatMap((o) => o!.filter((x) => x.port === undefined || x.port === port));
    if (blockers.some((b) => !b.net)) continue;
    const nets = blockers.map((b) => b.net!);
    for (const v6 of e.net ? [e.net.v6] : [false, true]) {
      const a = gap(e.net, v6, nets);
      if (a) return { ip: addrText(a), port };
    }
  }
  return undefined;
}

/** Some value of one side the route matches (its first entry). */
function anyValue(own: readonly IpPortMatcher[] | undefined): { ip: string; port: number } {
  const e = own?.[0];
  return { ip: e?.net ? addrText(e.net) : '0.0.0.0', port: e?.port ?? 1 };
}

/**
 * A connection only `route` matches among itself and `rivals`, found on one side alone (sources, destinations,
 * or SNI), or undefined. Not complete (an escape that needs two sides at once is not found): a caller that gets
 * undefined knows nothing.
 */
export function escapeConn(route: StreamRoute, rivals: readonly StreamRoute[], proto: Proto): ConnInfo | undefined {
  const src = anyValue(route.sources),
    dst = anyValue(route.destinations);
  let sni: string | undefined;
  if (proto === 'tls' && route.snis) {
    const m = route.snis;
    sni = m.exact.size ? [...m.exact][0] : m.suffixes.length ? PROBE + m.suffixes[0] : m.prefixes[0] + PROBE;
  }
  const make = (s: { ip: string; port: number }, d: { ip: string; port: number }, n: string | undefined): ConnInfo => {
    const c: ConnInfo = { protocol: proto, srcIp: s.ip, srcPort: s.port, dstIp: d.ip, dstPort: d.port };
    if (n !== undefined) c.sni = n;
    return c;
  };
  const s = sideEscape(
    route.sources,
    rivals.map((r) => r.sources),
  );
  if (s) return make(s, dst, sni);
  const d = sideEscape(
    route.destinations,
    rivals.map((r) => r.destinations),
  );
  if (d) return make(src, d, sni);
  if (proto !== 'tls' || rivals.some((r) => !r.snis)) return undefined;
  const probe: ConnInfo = make(src, dst, undefined);
  for (const name of sniCandidates([route.snis, ...rivals.map((r) => r.snis)])) {
    if (name === undefined) delete probe.sni;
    else probe.sni = name;
    if (matchSni(route.snis, probe) && !rivals.some((r) => matchSni(r.snis, probe))) return probe;
  }
  return undefined;
}
