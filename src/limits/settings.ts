/**
 * Parsers for the limit settings kong-ts proposes (its own keys; Kong has no stream limits):
 *   stream_max_connections          per listener, 0 = unlimited
 *   stream_max_connections_per_ip   open connections per client IP, 0 = unlimited
 *   stream_connection_rate_per_ip   new connections per client IP: `off`, `N/s` or `N/m`, optional ` burst=B`
 * and the route tag `kong-ts.max_connections=N`. Settings errors are KongTsError (KTS_SETTINGS_INVALID); the tag
 * parser returns a message for the config checker to report against the route.
 */
import { KongTsError } from '../errors.js';

export interface ConnectionRate {
  /** connections per second (fractions allowed: `30/m` = 0.5/s) */
  ratePerSec: number;
  burst: number;
}

function bad(key: string, detail: string): never {
  throw new KongTsError('KTS_SETTINGS_INVALID', [key], { detail });
}

/** A whole number >= 0 (`stream_max_connections`, `stream_max_connections_per_ip`). */
export function parseMaxConnections(key: string, value: string): number {
  const v = value.trim();
  if (!/^\d{1,9}$/.test(v)) bad(key, `expected a whole number >= 0 (0 = unlimited), got '${value}'`);
  return Number(v);
}

/** `off` | `0` | `N/s` | `N/m`, with an optional ` burst=B` (default: N, at least 1). undefined = no limit. */
export function parseConnectionRate(key: string, value: string): ConnectionRate | undefined {
  const v = value.trim();
  if (v === '' || v === 'off' || v === '0') return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*\/\s*(s|sec|second|m|min|minute)(?:\s+burst\s*=\s*(\d+))?$/.exec(v);
  if (!m) bad(key, `expected 'off' or '<N>/s [burst=<B>]' (or '<N>/m'), e.g. '100/s burst=200', got '${value}'`);
  const n = Number(m[1]);
  if (n <= 0) bad(key, `the rate must be above 0 (use 'off' for no limit), got '${value}'`);
  const ratePerSec = m[2]!.startsWith('m') ? n / 60 : n;
  const burst = m[3] !== undefined ? Number(m[3]) : Math.max(1, Math.ceil(n));
  if (burst < 1) bad(key, `burst must be at least 1, got '${value}'`);
  return { ratePerSec, burst };
}

export const ROUTE_MAX_TAG = 'kong-ts.max_connections';

/**
 * The `kong-ts.max_connections=N` tag of a route: `{ max }` (undefined when absent), or `{ error }` with a message
 * for a malformed or repeated tag.
 */
export function routeMaxConnections(tags: readonly string[] | undefined): { max?: number; error?: string } {
  let max: number | undefined;
  for (const tag of tags ?? []) {
    if (!tag.startsWith(ROUTE_MAX_TAG)) continue;
    const m = /^kong-ts\.max_connections=(\d{1,9})$/.exec(tag);
    if (!m) return { error: `tag '${tag}': expected '${ROUTE_MAX_TAG}=<N>' with N a whole number >= 0` };
    if (max !== undefined) return { error: `tag '${ROUTE_MAX_TAG}' is set more than once` };
    max = Number(m[1]);
  }
  return { max };
}
