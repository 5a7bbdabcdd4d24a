/**
 * Kong's value checks with Kong's messages (kong/tools/ip.lua normalize_ip, kong/db/schema/typedefs.lua
 * validate_host / validate_sni / validate_wildcard_host): the rules are Kong's, so a file Kong accepts is accepted
 * (a leading hyphen, `_`, a trailing dot) and one it refuses is refused with its text.
 */
import { isIP } from 'node:net';

export interface NormalizedHost {
  type: 'ipv4' | 'ipv6' | 'name';
  host: string;
  port?: number;
}

/** ipv4 when only digits and dots are left after removing one colon; ipv6 with two colons or more (by exclusion). */
export function hostnameType(name: string): NormalizedHost['type'] {
  const colons = name.split(':').length - 1;
  if (colons > 1) return 'ipv6';
  if (/^[\d.]+$/.test(name.replace(':', ''))) return 'ipv4';
  return 'name';
}

function normalizeIpv4(address: string): NormalizedHost | string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?::(\d+))?$/.exec(address);
  if (!m || (address.includes(':') && m[5] === undefined)) return `invalid ipv4 address: ${address}`;
  const parts = m.slice(1, 5).map(Number);
  if (parts.some((n) => n > 255)) return `invalid ipv4 address: ${address}`;
  const port = m[5] === undefined ? undefined : Number(m[5]);
  if (port !== undefined && port > 65535) return 'invalid port number';
  return { type: 'ipv4', host: parts.join('.'), port };
}

function normalizeIpv6(address: string): NormalizedHost | string {
  let check = address;
  let port: number | undefined;
  const b = /^\[([^\]]*)\](.*)$/.exec(address);
  if (b) {
    check = b[1]!;
    if (b[2] !== '') {
      const pm = /^:(\d*)$/.exec(b[2]!);
      if (!pm) return 'invalid ipv6 address';
      port = Number(pm[1]);
      if (port > 65535) return 'invalid port number';
    }
  }
  if (isIP(check) !== 6) return `invalid ipv6 address: ${address}`;
  return { type: 'ipv6', host: check, port };
}

function checkHostname(address: string): NormalizedHost | string {
  let name = address;
  let port: number | undefined;
  const pm = /:(\d+)$/.exec(address);
  if (pm) {
    name = address.slice(0, -(pm[1]!.length + 1));
    port = Number(pm[1]);
    if (port > 65535) return 'invalid port number';
  }
  if (!/^[A-Za-z0-9\-._]+$/.test(name)) return `invalid hostname: ${address}`;
  const segments = name.split('.');
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    if (seg.endsWith('-') || (seg === '' && i !== segments.length - 1)) return `invalid hostname: ${address}`;
  }
  return { type: 'name', host: name, port };
}

/** Kong's normalize_ip: the host's type, host and port, or an error text. */
export function normalizeIp(address: string): NormalizedHost | string {
  const t = hostnameType(address);
  return t === 'ipv4' ? normalizeIpv4(address) : t === 'ipv6' ? normalizeIpv6(address) : checkHostname(address);
}

/** typedefs.host: `invalid value: <host>` or `must not have a port`; undefined when valid. */
export function hostProblem(host: string): string | undefined {
  const r = normalizeIp(host);
  if (typeof r === 'string' && r !== 'invalid port number') return `invalid value: ${host}`;
  if (r === 'invalid port number' || (typeof r !== 'string' && r.port !== undefined)) return 'must not have a port';
  return undefined;
}

function nameOnly(host: string): string | undefined {
  const r = normalizeIp(host);
  if (typeof r === 'string' && r !== 'invalid port number') return `invalid value: ${host}`;
  if (typeof r !== 'string' && r.type !== 'name') return 'must not be an IP';
  if (r === 'invalid port number' || (typeof r !== 'string' && r.port !== undefined)) return 'must not have a port';
  return undefined;
}

/** typedefs.wildcard_host (route snis, sni entities): one `*`, first or last character, then as sni. */
export function wildcardHostProblem(host: string): string | undefined {
  const idx = host.indexOf('*');
  if (idx < 0) return nameOnly(host);
  if (idx !== 0 && idx !== host.length - 1) return 'wildcard must be leftmost or rightmost character';
  const count = host.split('*').length - 1;
  if (count > 1) return 'only one wildcard must be specified';
  return nameOnly(host.replace('*', 'wildcard'));
}

/** The upstream name rule (entities/upstreams.lua validate_name). */
export function upstreamNameProblem(name: string): string | undefined {
  const r = normalizeIp(name);
  const shown = `Invalid name ('${name}')`;
  if (typeof r === 'string') return `${shown}; must be a valid hostname`;
  if (r.type !== 'name') return `${shown}; no ip addresses allowed`;
  if (r.port !== undefined) return `${shown}; no port allowed`;
  return undefined;
}

/** A host name by Kong's rule (no IP, no port). */
export function isKongHostname(s: string): boolean {
  const r = normalizeIp(s);
  return typeof r !== 'string' && r.type === 'name' && r.port === undefined;
}
