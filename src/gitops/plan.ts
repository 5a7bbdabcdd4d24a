/**
 * `config plan`: the diff between a file and the configuration a running kong-ts serves, plus what the reload
 * would do to its open sessions. Fetching (admin API) and planning (pure) are kept apart so tests and other tools
 * can plan against any live state.
 */
import type { DeclarativeConfig } from '../config/types.js';
import { loadConfigText } from '../config/load.js';
import { formatProblem } from '../config/problems.js';
import { affectedRoutes } from '../runtime/affected-routes.js';
import { diffConfigs, type ConfigDiff } from './diff.js';
import { diffText } from './format.js';
import { ReplayError, sessionsFrom, type ReadSessions } from './replay.js';

export type SessionPolicy = 'keep' | 'drain' | 'close';
const POLICIES: readonly string[] = ['keep', 'drain', 'close'];
/** The route tag that overrides `reload_session_policy` for one route. */
export const POLICY_TAG = 'kong-ts.reload=';

/** What the admin API tells of the running proxy. */
export interface LiveState {
  /** the served declarative file (`GET /config`) */
  configText: string;
  /** `GET /status` configuration_hash */
  hash: string;
  /** `GET /sessions`; undefined when the admin API does not offer it */
  sessions?: { total: number; by_route: Record<string, number> };
  /** `GET /` configuration.reload_session_policy (default keep) */
  policy: SessionPolicy;
  /** `GET /` configuration.reload_drain_timeout, ms */
  drainTimeout?: number;
  /** `GET /sessions/recent`, read for replay; undefined when absent or empty */
  recent?: ReadSessions;
}

export interface SessionImpact {
  id: string;
  route: string;
  sessions: number;
  effect: 'removed' | 'changed';
  policy: SessionPolicy;
  /** `drain` only: ms after which the remaining sessions are closed */
  drain_timeout?: number;
}

export interface Plan {
  live_hash: string;
  new_hash: string;
  /** the file is byte for byte what runs */
  up_to_date: boolean;
  diff: ConfigDiff;
  /** total open sessions; null when the admin API cannot tell */
  open_sessions: number | null;
  /** affected routes with open sessions, sorted by route name then id */
  sessions: SessionImpact[];
}

export class PlanError extends Error {}

function routePolicy(tags: readonly string[] | undefined): SessionPolicy | undefined {
  const t = tags?.find((x) => x.startsWith(POLICY_TAG));
  const v = t?.slice(POLICY_TAG.length);
  return v && POLICIES.includes(v) ? (v as SessionPolicy) : undefined;
}

/**
 * Plans a reload from `live` to `next`. The policy of a route is its `kong-ts.reload=` tag in the new file, or in
 * the running config for a route the new file removes, else the proxy's `reload_session_policy`.
 */
export function buildPlan(
  live: LiveState,
  fetched: DeclarativeConfig,
  next: DeclarativeConfig,
  nextHash: string,
): Plan {
  // the admin API never shows private keys: a redacted key is taken as the new file's key for the same
  // certificate (unknown, so not reported as a change); a certificate whose cert changed still shows
  const nextCerts = new Map(next.certificates.map((c) => [c.id, c]));
  const liveCfg: DeclarativeConfig = {
    ...fetched,
    certificates: fetched.certificates.map((c) => {
      const n = nextCerts.get(c.id);
      const redacted = (k: string | null | undefined) => k?.trim() === '[redacted]';
      return n
        ? { ...c, key: redacted(c.key) ? n.key : c.key, key_alt: redacted(c.key_alt) ? n.key_alt : c.key_alt }
        : c;
    }),
  };
  const diff = diffConfigs(liveCfg, next);
  const affected = affectedRoutes(liveCfg, next);
  const oldRoutes = new Map(liveCfg.routes.map((r) => [r.id, r]));
  const newRoutes = new Map(next.routes.map((r) => [r.id, r]));
  const sessions: SessionImpact[] = [];
  for (const [id, effect] of affected) {
    const n = live.sessions?.by_route[id] ?? 0;
    if (n <= 0) continue;
    const o = oldRoutes.get(id)!;
    const policy = routePolicy(newRoutes.get(id)?.tags) ?? routePolicy(o.tags) ?? live.policy;
    const s: SessionImpact = { id, route: o.name ?? id, sessions: n, effect, policy };
    if (policy === 'drain' && live.drainTimeout !== undefined) s.drain_timeout = live.drainTimeout;
    sessions.push(s);
  }
  sessions.sort((a, b) => (a.route < b.route ? -1 : a.route > b.route ? 1 : a.id < b.id ? -1 : 1));
  return {
    live_hash: live.hash,
    new_hash: nextHash,
    up_to_date: live.hash === nextHash,
    diff,
    open_sessions: live.sessions ? live.sessions.total : null,
    sessions,
  };
}

