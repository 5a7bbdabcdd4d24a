/**
 * The plain-TCP stream listeners. The server owns the snapshot reference: `swap()` is one assignment, and each
 * connection reads it once, at accept, and keeps it (Traefik's switcher idea), so a reload never changes the
 * route or service of a connection already open.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { KongTsError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ConnInfo } from '../router/types.js';
import type { ListenSpec } from '../settings/types.js';
import type { AccessLog } from './access-log.js';
import type { SessionRecord } from './record.js';
import { emitRecord, Session, type SessionContext } from './session.js';
import type { ProxySnapshot } from './types.js';

export interface StreamServerOptions {
  listeners: ListenSpec[];
  logger: Logger;
  accessLog?: AccessLog;
  onSessionEnd?: (r: SessionRecord) => void;
}

const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'address not available on this machine',
  EAFNOSUPPORT: 'address family not supported',
};

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export class StreamServer {
  #current: ProxySnapshot | undefined;
  readonly #specs: ListenSpec[];
  readonly #servers: Server[] = [];
  readonly #ctx: SessionContext;
  readonly #logger: Logger;
  #accepted = 0;

  constructor(opts: StreamServerOptions) {
    this.#specs = opts.listeners;
    this.#logger = opts.logger;
    this.#ctx = { logger: opts.logger, accessLog: opts.accessLog, onSessionEnd: opts.onSessionEnd, sessions: new Set() };
  }

  /** Installs a new snapshot for connections accepted from now on. */
  swap(snap: ProxySnapshot): void {
    this.#current = snap;
  }

  /** The snapshot new connections get (undefined before the first swap). */
  get current(): ProxySnapshot | undefined {
    return this.#current;
  }

  /** Number of sessions currently open (accepted and not yet finished). */
  get activeSessions(): number {
    return this.#ctx.sessions.size;
  }

  /** Starts every listener; rejects (closing those already started) with a message naming the address. */
  async listen(): Promise<void> {
    try {
      for (const spec of this.#specs) await this.#listenOne(spec);
    } catch (err) {
      await this.#closeServers();
      throw err;
    }
  }

  /** The bound addresses, with the real ports after listening on port 0. */
  addresses(): { host: string; port: number }[] {
    const out: { host: string; port: number }[] = [];
    for (const srv of this.#servers) {
      const a = srv.address();
      if (a && typeof a === 'object') out.push({ host: a.address, port: a.port });
    }
    return out;
  }

  /** Connections accepted, open now, and finished, since start (for GET /status). */
  counters(): { accepted: number; active: number; handled: number } {
    const active = this.#ctx.sessions.size;
    return { accepted: this.#accepted, active, handled: this.#accepted - active };
  }

  /**
   * Stops listening, lets open sessions run for up to `graceMs`, then destroys what is left.
   * Resolves with the number of sessions that were cut.
   */
  async close(graceMs = 0): Promise<number> {
    const closing = this.#closeServers();
    const end = Date.now() + graceMs;
    while (this.#ctx.sessions.size > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
    const cut = this.#ctx.sessions.size;
    for (const s of [...this.#ctx.sessions]) s.abort('proxy');
    await closing;
    return cut;
  }

  #closeServers(): Promise<void> {
    const servers = this.#servers.splice(0);
    return Promise.all(servers.map((srv) => new Promise<void>((resolve) => srv.close(() => resolve())))).then(() => undefined);
  }

  #listenOne(spec: ListenSpec): Promise<void> {
    for (const flag of ['ssl', 'proxyProtocol', 'udp'] as const) {
      if (spec[flag]) {
        const name = flag === 'proxyProtocol' ? 'proxy_protocol' : flag;
        return Promise.reject(new KongTsError('KTS_NOT_SUPPORTED', [`stream_listen '${spec.text}': the '${name}' flag`]));
      }
    }
    const ka = spec.soKeepalive;
    const srv = createServer({
      allowHalfOpen: true,
      pauseOnConnect: true,
      noDelay: true,
      keepAlive: ka?.enabled === true,
      keepAliveInitialDelay: ka?.enabled && ka.idle ? ka.idle * 1000 : 0,
    });
    if (ka?.enabled && (ka.interval !== undefined || ka.count !== undefined)) {
      this.#logger.info({ listen: spec.text }, 'so_keepalive: interval and count are left to the system (Node.js sets only the idle time)');
    }
    if (spec.reuseport) {
      // Node 20 has no SO_REUSEPORT for TCP; one process owns the socket, so the flag changes nothing here
      this.#logger.info({ listen: spec.text }, 'reuseport is accepted and has no effect in a single process');
    }
    srv.on('connection', (socket: Socket) => this.#accept(socket, spec));
    return new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        const why = LISTEN_ERRORS[err.code ?? ''] ?? err.message;
        reject(new KongTsError('KTS_LISTEN_FAILED', [`${hostPort(spec.host, spec.port)} (stream_listen '${spec.text}')`],
          { detail: why, cause: err }));
      };
      srv.once('error', onError);
      srv.listen({ host: spec.host, port: spec.port, backlog: spec.backlog ?? 511, ipv6Only: spec.ipv6only ?? false }, () => {
        srv.off('error', onError);
        srv.on('error', (err: Error) => this.#logger.error({ err, listen: spec.text }, 'stream listener error'));
        this.#servers.push(srv);
        resolve();
      });
    });
  }

  // The accept path never throws: whatever goes wrong closes this one connection and is logged at debug.
  #accept(client: Socket, spec: ListenSpec): void {
    this.#accepted++;
    try {
      this.#route(client, spec);
    } catch (err) {
      this.#logger.debug({ err }, 'stream accept failed');
      client.destroy();
    }
  }

  #route(client: Socket, spec: ListenSpec): void {
    const snap = this.#current;
    const t0 = performance.now();
    const startedAt = Date.now();
    if (client.remoteAddress === undefined) { // already reset by the peer
      client.destroy();
      return;
    }
    if (!snap) {
      this.#logger.debug('connection before any configuration was loaded: closed');
      this.#reject(client, spec, 500, t0, startedAt);
      return;
    }
    const conn: ConnInfo = {
      protocol: 'tcp',
      srcIp: client.remoteAddress,
      srcPort: client.remotePort ?? 0,
      dstIp: client.localAddress ?? '',
      dstPort: client.localPort ?? 0,
    };
    const route = snap.router.match(conn);
    if (!route) {
      this.#logger.info({ src: hostPort(conn.srcIp, conn.srcPort), dst: hostPort(conn.dstIp, conn.dstPort) },
        'no Route found with those values');
      this.#reject(client, spec, 500, t0, startedAt);
      return;
    }
    if (!route.service) {
      this.#logger.info({ route: route.name ?? route.id }, 'route has no service: connection closed');
      this.#reject(client, spec, 500, t0, startedAt, route);
      return;
    }
    new Session(client, this.#ctx, spec, route, route.service, startedAt, t0).start();
  }

  #reject(client: Socket, spec: ListenSpec, status: number, t0: number, startedAt: number,
    route?: { id: string; name?: string }): void {
    const ctx = this.#ctx;
    if (ctx.accessLog || ctx.onSessionEnd) {
      const ip = client.remoteAddress ?? '';
      emitRecord(ctx, {
        session: { received: 0, sent: 0, status, server_port: client.localPort ?? spec.port, closed_by: 'proxy' },
        upstream: { received: 0, sent: 0 },
        latencies: { kong: Math.round(performance.now() - t0), session: Math.round(performance.now() - t0) },
        tries: [],
        route: route ? { id: route.id, name: route.name } : undefined,
        client_ip: ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip,
        client_port: client.remotePort ?? 0,
        listener: spec.text,
        protocol: 'tcp',
        started_at: startedAt,
      });
    }
    client.destroy();
  }
}
