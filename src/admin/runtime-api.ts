/**
 * Endpoints over the state that outlives snapshots: upstream health (and the manual overrides Kong allows in
 * DB-less mode), Prometheus metrics, open sessions per route.
 */
import type { Balancer } from '../balancer/types.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Snapshot } from '../runtime/snapshot.js';
import { refreshTargetHealth } from '../runtime/target-health.js';
import { findTarget, NOT_FOUND, paginate } from './entities.js';
import { sendEmpty, sendJson } from './http.js';
import type { EntityIndex, Rendered } from './render.js';
import type { Handler, RecentExport } from './types.js';

export interface RuntimeRoutesContext {
  route(key: string, handler: Handler): void;
  snapshot(): Snapshot | undefined;
  index(): EntityIndex;
  runtime: Runtime;
  nodeId: string;
  sessionsByRoute(): Record<string, number> | Promise<Record<string, number>>;
  /** the ring of recent session tuples; undefined where the process has none (a cluster primary) */
  recentSessions?: () => RecentExport;
  /** the whole text of `/metrics` when this process's registry is not all of it (a cluster primary) */
  metricsText?: () => Promise<string>;
}

export function registerRuntimeRoutes(ctx: RuntimeRoutesContext): void {
  const upstreamOf = (key: string): { upstream: Rendered; balancer: Balancer } => {
    const upstream = ctx.index().find('upstreams', key);
    const balancer = upstream && ctx.snapshot()?.balancers.get(upstream.id);
    if (!upstream || !balancer) throw NOT_FOUND();
    return { upstream, balancer };
  };

  ctx.route('GET /upstreams/:id/health', (_req, res, url, p) => {
    const { upstream, balancer } = upstreamOf(p.id!);
    if (url.searchParams.get('balancer_health') === '1') {
      return sendJson(res, 200, {
        data: { health: balancer.healthy() ? 'HEALTHY' : 'UNHEALTHY', id: upstream.id },
        next: null,
        node_id: ctx.nodeId,
      });
    }
    const idx = ctx.index();
    const rows = balancer.health().map((h) => ({
      ...(idx.find('targets', h.id) ?? { id: h.id, target: h.target, upstream: { id: upstream.id } }),
      weight: h.weight,
      health: h.health,
      data: { addresses: h.addresses.map((a) => ({ ip: a.ip, port: a.port, health: a.health, weight: h.weight })) },
    }));
    sendJson(res, 200, { ...paginate(rows, url), node_id: ctx.nodeId });
  });

  const override =
    (healthy: boolean, withAddress: boolean): Handler =>
    (_req, res, _url, p) => {
      const { upstream, balancer } = upstreamOf(p.id!);
      const target = findTarget(ctx.index(), upstream.id, p.target!);
      if (!target) throw NOT_FOUND();
      if (!balancer.setHealth(withAddress ? p.address! : target.id, healthy)) throw NOT_FOUND();
      sendEmpty(res, 204);
    };
  for (const method of ['PUT', 'POST']) {
    for (const [state, healthy] of [
      ['healthy', true],
      ['unhealthy', false],
    ] as const) {
      ctx.route(`${method} /upstreams/:id/targets/:target/${state}`, override(healthy, false));
      ctx.route(`${method} /upstreams/:id/targets/:target/:address/${state}`, override(healthy, true));
    }
  }

  ctx.route('GET /metrics', async (_req, res) => {
    let text: string;
    if (ctx.metricsText)
      text = await ctx.metricsText(); // the workers set their own target health
    else {
      refreshTargetHealth(ctx.runtime, ctx.snapshot());
      text = await ctx.runtime.metrics.metricsText();
    }
    res.writeHead(200, { 'content-type': ctx.runtime.metrics.contentType, 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });

  ctx.route('GET /sessions', async (_req, res) => {
    const byRoute = await ctx.sessionsByRoute();
    let total = 0;
    for (const n of Object.values(byRoute)) total += n;
    sendJson(res, 200, { total, by_route: byRoute });
  });

  ctx.route('GET /sessions/recent', (_req, res) => {
    if (!ctx.recentSessions) {
      return sendJson(res, 404, {
        message: 'recent sessions are kept per worker process: not available with nginx_worker_processes > 1',
      });
    }
    sendJson(res, 200, ctx.recentSessions());
  });
}
