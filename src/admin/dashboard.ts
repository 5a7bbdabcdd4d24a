/**
 * `GET /dashboard`: one self-contained page (dashboard-page.ts) that polls `GET /dashboard/data` at most once a
 * second, and `GET /dashboard/explain` for its route explain box. Read-only.
 *
 * The token rule is the admin API's: with `admin_token` set, every request presents it. A browser cannot send a
 * header on a typed URL, so `/dashboard?token=<admin_token>` is accepted once: the answer is a redirect to
 * `/dashboard` (the token leaves the address bar and the history) that sets an HttpOnly, SameSite=Strict cookie
 * scoped to `/dashboard`. The cookie holds a value derived from the token (not the token), and it is accepted only
 * for GET on `/dashboard` and under it: it never opens the rest of the API, so no other page can use it to write.
 * `Authorization: Bearer <token>` works on every dashboard path too (curl).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import type { TargetHealth } from '../balancer/types.js';
import type { StreamRoute } from '../router/compile.js';
import { explainWith } from '../router/explain.js';
import type { ConnInfo } from '../router/types.js';
import type { Snapshot } from '../runtime/snapshot.js';
import { VERSION } from '../paths.js';
import { hostPort, parseIpPort } from '../net/address.js';
import { explanationText } from '../gitops/explain-format.js';
import { metricTotals } from '../metrics/totals.js';
import { ReloadHistory } from '../runtime/reload-history.js';
import { targetRows } from '../runtime/status-rows.js';
import { Sampler, SAMPLE_EVERY_MS } from './dashboard-history.js';
import { DASHBOARD_CSP, dashboardPage } from './dashboard-page.js';
import { HttpError, sendJson } from './http.js';
import type { AdminState, Handler } from './types.js';

const COOKIE = 'kong_ts_dashboard';

/** Decides whether a request may see the dashboard without the bearer header (the `?token=` or the cookie). */
export class DashboardAuth {
  readonly #token: Buffer | undefined;
  readonly #cookie: string | undefined;

  constructor(token: string | undefined) {
    if (!token) return;
    this.#token = createHash('sha256').update(token).digest();
    this.#cookie = createHash('sha256').update(`kong-ts dashboard\0${token}`).digest('base64url');
  }

  /** an admin_token is set */
  get enabled(): boolean {
    return this.#token !== undefined;
  }

  static isDashboardPath(path: string): boolean {
    return path === '/dashboard' || path.startsWith('/dashboard/');
  }

  /** the `?token=` of the URL is the admin token */
  queryToken(url: URL): boolean {
    const t = url.searchParams.get('token');
    return !!this.#token && t !== null && timingSafeEqual(createHash('sha256').update(t).digest(), this.#token);
  }

