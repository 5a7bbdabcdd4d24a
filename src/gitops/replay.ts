/**
 * Replay: recorded sessions (the JSON access log, or `GET /sessions/recent` of a running kong-ts) routed through
 * an old and a new configuration with the real compiled router (`router.match`), to say which sessions keep their
 * route and service, which move where, and which would find no route. Pure apart from `readSessions`.
 */
import type { DeclarativeConfig } from '../config/types.js';
import { compileRouter, compileService } from '../router/compile.js';
import type { CompiledService, ConnInfo, Router } from '../router/types.js';
import { hostPort } from '../net/address.js';

/** The fields replay reads (the JSON access log and `/sessions/recent` both carry them). */
export interface ReplaySession {
  protocol: 'tcp' | 'tls' | 'udp';
  client_ip: string;
  client_port: number;
  server_ip: string;
  server_port: number;
  sni?: string;
}

export interface ReadSessions {
  sessions: ReplaySession[];
  /** lines or entries that are not a session replay can route (no server address, unknown protocol, not JSON) */
  skipped: number;
  /** the first few of them, `line N: why` */
  skipped_examples: string[];
}

export class ReplayError extends Error {}

function toSession(v: unknown): ReplaySession | string {
  if (!v || typeof v !== 'object') return 'not a JSON object';
  const o = v as Record<string, unknown>;
  if (o.protocol !== 'tcp' && o.protocol !== 'tls' && o.protocol !== 'udp')
    return `protocol ${JSON.stringify(o.protocol)} is not tcp, tls or udp`;
  if (typeof o.client_ip !== 'string' || typeof o.client_port !== 'number') return 'no client_ip/client_port';
  if (typeof o.server_ip !== 'string' || typeof o.server_port !== 'number') return 'no server_ip/server_port';
  const s: ReplaySession = {
    protocol: o.protocol,
    client_ip: o.client_ip,
    client_port: o.client_port,
    server_ip: o.server_ip,
    server_port: o.server_port,
  };
  if (typeof o.sni === 'string' && o.sni !== '') s.sni = o.sni.toLowerCase();
  return s;
}

/**
 * Reads sessions from text: a JSON document with a `data` array (`GET /sessions/recent`), or JSON lines (the
 * `json` access log). Lines that are not sessions are counted, never fatal; a file with no session is an error.
 */
export function parseSessions(text: string, name: string): ReadSessions {
  const out: ReadSessions = { sessions: [], skipped: 0, skipped_examples: [] };
  const skip = (where: string, why: string) => {
    out.skipped++;
    if (out.skipped_examples.length < 3) out.skipped_examples.push(`${where}: ${why}`);
  };
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') && !trimmed.includes('\n{')) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      doc = undefined;
    }
    const data = (doc as { data?: unknown } | undefined)?.data;
    if (Array.isArray(data)) return sessionsFrom(data, name);
  }
  let line = 0;
  for (const l of text.split('\n')) {
    line++;
    if (!l.trim()) continue;
    let v: unknown;
    try {
      v = JSON.parse(l);
    } catch {
      skip(`line ${line}`, 'not JSON (is the access log in the json format?)');
      continue;
    }
    const s = toSession(v);
    if (typeof s === 'string') skip(`line ${line}`, s);
    else out.sessions.push(s);
  }
  if (out.sessions.length === 0) {
    throw new ReplayError(
      `${name}: no session to replay${out.skipped ? ` (${out.skipped} skipped; ${out.skipped_examples[0]})` : ''}: ` +
        "give the 'json' access log (proxy_stream_access_log = PATH json) or GET /sessions/recent",
    );
  }
  return out;
}

/** Reads the `data` entries of `GET /sessions/recent`. */
export function sessionsFrom(data: readonly unknown[], name: string): ReadSessions {
  const out: ReadSessions = { sessions: [], skipped: 0, skipped_examples: [] };
  data.forEach((v, i) => {
    const s = toSession(v);
    if (typeof s !== 'string') {
      out.sessions.push(s);
      return;
    }
    out.skipped++;
    if (out.skipped_examples.length < 3) out.skipped_examples.push(`data[${i}]: ${s}`);
  });
  if (out.sessions.length === 0) throw new ReplayError(`${name}: no session to replay`);
  return out;
}

/** Where a session goes in one configuration. */
export interface ReplayEnd {
  route_id: string | null;
  route: string | null;
  service_id: string | null;
  service: string | null;
}

