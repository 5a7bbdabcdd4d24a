/**
 * The one table of a route's match fields. Each field says, once: how the load pipeline normalizes it, what it
 * compiles to, how it matches a connection, what it weighs in Kong's priority, how explain words a miss, and how
 * diffs, the reload policy and `config diff`'s sentences compare and show it. The router, explain, the reload
 * policy (gitops/diff.ts), gitops/routing.ts, gitops/view.ts, admin/render.ts and config/normalize.ts all walk this
 * table, so a new match field is added here (plus the schema, config/types.ts and Kong's rules in check-route.ts).
 *
 * Pure: no state, no logging. `firstMismatch` is the matcher the data path runs; it allocates nothing.
 */
import type { IpPort, RouteEntity } from '../config/types.js';
import type { CompiledRoute, ConnInfo } from './types.js';
import {
  compileIpPorts,
  compileSnis,
  dstAddr,
  matchSide,
  matchSni,
  sideWeight,
  srcAddr,
  type ConnAddrs,
  type IpPortMatcher,
  type SniMatcher,
} from './match.js';
import { hostPort } from '../net/address.js';
import { isStreamProtocol } from '../net/protocols.js';

/** What the match fields compile to, on every compiled route (the router's hot path reads these properties). */
export interface CompiledMatch {
  /** which connection protocols this route serves */
  readonly tcp: boolean;
  readonly tls: boolean;
  readonly udp: boolean;
  readonly sources?: readonly IpPortMatcher[];
  readonly destinations?: readonly IpPortMatcher[];
  readonly snis?: SniMatcher;
  /** whether a side has an ip entry (the connection's address is parsed only then) */
  readonly srcIp: boolean;
  readonly dstIp: boolean;
}

/** A compiled route with its parsed match fields; `firstMismatch` and the side matchers work on it. */
export interface StreamRoute extends CompiledRoute, CompiledMatch {
  /** the id lower-cased: atc-router orders equal priorities by the uuid's bytes */
  readonly idKey: string;
}

export type MatchFieldName = 'protocols' | 'destinations' | 'sources' | 'snis';

export interface MatchField {
  /** the route entity's key (and the schema's property) */
  readonly name: MatchFieldName;
  /** the value of the normalized config from the file's (checked) value */
  normalize(raw: unknown): RouteEntity[MatchFieldName];
  /** false when this field makes the route one kong-ts does not serve (cheap: nothing is compiled) */
  serves?(e: RouteEntity): boolean;
  /** explain's reason when `serves` is false */
  unserved?(e: RouteEntity): string;
  /** the compiled parts of a served route */
  compile(e: RouteEntity): Partial<CompiledMatch>;
  /** true when the field lets this connection through (`port`: the routed destination port, after port_maps) */
  matches(r: StreamRoute, conn: ConnInfo, addrs: ConnAddrs, port: number): boolean;
  /** explain's reason when `matches` is false */
  why(r: StreamRoute, conn: ConnInfo, port: number): string;
  /** the field's part of Kong's priority below the high band, and how explain writes that part */
  weight?(r: CompiledMatch): number;
  weightText?(points: number): string;
  /** the values as people read them, sorted (a set: order never counts); empty when unset */
  texts(e: RouteEntity): string[];
  /** where `config diff` sentences put the field (lower first) */
  readonly sentenceRank: number;
  /** the field's words in those sentences, from `texts`; undefined: nothing to say */
  phrase(texts: readonly string[]): string | undefined;
}

/** `10.0.0.0/8`, `:6379`, `10.0.0.1:80`, `[2001:db8::1]:80` */
export function ipPortText(p: IpPort): string {
  const ip = p.ip ?? '';
  if (p.port === undefined || p.port === null) return ip;
  return hostPort(ip, p.port);
}

function entriesText(list: readonly IpPort[] | null | undefined): string {
  return `[${(list ?? []).map(ipPortText).join(', ')}]`;
}

function sniList(m: SniMatcher): string {
  return [...m.exact, ...m.suffixes.map((s) => '*' + s), ...m.prefixes.map((p) => p + '*')].join(', ');
}

/** A list field the file may leave out or empty: null in the normalized config then. */
const listOrNull = (raw: unknown) => (Array.isArray(raw) && raw.length ? (raw as RouteEntity[MatchFieldName]) : null);