  #cookieOk(req: IncomingMessage): boolean {
    const header = req.headers.cookie;
    if (!this.#cookie || !header) return false;
    for (const part of header.split(';')) {
      const eq = part.indexOf('=');
      if (eq < 0 || part.slice(0, eq).trim() !== COOKIE) continue;
      const v = Buffer.from(part.slice(eq + 1).trim()),
        want = Buffer.from(this.#cookie);
      if (v.length === want.length && timingSafeEqual(v, want)) return true;
    }
    return false;
  }

  allows(req: IncomingMessage): boolean {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const url = new URL(req.url ?? '/', 'http://admin');
    if (!DashboardAuth.isDashboardPath(url.pathname)) return false;
    return this.#cookieOk(req) || (url.pathname === '/dashboard' && this.queryToken(url));
  }

  setCookie(): string {
    return `${COOKIE}=${this.#cookie}; Path=/dashboard; HttpOnly; SameSite=Strict`;
  }
}

interface RouteRow {
  id: string;
  name: string | null;
  service: string | null;
  protocols: string[];
  priority: number | null;
  sources: string[];
  destinations: string[];
  snis: string[];
}

function sideList(side: { ip?: string | null; port?: number | null }[] | null | undefined): string[] {
  return (side ?? []).map((p) =>
    p.port !== undefined && p.port !== null ? `${p.ip ? hostPort(p.ip, p.port) : `:${p.port}`}` : (p.ip ?? ''),
  );
}

/** What does not change between two polls of one snapshot: built once per snapshot. */
function routeRows(snap: Snapshot): RouteRow[] {
  const priority = new Map<string, number>();
  for (const r of snap.router.routes as readonly StreamRoute[]) priority.set(r.id, r.priority);
  const services = new Map(snap.config.services.map((s) => [s.id, s.name ?? s.id]));
  return snap.config.routes
    .map((r) => ({
      id: r.id,
      name: r.name ?? null,
      service: r.service ? (services.get(r.service) ?? r.service) : null,
      protocols: r.protocols,
      priority: priority.get(r.id) ?? null,
      sources: sideList(r.sources),
      destinations: sideList(r.destinations),
      snis: r.snis ?? [],
    }))
    .sort((a, b) => (b.priority ?? -1) - (a.priority ?? -1) || ((a.name ?? a.id) < (b.name ?? b.id) ? -1 : 1));
}

function upstreamRows(snap: Snapshot, targets: Record<string, TargetHealth[]>): unknown[] {
  return snap.config.upstreams.map((u) => {
    const b = snap.balancers.get(u.id);
    const rows = targets[u.id] ?? (b ? targetRows(b) : []);
    return {
      id: u.id,
      name: u.name,
      algorithm: u.algorithm,
      healthy: b ? b.healthy() : null,
      targets: rows.map((t) => ({
        target: t.target,
        weight: t.weight,
        health: t.health,
        connections: t.addresses.reduce((n, a) => n + (a.connections ?? 0), 0),
        addresses: t.addresses.map((a) => ({
          address: hostPort(a.ip, a.port),
          health: a.health,
          connections: a.connections ?? 0,
        })),
      })),
    };
  });
}

export interface DashboardContext {
  route(key: string, handler: Handler): void;
  state: AdminState;
  auth: DashboardAuth;
  /** the admin API's own bound addresses */
  adminAddresses(): { host: string; port: number }[];
}

/** Registers the dashboard's routes; returns a stop function (the sampler's timer). */
export function registerDashboard(ctx: DashboardContext): () => void {
  const { state, auth } = ctx;
  const reloads = state.dashboard?.reloads ?? new ReloadHistory(state.manager);
  const totals =
    state.dashboard?.totals ?? (async () => metricTotals(state.runtime.metrics, (await state.connections()).accepted));
  const sampler = new Sampler(totals);
  sampler.start();
  const rowsBySnap = new WeakMap<Snapshot, RouteRow[]>();
  const page = dashboardPage();

  const noStore = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
  ctx.route('GET /dashboard', (_req, res, url) => {
    if (auth.enabled && url.searchParams.has('token')) {
      if (!auth.queryToken(url)) throw new HttpError(401, { message: 'Unauthorized' });
      res.writeHead(303, { location: '/dashboard', 'set-cookie': auth.setCookie(), ...noStore });
      return void res.end();
    }
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(page),
      ...noStore,
      'content-security-policy': DASHBOARD_CSP,
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
    });
    res.end(page);
  });

  // `?have=<generation>`: the page already holds the route rows of that generation; they are sent again only when
  // the live generation differs, so a poll of a 10k-route config carries the open sessions, not 10k rows
  ctx.route('GET /dashboard/data', async (_req: IncomingMessage, res: ServerResponse, url: URL) => {
    const snap = state.manager.current;
    const [connections, byRoute, cluster, targets] = await Promise.all([
      state.connections(),
      state.sessionsByRoute(),
      state.cluster?.status(),
      state.dashboard?.targets?.() ?? {},
    ]);
    let rows = snap ? rowsBySnap.get(snap) : [];
    if (snap && !rows) rowsBySnap.set(snap, (rows = routeRows(snap)));
    const c = cluster?.connections ?? connections;
    const lastError = reloads.lastError;
    sendJson(
      res,
      200,
      {
        now: Date.now(),
        version: VERSION,
        hostname: hostname(),
        node_id: state.nodeId,
        pid: process.pid,
        uptime_seconds: Math.round((Date.now() - state.startedAt) / 1000),
        poll_ms: SAMPLE_EVERY_MS,
        config: {
          file: state.manager.file,
          hash: snap?.hash ?? null,
          generation: snap?.generation ?? 0,
          loaded_at: snap ? new Date(snap.loadedAt).toISOString() : null,
          last_error: lastError ?? null,
        },
        connections: c,
        listeners: [
          ...(state.dashboard?.listeners() ?? []),
          ...ctx
            .adminAddresses()
            .map((a): { kind: 'admin'; address: string; ssl: boolean; proxy_protocol: boolean } => ({
              kind: 'admin',
              address: hostPort(a.host, a.port),
              ssl: false,
              proxy_protocol: false,
            })),
        ],
        ...(snap && url.searchParams.get('have') === String(snap.generation) ? {} : { routes: rows ?? [] }),
        sessions_by_route: byRoute,
        upstreams: snap ? upstreamRows(snap, targets) : [],
        workers: cluster?.workers ?? null,
        reloads: [...reloads.entries()].reverse(),
        rates: sampler.rates(),
      },
      noStore,
    );
  });

  ctx.route('GET /dashboard/explain', (_req, res, url) => {
    const q = url.searchParams;
    const bad = (message: string) => new HttpError(400, { message });
    const sni = q.get('sni')?.trim() || undefined;
    const protocol = (q.get('protocol') || (sni !== undefined ? 'tls' : 'tcp')) as ConnInfo['protocol'];
    if (!['tcp', 'tls', 'udp'].includes(protocol)) throw bad(`protocol must be tcp, tls or udp, got '${protocol}'`);
    const src = parseIpPort((q.get('source') ?? '').trim()),
      dst = parseIpPort((q.get('destination') ?? '').trim());
    if (!src) throw bad(`source must be ip:port (e.g. 10.0.0.1:40000 or [::1]:40000), got '${q.get('source') ?? ''}'`);
    if (!dst) throw bad(`destination must be ip:port (e.g. 127.0.0.1:5555), got '${q.get('destination') ?? ''}'`);
    const snap = state.manager.current;
    if (!snap) throw new HttpError(503, { message: 'no configuration loaded' });
    const conn: ConnInfo = { protocol, srcIp: src.ip, srcPort: src.port, dstIp: dst.ip, dstPort: dst.port };
    if (sni !== undefined) conn.sni = sni.toLowerCase();
    // the live snapshot's own compiled router and services: the same matchers the data path runs
    const x = explainWith({ config: snap.config, router: snap.router, services: snap.services }, conn);
    sendJson(res, 200, { generation: snap.generation, ...x, text: explanationText(x, false) }, noStore);
  });

  return () => sampler.stop();
}