/** The plan as text: the diff, then the sessions the reload would touch. */
export function planText(p: Plan, names: { live: string; file: string }): string {
  const out = [
    diffText(p.diff, { old: `${names.live} (hash ${p.live_hash})`, new: `${names.file} (hash ${p.new_hash})` }),
    '',
  ];
  if (p.open_sessions === null) out.push('open sessions: unknown (the admin API has no /sessions)');
  else if (p.sessions.length === 0)
    out.push(`open sessions: ${p.open_sessions}, none on a route this reload removes or changes`);
  else {
    out.push(`open sessions: ${p.open_sessions}; on routes this reload removes or changes:`);
    for (const s of p.sessions) {
      const drain = s.policy === 'drain' ? ` (closed after ${s.drain_timeout ?? '?'} ms)` : '';
      out.push(
        `  route '${s.route}': ${s.sessions} open session${s.sessions === 1 ? '' : 's'}, ${s.effect} → policy ${s.policy}${drain}`,
      );
    }
  }
  return out.join('\n');
}

async function getJson(base: string, path: string, token: string | undefined, optional = false): Promise<unknown> {
  const url = base.replace(/\/+$/, '') + path;
  let res: Response;
  try {
    res = await fetch(url, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    throw new PlanError(`cannot reach the admin API at ${url}: ${e.cause?.code ?? e.cause?.message ?? e.message}`);
  }
  if (optional && res.status === 404) {
    await res.body?.cancel();
    return undefined;
  }
  if (res.status === 401)
    throw new PlanError(`the admin API at ${url} refused the request (401): give --token or KONG_ADMIN_TOKEN`);
  if (!res.ok) throw new PlanError(`GET ${url} answered ${res.status}`);
  try {
    return await res.json();
  } catch {
    throw new PlanError(`GET ${url} did not answer JSON`);
  }
}

/** Reads the running proxy's config, hash, sessions and reload policy from its admin API. */
export async function fetchLive(admin: string, token?: string): Promise<LiveState> {
  const [cfg, status, info, sess, recent] = (await Promise.all([
    getJson(admin, '/config', token),
    getJson(admin, '/status', token),
    getJson(admin, '/', token),
    getJson(admin, '/sessions', token, true),
    getJson(admin, '/sessions/recent', token, true),
  ])) as [
    { config?: unknown },
    { configuration_hash?: unknown },
    { configuration?: Record<string, unknown> },
    { total?: unknown; by_route?: unknown } | undefined,
    { data?: unknown } | undefined,
  ];
  if (typeof cfg?.config !== 'string') throw new PlanError(`GET ${admin}/config did not return {config: "<yaml>"}`);
  const conf = info?.configuration ?? {};
  const pol = typeof conf.reload_session_policy === 'string' ? conf.reload_session_policy : 'keep';
  const drain = Number(conf.reload_drain_timeout);
  const live: LiveState = {
    configText: cfg.config,
    hash: typeof status?.configuration_hash === 'string' ? status.configuration_hash : '',
    policy: POLICIES.includes(pol) ? (pol as SessionPolicy) : 'keep',
  };
  if (Number.isFinite(drain) && conf.reload_drain_timeout !== undefined && conf.reload_drain_timeout !== null)
    live.drainTimeout = drain;
  if (recent && Array.isArray(recent.data) && recent.data.length > 0) {
    try {
      live.recent = sessionsFrom(recent.data, `${admin}/sessions/recent`);
    } catch (err) {
      if (!(err instanceof ReplayError)) throw err; // nothing replayable: plan without replay
    }
  }
  if (sess && typeof sess.total === 'number' && sess.by_route && typeof sess.by_route === 'object') {
    live.sessions = { total: sess.total, by_route: sess.by_route as Record<string, number> };
  }
  return live;
}

/** Loads the live config text; a live config that does not load is trouble, not a diff. */
export function loadLive(live: LiveState, name: string): DeclarativeConfig {
  const r = loadConfigText(live.configText, name, { redactedKeys: true });
  if (!r.ok)
    throw new PlanError(
      `the running config does not load:\n${r.problems
        .filter((p) => p.severity === 'error')
        .map(formatProblem)
        .join('\n')}`,
    );
  return r.config;
}
