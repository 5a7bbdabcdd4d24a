import { isIP } from 'node:net';
import type { Protocol, RouteEntity, ServiceEntity } from './types.js';
import { checked, entityRef, type RawEntity } from './flatten.js';
import type { CheckContext } from './check-context.js';
import { hostProblem, isKongHostname, wildcardHostProblem } from './kong-values.js';
import { isStreamProtocol } from '../net/protocols.js';

const GROUPS: Record<string, string> = {
  http: 'http',
  https: 'http',
  tcp: 'stream',
  tls: 'stream',
  udp: 'stream',
  tls_passthrough: 'passthrough',
  grpc: 'grpc',
  grpcs: 'grpc',
  ws: 'ws',
  wss: 'ws',
};
/** Kong's mutually_exclusive_subsets of route protocols (entities/routes.lua), in Kong's order. */
const SUBSETS = [['http', 'https'], ['tcp', 'tls', 'udp'], ['tls_passthrough'], ['grpc', 'grpcs'], ['ws', 'wss']];
function exclusive(protocols: string[]): string {
  const hit = SUBSETS.filter((set) => set.some((p) => protocols.includes(p)));
  return `these sets are mutually exclusive: ${hit.map((set) => `(${set.map((p) => `'${p}'`).join(', ')})`).join(', ')}`;
}
/** A protocol name Kong knows (the url shorthand's scheme is checked against them). */
function isKnownProtocol(p: string): p is Protocol {
  return !!GROUPS[p] || p === 'tls_passthrough';
}
const CONDITIONAL = "failed conditional validation given value of field 'protocol'";
/** Kong's L7 requirement per protocol (entities/routes.lua). */
const L7_FIELDS: Record<string, string[]> = {
  http: ['methods', 'hosts', 'headers', 'paths'],
  https: ['methods', 'hosts', 'headers', 'paths', 'snis'],
  grpc: ['hosts', 'headers', 'paths'],
  grpcs: ['hosts', 'headers', 'paths', 'snis'],
};
const STREAM_LIST = "'tcp', 'tls', 'tls_passthrough' or 'udp'";
const HTTP_ONLY_FIELDS = ['hosts', 'paths', 'methods', 'headers'];
const TLS_ONLY_SERVICE_FIELDS = ['client_certificate', 'tls_verify', 'tls_verify_depth', 'ca_certificates'];
const DEFAULT_PORT: Record<string, number> = { https: 443, grpcs: 443, wss: 443 };

/** Expands the url shorthand and checks the rules that tie a service's fields to its protocol. */
export function checkService(e: RawEntity, ctx: CheckContext): void {
  const r = checked<ServiceEntity>(e);
  const opts = { entity: entityRef(e) };
  let protocol: Protocol = r.protocol ?? 'http';
  let host: string | undefined = r.host;
  let port: number = r.port ?? 80;
  let path: string | null = r.path ?? null;
  if (typeof r.url === 'string') {
    const clash = ['host', 'port', 'protocol', 'path'].filter((k) => r[k] != null);
    if (clash.length) {
      ctx.problems.error(
        [...e.path, 'url'],
        `cannot set 'url' together with ${clash.map((k) => `'${k}'`).join(', ')}`,
        { ...opts, field: 'url' },
      );
      return;
    }
    const u = parseUrl(r.url);
    if (typeof u === 'string') {
      ctx.problems.error([...e.path, 'url'], u, { ...opts, field: 'url' });
      return;
    }
    ({ protocol, host, port, path } = u);
  } else if (host === undefined) {
    ctx.problems.error([...e.path, 'host'], 'required field missing', { ...opts, field: 'host' });
    return;
  }
  const where = typeof r.url === 'string' ? 'url' : 'host';
  const hostBad = host === '' ? 'length must be at least 1' : hostProblem(host);
  if (hostBad) ctx.problems.error([...e.path, where], hostBad, { ...opts, field: where });
  // Kong's conditional entity checks: the field says `value must be null`, the entity says which field decided it
  let conditional = false;
  if ((isStreamProtocol(protocol) || protocol === 'grpc' || protocol === 'grpcs') && path != null) {
    const field = typeof r.url === 'string' ? 'url' : 'path';
    ctx.problems.error([...e.path, field], 'value must be null', { ...opts, field });
    conditional = true;
  } else if (path != null && typeof r.url !== 'string') {
    const bad = servicePathProblem(path);
    if (bad) ctx.problems.error([...e.path, 'path'], bad, { ...opts, field: 'path' });
  }
  if (protocol !== 'tls' && protocol !== 'https') {
    for (const f of TLS_ONLY_SERVICE_FIELDS) {
      if (r[f] != null) {
        ctx.problems.error([...e.path, f], 'value must be null', { ...opts, field: f });
        conditional = true;
      }
    }
  }
  if (conditional) ctx.problems.error(e.path, CONDITIONAL, opts);
  e.derived = { protocol, host, port, path };
}

/** Kong's service path rules (typedefs.path) that apply to a declarative file. */
export function servicePathProblem(path: string): string | undefined {
  return !path.startsWith('/')
    ? 'should start with: /'
    : /\/\//.test(path)
      ? 'must not have empty segments'
      : undefined;
}