const hasNet = (e: IpPortMatcher): boolean => e.net !== undefined;

const protocols: MatchField = {
  name: 'protocols',
  normalize: (raw) => (raw as RouteEntity['protocols'] | undefined) ?? ['http', 'https'],
  // HTTP routes are checked at load time but not served here
  serves: (e) => e.protocols.some(isStreamProtocol),
  unserved: (e) => `[${e.protocols.join(', ')}] are not served by kong-ts (no stream protocol)`,
  compile(e) {
    const p = e.protocols;
    return { tcp: p.includes('tcp'), tls: p.includes('tls') || p.includes('tls_passthrough'), udp: p.includes('udp') };
  },
  matches: (r, conn) => r[conn.protocol],
  why: (r, conn) => `[${r.entity.protocols.join(', ')}] does not serve ${conn.protocol} connections`,
  texts: (e) => [...e.protocols].sort(),
  sentenceRank: 0,
  // plain tcp goes without saying
  phrase: (t) => (t.join(',') === 'tcp' ? undefined : t.join('/')),
};

const destinations: MatchField = {
  name: 'destinations',
  normalize: listOrNull,
  compile(e) {
    const destinations = compileIpPorts(e.destinations);
    return { destinations, dstIp: !!destinations?.some(hasNet) };
  },
  matches: (r, conn, addrs, port) =>
    !r.destinations || matchSide(r.destinations, r.dstIp ? dstAddr(conn, addrs) : undefined, port),
  why(r, conn, port) {
    const mapped = port !== conn.dstPort ? ` (port_maps: listener port ${conn.dstPort} is host port ${port})` : '';
    return `no entry of ${entriesText(r.entity.destinations)} matched ${hostPort(conn.dstIp, port)}${mapped}`;
  },
  // Kong's side bits (transform.lua), destinations in the low four
  weight: (r) => sideWeight(r.destinations),
  weightText: (w) => `${w} (destinations)`,
  texts: (e) => (e.destinations ?? []).map(ipPortText).sort(),
  sentenceRank: 2,
  phrase: (t) => (t.length ? `dst ${t.join(',')}` : undefined),
};

const sources: MatchField = {
  name: 'sources',
  normalize: listOrNull,
  compile(e) {
    const sources = compileIpPorts(e.sources);
    return { sources, srcIp: !!sources?.some(hasNet) };
  },
  matches: (r, conn, addrs) =>
    !r.sources || matchSide(r.sources, r.srcIp ? srcAddr(conn, addrs) : undefined, conn.srcPort),
  why: (r, conn) => `no entry of ${entriesText(r.entity.sources)} matched ${hostPort(conn.srcIp, conn.srcPort)}`,
  // Kong's side bits, sources shifted by 4 above the destinations'
  weight: (r) => sideWeight(r.sources) * 16,
  weightText: (w) => `${w} (sources: ${w / 16}×16)`,
  texts: (e) => (e.sources ?? []).map(ipPortText).sort(),
  sentenceRank: 3,
  phrase: (t) => (t.length ? `from ${t.join(',')}` : undefined),
};

const snis: MatchField = {
  name: 'snis',
  normalize: listOrNull,
  compile: (e) => ({ snis: compileSnis(e.snis) }),
  matches: (r, conn) => matchSni(r.snis, conn),
  why: (r, conn) =>
    conn.sni === undefined
      ? `the connection sent no SNI; the route needs one of [${sniList(r.snis!)}]`
      : `'${conn.sni}' matched none of [${sniList(r.snis!)}]`,
  texts: (e) => [...(e.snis ?? [])].sort(),
  sentenceRank: 1,
  phrase: (t) => (t.length ? `sni ${t.join(',')}` : undefined),
};

/**
 * Every match field, in the order matching tests them (cheap and selective first). A connection matches a route
 * when every field matches; explain lists the misses in this order.
 */
export const MATCH_FIELDS: readonly MatchField[] = Object.freeze([protocols, destinations, sources, snis]);

/** The fields in the order `config diff` sentences name them: `tls sni a.example.com dst :443 from 10.0.0.0/8`. */
export const SENTENCE_FIELDS: readonly MatchField[] = Object.freeze(
  [...MATCH_FIELDS].sort((a, b) => a.sentenceRank - b.sentenceRank),
);

