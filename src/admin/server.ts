import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual, createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../log.js';
import { KongTsError } from '../errors.js';
import { VERSION } from '../paths.js';
import type { ConfigManager } from '../config/manager.js';

/** What the admin API reads of the running proxy. */
export interface AdminState {
  manager: ConfigManager;
  nodeId: string;
  startedAt: number;
  /** counters of the stream server */
  connections: () => { accepted: number; active: number; handled: number };
  settings: Record<string, unknown>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * Kong's admin API, DB-less and read-only: `GET /` and `GET /status` here; other modules add routes with `route()`.
 * Listens on loopback by default; an `admin_token` makes every request present `Authorization: Bearer <token>`.
 */
export class AdminServer {
  #servers: Server[] = [];
  #routes = new Map<string, Handler>();
  #prefixRoutes: [string, Handler][] = [];
  #token: Buffer | undefined;

  constructor(private readonly opts: { listeners: { host: string; port: number }[]; token?: string; logger: Logger; state: AdminState }) {
    this.#token = opts.token ? createHash('sha256').update(opts.token).digest() : undefined;
    this.route('GET /', (_req, res) => sendJson(res, 200, this.#info()));
    this.route('GET /status', (_req, res) => sendJson(res, 200, this.#status()));
  }

  /** Adds a handler for `METHOD /exact/path`, or for every path under a prefix when it ends in `/*`. */
  route(key: string, handler: Handler): void {
    if (key.endsWith('/*')) this.#prefixRoutes.push([key.slice(0, -1), handler]);
    else this.#routes.set(key, handler);
  }

  async listen(): Promise<void> {
    for (const l of this.opts.listeners) {
      const server = createServer((req, res) => void this.#handle(req, res));
      server.keepAliveTimeout = 5000;
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) =>
          reject(new KongTsError('KTS_LISTEN_FAILED', [`admin_listen ${l.host}:${l.port}`], { detail: err.code ?? err.message, cause: err })));
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
    await Promise.all(this.#servers.map((s) => new Promise((r) => { s.close(r); s.closeAllConnections(); })));
    this.#servers = [];
  }

  #authorized(req: IncomingMessage): boolean {
    if (!this.#token) return true;
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (!m) return false;
    return timingSafeEqual(createHash('sha256').update(m[1]!).digest(), this.#token);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (!this.#authorized(req)) return sendJson(res, 401, { message: 'Unauthorized' }, { 'www-authenticate': 'Bearer' });
      const url = new URL(req.url ?? '/', 'http://admin');
      const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
      const handler = this.#routes.get(`${req.method} ${path}`)
        ?? this.#prefixRoutes.find(([p]) => `${req.method} ${path}`.startsWith(p))?.[1];
      if (handler) return await handler(req, res, url);
      if ([...this.#routes.keys()].some((k) => k.endsWith(' ' + path))) return sendJson(res, 405, { message: 'Method not allowed' });
      sendJson(res, 404, { message: 'Not found' });
    } catch (err) {
      this.opts.logger.error({ err, url: req.url }, 'admin API handler failed');
      if (!res.headersSent) sendJson(res, 500, { message: 'An unexpected error occurred' });
      else res.destroy();
    }
  }

  #info(): unknown {
    const s = this.opts.state;
    return {
      version: VERSION,
      edition: 'kong-ts',
      hostname: hostname(),
      node_id: s.nodeId,
      tagline: 'Welcome to kong',
      pids: { master: process.pid, workers: [process.pid] },
      configuration: { database: 'off', ...s.settings },
      plugins: { available_on_server: {}, enabled_in_cluster: [] },
    };
  }

  #status(): unknown {
    const s = this.opts.state;
    const c = s.connections();
    const mem = process.memoryUsage();
    const live = s.manager.current;
    return {
      database: { reachable: true },
      server: {
        connections_accepted: c.accepted, connections_active: c.active, connections_handled: c.handled,
        connections_reading: 0, connections_writing: c.active, connections_waiting: 0, total_requests: c.accepted,
      },
      memory: {
        workers_lua_vms: [{ pid: process.pid, http_allocated_gc: `${(mem.heapUsed / 1048576).toFixed(2)} MiB` }],
        rss: `${(mem.rss / 1048576).toFixed(2)} MiB`,
      },
      configuration_hash: live?.hash ?? '00000000000000000000000000000000',
      configuration_generation: live?.generation ?? 0,
      configuration_loaded_at: live ? new Date(live.loadedAt).toISOString() : null,
      last_config_error: s.manager.stats.lastError ?? null,
      uptime_seconds: Math.round((Date.now() - s.startedAt) / 1000),
    };
  }
}