function parseUrl(url: string): { protocol: Protocol; host: string; port: number; path: string | null } | string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `invalid url: '${url}'`;
  }
  const protocol = u.protocol.slice(0, -1);
  if (!isKnownProtocol(protocol)) return `invalid url: unknown protocol '${protocol}'`;
  if (!u.hostname) return `invalid url: missing host in '${url}'`;
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port ? Number(u.port) : (DEFAULT_PORT[protocol] ?? 80);
  const path = u.pathname && u.pathname !== '/' ? u.pathname : null;
  return { protocol, host, port, path };
}

/**
 * Kong's route rules. Returns what the route is: a stream route, an HTTP-only one (which the caller skips), or
 * one with errors.
 */
export function checkRoute(e: RawEntity, ctx: CheckContext): 'stream' | 'http' | 'invalid' {
  const r = checked<RouteEntity>(e);
  const opts = { entity: entityRef(e) };
  const protocols: string[] = Array.isArray(r.protocols) ? r.protocols : ['http', 'https'];
  const groups = new Set(protocols.map((p) => GROUPS[p]));
  if (groups.size > 1) {
    ctx.problems.error([...e.path, 'protocols'], exclusive(protocols), { ...opts, field: 'protocols' });
    return 'invalid';
  }
  const stream = protocols.some(isStreamProtocol);
  let ok = true;
  const err = (path: Array<string | number>, message: string, field?: string): void => {
    ok = false;
    ctx.problems.error([...e.path, ...path], message, field === undefined ? opts : { ...opts, field });
  };
  const has = (f: string): boolean => {
    const v = r[f];
    return Array.isArray(v) ? v.length > 0 : v != null && (typeof v !== 'object' || Object.keys(v).length > 0);
  };

  if (has('snis')) {
    if (!protocols.some((p) => ['grpcs', 'https', 'tls', 'tls_passthrough'].includes(p))) {
      err([], "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'");
      err(['snis'], 'length must be 0', 'snis');
    }
    (r.snis as string[]).forEach((name, i) => {
      const bad = sniNameProblem(name, false);
      if (bad) err(['snis', i], bad, `snis[${i}]`);
    });
  }
  for (const side of ['sources', 'destinations']) {
    if (!has(side)) continue;
    if (!stream)
      err([side], `'${side}' can only be set when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'`, side);
    (r[side] as Array<Record<string, unknown>>).forEach((ipp, i) => {
      if (ipp.ip == null && ipp.port == null)
        err([side, i], "at least one of these fields must be non-empty: 'ip', 'port'", `${side}[${i}]`);
      if (typeof ipp.ip === 'string' && !isIpOrCidr(ipp.ip))
        err([side, i, 'ip'], `invalid ip or cidr range: '${ipp.ip}'`, `${side}[${i}].ip`);
    });
  }
  if (!stream) {
    // an HTTP route is checked as Kong checks it (then skipped by the caller when valid)
    const p = protocols.find((x) => L7_FIELDS[x]) ?? 'http';
    const wanted = protocols.includes('https')
      ? L7_FIELDS.https!
      : protocols.includes('grpcs')
        ? L7_FIELDS.grpcs!
        : (L7_FIELDS[p] ?? []);
    if (wanted.length && !wanted.some(has) && !has('sources') && !has('destinations')) {
      const shown = protocols.includes('https') ? 'https' : protocols.includes('grpcs') ? 'grpcs' : p;
      err([], `must set one of ${wanted.map((f) => `'${f}'`).join(', ')} when 'protocols' is '${shown}'`);
    }
    return ok ? 'http' : 'invalid';
  }
  for (const f of HTTP_ONLY_FIELDS) {
    if (has(f)) err([f], `cannot set '${f}' when 'protocols' is ${STREAM_LIST}`, f);
  }
  if (protocols.includes('tls_passthrough')) {
    if (!has('snis')) err([], "must set snis when 'protocols' is 'tls_passthrough'");
  } else if (!has('sources') && !has('destinations') && !has('snis')) {
    err([], "must set one of 'sources', 'destinations', 'snis' when 'protocols' is 'tcp', 'tls' or 'udp'");
  }
  return ok ? 'stream' : 'invalid';
}

/** Kong's rules for SNI names (routes and sni entities): typedefs.wildcard_host, Kong's messages. */
export function sniNameProblem(name: string, _allowCatchAll?: boolean): string | undefined {
  return wildcardHostProblem(name);
}

/** An IPv4 or IPv6 address, or a CIDR range of either (prefix 0-32 or 0-128). */
export function isIpOrCidr(s: string): boolean {
  const slash = s.indexOf('/');
  if (slash < 0) return isIP(s) !== 0;
  const family = isIP(s.slice(0, slash));
  const bits = s.slice(slash + 1);
  if (!family || !/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

/** A host name as Kong checks it (kong/tools/ip.lua check_hostname): letters, digits, `-`, `_`, dots; no label ends in `-`. */
export function isHostname(s: string): boolean {
  return isKongHostname(s);
}