export interface ReplayGroup {
  from: ReplayEnd;
  to: ReplayEnd;
  count: number;
  /** a few sessions of the group: `tcp 10.0.0.1:5000 → 10.0.0.2:6379 sni a.example.com` */
  examples: string[];
}

export interface ReplayReport {
  sessions: number;
  skipped: number;
  /** same route and same service in both */
  kept: number;
  /** routed by the new config, elsewhere than by the old (or by the new config only) */
  moved: number;
  /** routed by the old config, by no route (or a route without service) in the new: the change drops them */
  unrouted: number;
  /** routed by neither */
  still_unrouted: number;
  /** moved and unrouted sessions grouped by old → new, largest group first */
  groups: ReplayGroup[];
}

const EXAMPLES = 3;

const NONE: ReplayEnd = Object.freeze({ route_id: null, route: null, service_id: null, service: null });

class Side {
  readonly router: Router;
  /** the router's answer by connection tuple: recorded traffic repeats its tuples */
  readonly #memo = new Map<string, ReplayEnd>();
  constructor(config: DeclarativeConfig) {
    const services = new Map<string, CompiledService>();
    for (const s of config.services) services.set(s.id, compileService(s));
    this.router = compileRouter(config.routes, services);
  }

  /** The route and service this config gives the connection (`key` names the tuple); route null when none matches. */
  end(conn: ConnInfo, key: string): ReplayEnd {
    let e = this.#memo.get(key);
    if (e) return e;
    const r = this.router.match(conn);
    e = r
      ? {
          route_id: r.id,
          route: r.name ?? r.id,
          service_id: r.service?.id ?? null,
          service: r.service ? (r.service.name ?? r.service.id) : null,
        }
      : NONE;
    if (this.#memo.size < 1_000_000) this.#memo.set(key, e);
    return e;
  }
}

/** Whether any route of the config names a source port (else the client's port cannot change a routing). */
function usesSourcePorts(config: DeclarativeConfig): boolean {
  return config.routes.some((r) => r.sources?.some((s) => s.port !== undefined && s.port !== null));
}

function routed(e: ReplayEnd): boolean {
  return e.route_id !== null && e.service_id !== null;
}

export function sessionText(s: ReplaySession): string {
  return `${s.protocol} ${hostPort(s.client_ip, s.client_port)} → ${hostPort(s.server_ip, s.server_port)}${s.sni ? ` sni ${s.sni}` : ''}`;
}

/** Routes every session through both configurations. Linear in the sessions; each routing is one `router.match`. */
export function replay(oldCfg: DeclarativeConfig, newCfg: DeclarativeConfig, read: ReadSessions): ReplayReport {
  const a = new Side(oldCfg),
    b = new Side(newCfg);
  const rep: ReplayReport = {
    sessions: read.sessions.length,
    skipped: read.skipped,
    kept: 0,
    moved: 0,
    unrouted: 0,
    still_unrouted: 0,
    groups: [],
  };
  const groups = new Map<string, ReplayGroup>();
  const conn: ConnInfo = { protocol: 'tcp', srcIp: '', srcPort: 0, dstIp: '', dstPort: 0 };
  const ports = usesSourcePorts(oldCfg) || usesSourcePorts(newCfg);
  for (const s of read.sessions) {
    const key = `${s.protocol} ${s.client_ip} ${ports ? s.client_port : ''} ${s.server_ip} ${s.server_port} ${s.sni ?? ''}`;
    conn.protocol = s.protocol;
    conn.srcIp = s.client_ip;
    conn.srcPort = s.client_port;
    conn.dstIp = s.server_ip;
    conn.dstPort = s.server_port;
    conn.sni = s.sni;
    const from = a.end(conn, key),
      to = b.end(conn, key);
    const was = routed(from),
      is = routed(to);
    if (was && is && from.route_id === to.route_id && from.service_id === to.service_id) {
      rep.kept++;
      continue;
    }
    if (!was && !is) {
      rep.still_unrouted++;
      continue;
    }
    if (is) rep.moved++;
    else rep.unrouted++;
    const gkey = `${from.route_id}|${from.service_id}|${to.route_id}|${to.service_id}`;
    let g = groups.get(gkey);
    if (!g) groups.set(gkey, (g = { from, to, count: 0, examples: [] }));
    g.count++;
    if (g.examples.length < EXAMPLES) g.examples.push(sessionText(s));
  }
  rep.groups = [...groups.values()].sort(
    (x, y) =>
      y.count - x.count ||
      (x.from.route ?? '').localeCompare(y.from.route ?? '') ||
      (x.to.route ?? '').localeCompare(y.to.route ?? ''),
  );
  return rep;
}
