import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual, createHash } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { hostname } from 'node:os';
import type { Logger } from '../log.js';
import { KONG_VERSION, VERSION } from '../paths.js';
import { hostPort, unmapIPv4 } from '../net/address.js';
import { listenFailed } from '../net/listen.js';
import { emptyConfig } from '../config/types.js';
import type { Snapshot } from '../runtime/snapshot.js';
import { registerConfigRoutes } from './config-api.js';
import { DashboardAuth, registerDashboard } from './dashboard.js';
import { registerEntityRoutes, writeRefusal } from './entities.js';
import { HttpError, sendEmpty, sendJson } from './http.js';
import { buildIndex, type EntityIndex } from './render.js';
import { registerRuntimeRoutes } from './runtime-api.js';
import type { AdminState, Handler } from './types.js';

interface Entry {
  method: string;
  parts: string[];
  /** the pattern ends in `/*`: it takes every path under its parts */
  prefix: boolean;
  handler: Handler;
}

/** True for addresses only this machine reaches: 127.0.0.0/8, ::1 (also IPv4-mapped) and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = unmapIPv4(h);
  return isIPv4(v4) && v4.startsWith('127.');
}

/**
 * The warning for an admin API that other machines may reach with no token: through it `POST /config` replaces
 * the configuration, which is root-equivalent for the process (file-log appends to any file it can write, custom
 * plugins are code). Undefined when every listener is on loopback or a token is set.
 */
export function exposedAdminWarning(
  listeners: readonly { host: string; port: number }[],
  token: string | undefined,
): string | undefined {
  if (token) return undefined;
  const open = listeners.filter((l) => !isLoopbackHost(l.host)).map((l) => hostPort(l.host, l.port));
  if (open.length === 0) return undefined;
  return (
    `the admin API listens on ${open.join(', ')} without admin_token: whoever reaches it can replace the configuration ` +
    '(POST /config), which is root-equivalent for this process (file-log appends to any file it can write, custom plugins ' +
    'run code in it). Set admin_token, or keep admin_listen on loopback (docs/operations.md, "Security model")'
  );
}

/** Literal segments sort before parameters, so `/plugins/enabled` wins over `/plugins/:id`. */
function byLiteralFirst(a: Entry, b: Entry): number {
  for (let i = 0; i < Math.min(a.parts.length, b.parts.length); i++) {
    const pa = a.parts[i]!.startsWith(':'),
      pb = b.parts[i]!.startsWith(':');
    if (pa !== pb) return pa ? 1 : -1;
  }
  return Number(a.prefix) - Number(b.prefix);
}

function match(e: Entry, segments: readonly string[]): Record<string, string> | undefined {
  if (e.prefix ? segments.length < e.parts.length : segments.length !== e.parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < e.parts.length; i++) {
    const part = e.parts[i]!;
    if (part.startsWith(':')) params[part.slice(1)] = segments[i]!;
    else if (part !== segments[i]) return undefined;
  }
  return params;
}

/**
 * Kong's admin API in DB-less mode: entities read-only, `POST /config`, health, metrics, sessions.
 * Listens on loopback by default; an `admin_token` makes every request present `Authorization: Bearer <token>`.
 */
export class AdminServer {
  #servers: Server[] = [];
  #routes: Entry[] = [];
  #token: Buffer | undefined;
  #indexes = new WeakMap<object, EntityIndex>();
  #emptyIndex: EntityIndex | undefined;
  #dashboardAuth: DashboardAuth;
  #stopDashboard: () => void;