/**
 * The index in MATCH_FIELDS of the first field at or after `from` that does not match `conn`, or -1 when they all
 * match. The router's matcher (from 0); explain walks on from each miss to list them all.
 * Written out field by field, in MATCH_FIELDS' order, because direct calls stay inlined on the hot path: a loop
 * over the table measured about 2× slower per candidate route. test/router/match-fields.test.ts fails when a
 * field of the table is missing here or out of order.
 */
export function firstMismatch(r: StreamRoute, conn: ConnInfo, addrs: ConnAddrs, port: number, from: number): number {
  if (from <= 0 && !protocols.matches(r, conn, addrs, port)) return 0;
  if (from <= 1 && !destinations.matches(r, conn, addrs, port)) return 1;
  if (from <= 2 && !sources.matches(r, conn, addrs, port)) return 2;
  if (from <= 3 && !snis.matches(r, conn, addrs, port)) return 3;
  return -1;
}

/**
 * Kong 3's high band (bit 61 in kong/router/transform.lua; here any number above the largest sum of side bits,
 * 15×16 + 15): a route with snis, or with both sources and destinations, outranks every route without.
 */
const HIGH_BAND = { points: 256, alone: ['snis'], together: ['sources', 'destinations'] } as const;

/** One part of a route's priority: its points and how explain words them. */
export interface PriorityPart {
  points: number;
  text: string;
}

function isSet(r: CompiledMatch, f: 'snis' | 'sources' | 'destinations'): boolean {
  return r[f] !== undefined;
}

/** Kong 3's priority (`traditional_compatible`) in parts, largest first. */
export function priorityParts(r: CompiledMatch): PriorityPart[] {
  const parts: PriorityPart[] = [];
  const alone = HIGH_BAND.alone.filter((f) => isSet(r, f));
  if (alone.length) parts.push({ points: HIGH_BAND.points, text: `${HIGH_BAND.points} (${alone.join(' and ')})` });
  else if (HIGH_BAND.together.every((f) => isSet(r, f))) {
    parts.push({ points: HIGH_BAND.points, text: `${HIGH_BAND.points} (${HIGH_BAND.together.join(' and ')})` });
  }
  for (const f of MATCH_FIELDS) {
    const w = f.weight?.(r) ?? 0;
    if (w) parts.push({ points: w, text: f.weightText!(w) });
  }
  return parts.sort((a, b) => b.points - a.points);
}

export function priorityOf(r: CompiledMatch): number {
  let sum = 0;
  for (const p of priorityParts(r)) sum += p.points;
  return sum;
}

/** `256 (snis) + 16 (sources: 1×16) + 4 (destinations)`: Kong 3's priority in parts. */
export function priorityText(r: CompiledMatch): string {
  const parts = priorityParts(r);
  return parts.length ? parts.map((p) => p.text).join(' + ') : '0';
}

/** The field that makes a route one kong-ts does not serve (no stream protocol), or undefined when it is served. */
export function unservedBy(e: RouteEntity): MatchField | undefined {
  for (const f of MATCH_FIELDS) if (f.serves && !f.serves(e)) return f;
  return undefined;
}

/** The compiled match fields of a route entity; undefined when a field makes it a route kong-ts does not serve. */
export function compileMatch(e: RouteEntity): CompiledMatch | undefined {
  if (unservedBy(e)) return undefined;
  const out: Record<string, unknown> = {};
  for (const f of MATCH_FIELDS) Object.assign(out, f.compile(e));
  return out as unknown as CompiledMatch;
}

/** The match fields of a normalized route from the file's checked value, in table order. */
export function normalizeMatchFields(raw: Record<string, unknown>): Pick<RouteEntity, MatchFieldName> {
  const out: Record<string, unknown> = {};
  for (const f of MATCH_FIELDS) out[f.name] = f.normalize(raw[f.name]);
  return out as Pick<RouteEntity, MatchFieldName>;
}

/**
 * A string equal for two routes exactly when they match the same connections by their fields (order within a
 * field never counts): a change of any match field is a routing change for diffs and the reload policy.
 */
export function matchKey(e: RouteEntity): string {
  let key = '';
  for (const f of MATCH_FIELDS) key += f.texts(e).join(',') + ';';
  return key;
}