  constructor(
    private readonly opts: {
      listeners: { host: string; port: number }[];
      token?: string;
      logger: Logger;
      state: AdminState;
    },
  ) {
    this.#token = opts.token ? createHash('sha256').update(opts.token).digest() : undefined;
    const exposed = exposedAdminWarning(opts.listeners, opts.token);
    if (exposed) opts.logger.warn({ admin_listen: opts.listeners.map((l) => hostPort(l.host, l.port)) }, exposed);
    const state = opts.state;
    const route = this.route.bind(this);
    this.route('GET /', (_req, res) => sendJson(res, 200, this.#info()));
    this.route('GET /status', async (_req, res) => sendJson(res, 200, await this.#status()));
    registerEntityRoutes({
      route,
      index: () => this.#index(),
      availablePlugins: () => [...state.runtime.plugins.keys()].sort(),
    });
    registerConfigRoutes({ route, manager: state.manager, index: (s) => this.#index(s) });
    registerRuntimeRoutes({
      route,
      snapshot: () => state.manager.current,
      index: () => this.#index(),
      runtime: state.runtime,
      nodeId: state.nodeId,
      sessionsByRoute: state.sessionsByRoute,
      metricsText: state.cluster?.metricsText,
      recentSessions: state.recentSessions,
    });
    this.#dashboardAuth = new DashboardAuth(opts.token);
    this.#stopDashboard = registerDashboard({
      route,
      state,
      auth: this.#dashboardAuth,
      adminAddresses: () => this.addresses(),
    });
  }

  /** Adds a handler for `METHOD /path/:param/...`, or for every path under a prefix when it ends in `/*`. */
  route(key: string, handler: Handler): void {
    const [method, path] = key.split(' ') as [string, string];
    const prefix = path.endsWith('/*');
    const parts = (prefix ? path.slice(0, -2) : path).split('/').filter(Boolean);
    this.#routes.push({ method, parts, prefix, handler });
    this.#routes.sort(byLiteralFirst);
  }

  async listen(): Promise<void> {
    for (const l of this.opts.listeners) {
      const server = createServer((req, res) => void this.#handle(req, res));
      server.keepAliveTimeout = 5000;
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) =>
          reject(listenFailed(err, `admin_listen ${hostPort(l.host, l.port)}`)),
        );
        server.listen({ host: l.host, port: l.port }, () => resolve());
      });
      this.#servers.push(server);
    }
  }

  addresses(): { host: string; port: number }[] {
    return this.#servers.map((s) => {
      const a = s.address() as { address: string; port: number };
      return { host: a.address, port: a.port };
    });
  }

  async close(): Promise<void> {
    this.#stopDashboard();
    await Promise.all(
      this.#servers.map(
        (s) =>
          new Promise((r) => {
            s.close(r);
            s.closeAllConnections();
          }),
      ),
    );
    this.#servers = [];
  }

  /** The rendered entities of a snapshot (the live one by default), built once per snapshot. */
  #index(snap: Snapshot | undefined = this.opts.state.manager.current): EntityIndex {
    if (!snap) return (this.#emptyIndex ??= buildIndex(emptyConfig(), this.opts.state.startedAt));
    let idx = this.#indexes.get(snap);
    if (!idx) this.#indexes.set(snap, (idx = buildIndex(snap.config, snap.loadedAt)));
    return idx;
  }

  #authorized(req: IncomingMessage): boolean {
    if (!this.#token) return true;
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (!m) return false;
    return timingSafeEqual(createHash('sha256').update(m[1]!).digest(), this.#token);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      // Kong's CORS headers (api_helpers.lua cors_filter) on every answer
      res.setHeader('access-control-allow-origin', req.headers.origin ?? '*');
      res.setHeader('access-control-allow-credentials', 'true');
      const method = req.method ?? 'GET';
      // a browser's preflight carries no credentials: OPTIONS answers without the token, and says nothing else
      if (method !== 'OPTIONS' && !this.#authorized(req) && !this.#dashboardAuth.allows(req))
        return sendJson(res, 401, { message: 'Unauthorized' }, { 'www-authenticate': 'Bearer' });
      const url = new URL(req.url ?? '/', 'http://admin');
      let segments: string[];
      try {
        segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
      } catch {
        throw new HttpError(400, { message: 'bad percent-encoding in the path' });
      }
      if (method === 'OPTIONS') return this.#options(req, res, segments);
      let pathMatched = false;
      for (const e of this.#routes) {
        const params = match(e, segments);
        if (!params) continue;
        if (e.method === method || (method === 'HEAD' && e.method === 'GET'))
          return await e.handler(req, res, url, params);
        pathMatched = true;
      }
      const refusal = writeRefusal(method, segments);
      if (refusal) throw refusal;
      if (pathMatched) return sendJson(res, 405, { message: 'Method not allowed' });
      sendJson(res, 404, { message: 'Not found' });
    } catch (err) {
      if (err instanceof HttpError) {
        if (!res.headersSent) sendJson(res, err.status, err.body, err.headers);
        return;
      }
      // a client that went away mid-request is network noise, not a failure of ours
      if (req.destroyed || res.destroyed)
        return this.opts.logger.debug({ err, url: req.url }, 'admin API client went away');
      this.opts.logger.error({ err, url: req.url }, 'admin API handler failed');
      if (!res.headersSent) sendJson(res, 500, { message: 'An unexpected error occurred' });
      else res.destroy();
    }
  }

  /** Kong's OPTIONS: 204 with the path's methods (HEAD beside GET, OPTIONS itself) in Allow; 404 for no such path. */
  #options(req: IncomingMessage, res: ServerResponse, segments: string[]): void {
    const methods = new Set<string>(['OPTIONS']);
    for (const e of this.#routes) {
      if (!match(e, segments)) continue;
      methods.add(e.method);
      if (e.method === 'GET') methods.add('HEAD');
    }
    if (methods.size === 1) return sendJson(res, 404, { message: 'Not found' });
    const allow = [...methods].sort().join(', ');
    const wanted = req.headers['access-control-request-headers'];
    sendEmpty(res, 204, {
      allow,
      'access-control-allow-methods': allow,
      'access-control-allow-headers': typeof wanted === 'string' && wanted ? wanted : 'Content-Type',
    });
  }

  #info(): unknown {
    const s = this.opts.state;
    const available: Record<string, { version: string; priority: number }> = {};
    for (const [name, p] of [...s.runtime.plugins].sort(([a], [b]) => (a < b ? -1 : 1))) {
      available[name] = { version: p.version ?? VERSION, priority: p.priority };
    }
    const enabled = new Set((s.manager.current?.config.plugins ?? []).filter((p) => p.enabled).map((p) => p.name));
    return {
      // Kong's shape: `version` is the Kong version kong-ts is compatible with (decK picks its format from it)
      tagline: 'Welcome to kong',
      version: KONG_VERSION,
      kong_ts_version: VERSION,
      edition: 'community',
      hostname: hostname(),
      node_id: s.nodeId,
      timers: { running: 0, pending: 0 },
      lua_version: `kong-ts on Node.js ${process.versions.node}`,
      pids: { master: process.pid, workers: s.cluster?.pids() ?? [process.pid] },
      configuration: { database: 'off', ...s.settings },
      plugins: { available_on_server: available, enabled_in_cluster: [...enabled].sort() },
    };
  }

  async #status(): Promise<unknown> {
    const s = this.opts.state;
    const cluster = await s.cluster?.status();
    const c = cluster?.connections ?? (await s.connections());
    const mem = process.memoryUsage();
    const live = s.manager.current;
    // Kong's DB-less /status: no `database` entry, the configuration hash beside nginx's numbers
    return {
      server: {
        connections_accepted: c.accepted,
        connections_active: c.active,
        connections_handled: c.handled,
        connections_reading: 0,
        connections_writing: c.active,
        connections_waiting: 0,
        total_requests: c.accepted,
      },
      memory: {
        workers_lua_vms: [{ pid: process.pid, http_allocated_gc: `${(mem.heapUsed / 1048576).toFixed(2)} MiB` }],
        lua_shared_dicts: {},
        rss: `${(mem.rss / 1048576).toFixed(2)} MiB`,
      },
      configuration_hash: live?.hash ?? '00000000000000000000000000000000',
      configuration_generation: live?.generation ?? 0,
      configuration_loaded_at: live ? new Date(live.loadedAt).toISOString() : null,
      last_config_error: s.manager.stats.lastError ?? null,
      uptime_seconds: Math.round((Date.now() - s.startedAt) / 1000),
      ...(cluster ? { workers: cluster.workers } : {}),
    };
  }
}
