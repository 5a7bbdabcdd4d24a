/**
 * The TCP stream listeners (plain, ssl, proxy_protocol); the accept path itself is in accept.ts. The server owns the snapshot reference: `swap()` is one assignment, and each
 * connection reads it once, at accept, and keeps it (Traefik's switcher idea), so a reload never changes the
 * route or service of a connection already open.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { KongTsError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { ListenSpec } from '../settings/types.js';
import type { AccessLog } from './access-log.js';
import type { SessionRecord } from './record.js';
import type { ConnectionRate } from '../limits/settings.js';
import { compileTrustedIps } from '../proxy-protocol/index.js';
import { acceptConnection, acceptHandle, refuseConnection, type Frontend } from './accept.js';
import { socketOf, type TcpHandle } from './accepted.js';
import { nativeAcceptFits, takeAccepts, type BoundAddress } from './native-accept.js';
import { RateLimitedWarn } from '../log.js';
import { hostPort } from '../net/address.js';
import { listenFailed } from '../net/listen.js';
import { AcceptGuard } from '../limits/accept-guard.js';
import { Limits } from './limits.js';
import { Leases } from '../runtime/leases.js';
import { sessionSweeper } from './session.js';
import type { TcpSession } from './session-types.js';
import type { ProxySnapshot } from './types.js';

export interface StreamServerOptions {
  listeners: ListenSpec[];
  logger: Logger;
  accessLog?: AccessLog;
  onSessionEnd?: (r: SessionRecord) => void;
  metrics?: Metrics;
  /** ms to wait for a TLS ClientHello on ssl listeners (and plain ones that detect TLS) */
  prereadTimeout?: number;
  /** ms an async plugin preread may take before the chain goes on without it */
  pluginDeadline?: number;
  /** who may send PROXY protocol headers (the `trusted_ips` setting) */
  trustedIps?: string[];
  maxConnections?: number;
  maxConnectionsPerIp?: number;
  connectionRatePerIp?: ConnectionRate;
  /** proxied connections the open-file limit allows (limits/fd-budget.ts); new ones beyond it get 503 */
  fdConnections?: number;
  /** the open-file limit it was derived from (for the log) */
  fdLimit?: number;
  /** snapshot leases shared with the UDP server (process/serve.ts), so a snapshot retires after its last session of either */
  leases?: Leases;
}

export class StreamServer {
  #current: ProxySnapshot | undefined;
  readonly #specs: ListenSpec[];
  readonly #servers: Server[] = [];
  readonly #guards: AcceptGuard[] = [];
  readonly #ctx: Frontend;
  readonly #logger: Logger;
  #accepted = 0;
  readonly #fdConnections: number;
  readonly #fdLimit: number | undefined;
  readonly #fdWarn: RateLimitedWarn;
  #fdRefused = 0;

  constructor(opts: StreamServerOptions) {
    this.#specs = opts.listeners;
    this.#logger = opts.logger;
    this.#fdConnections = opts.fdConnections ?? Infinity;
    this.#fdLimit = opts.fdLimit;
    this.#fdWarn = new RateLimitedWarn(opts.logger);
    const trusted = opts.trustedIps?.length ? compileTrustedIps(opts.trustedIps) : undefined;
    if (!trusted && opts.listeners.some((l) => l.proxyProtocol)) {
      opts.logger.warn(
        'a proxy_protocol listener with empty trusted_ips refuses every connection: set trusted_ips to the addresses of your load balancers',
      );
    }
    const sessions = new Set<TcpSession>();
    this.#ctx = {
      logger: opts.logger,
      accessLog: opts.accessLog,
      onSessionEnd: opts.onSessionEnd,
      metrics: opts.metrics,
      sessions,
      sweeper: sessionSweeper(sessions),
      leases: opts.leases ?? new Leases(),
      prereadDeadline: opts.pluginDeadline ?? 3000,
      prereadTimeout: opts.prereadTimeout ?? 5000,
      trusted,
      limits: new Limits(opts),
      onFdShortage: (code) => {
        for (const g of this.#guards) g.noteError({ code });
      },
    };
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

  /**
   * Call when `snap` is replaced: `cb` runs once the last session accepted with it has ended (at once when none is
   * open), so its plugin instances (files, sockets) are closed only when nothing uses them any more. With leases
   * shared with the UDP server, its sessions count too.
   */
  retire(snap: ProxySnapshot, cb: () => void): void {
    this.#ctx.leases.retire(snap, cb);
  }

  /** The sessions open now (for the reload policy). */
  openSessions(): Iterable<TcpSession> {
    return this.#ctx.sessions;
  }

  /** Open sessions per route id (computed on demand for the admin API; nothing is counted per connection). */
  sessionsByRoute(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of this.#ctx.sessions) out[s.route.id] = (out[s.route.id] ?? 0) + 1;
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
    for (const g of this.#guards.splice(0)) g.close();
    const servers = this.#servers.splice(0);
    return Promise.all(servers.map((srv) => new Promise<void>((resolve) => srv.close(() => resolve())))).then(
      () => undefined,
    );
  }

  #listenOne(spec: ListenSpec): Promise<void> {
    if (spec.udp)
      return Promise.reject(
        new KongTsError('KTS_NOT_SUPPORTED', [`stream_listen '${spec.text}': the 'udp' flag on a TCP server`]),
      );
    const ka = spec.soKeepalive;
    const srv = createServer({
      allowHalfOpen: true,
      pauseOnConnect: true,
      noDelay: true,
      keepAlive: ka?.enabled === true,
      keepAliveInitialDelay: ka?.enabled && ka.idle ? ka.idle * 1000 : 0,
    });
    if (ka?.enabled && (ka.interval !== undefined || ka.count !== undefined)) {
      this.#logger.info(
        { listen: spec.text },
        'so_keepalive: interval and count are left to the system (Node.js sets only the idle time)',
      );
    }
    if (spec.reuseport) {
      // Node 20 has no SO_REUSEPORT for TCP; one process owns the socket, so the flag changes nothing here
      this.#logger.info({ listen: spec.text }, 'reuseport is accepted and has no effect in a single process');
    }
    srv.on('connection', (socket: Socket) => this.#accept(socket, spec));
    if (nativeAcceptFits(spec)) takeAccepts(srv, (h, local) => this.#acceptHandle(h, spec, local));
    return new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(listenFailed(err, `${hostPort(spec.host, spec.port)} (stream_listen '${spec.text}')`));
      };
      srv.once('error', onError);
      srv.listen(
        { host: spec.host, port: spec.port, backlog: spec.backlog ?? 511, ipv6Only: spec.ipv6only ?? false },
        () => {
          srv.off('error', onError);
          srv.on('error', (err: Error) => this.#logger.error({ err, listen: spec.text }, 'stream listener error'));
          this.#servers.push(srv);
          // out of descriptors: pause accepting and listen again later, instead of failing every new client
          this.#guards.push(
            new AcceptGuard(srv, {
              logger: this.#logger,
              listen: { backlog: spec.backlog ?? 511, ipv6Only: spec.ipv6only ?? false },
            }),
          );
          resolve();
        },
      );
    });
  }

  /** A bare accepted handle (native-accept.ts): as #accept, with no socket made unless one is needed. */
  #acceptHandle(h: TcpHandle, spec: ListenSpec, local: BoundAddress | undefined): void {
    if (this.#ctx.sessions.size >= this.#fdConnections) return this.#accept(socketOf(h), spec);
    this.#accepted++;
    try {
      acceptHandle(this.#ctx, h, spec, this.#current, local);
    } catch (err) {
      this.#logger.debug({ err }, 'stream accept failed');
      h.close();
    }
  }

  // The accept path never throws: whatever goes wrong closes this one connection and is logged at debug.
  #accept(client: Socket, spec: ListenSpec): void {
    this.#accepted++;
    try {
      if (this.#ctx.sessions.size >= this.#fdConnections) {
        // near the open-file limit: refuse this one cleanly (503, logged) rather than fail its upstream connect
        this.#fdRefused++;
        this.#fdWarn.warn(
          { open: this.#ctx.sessions.size, cap: this.#fdConnections, fdLimit: this.#fdLimit, refused: this.#fdRefused },
          'near the open-file limit: new connection refused (503)',
        );
        refuseConnection(this.#ctx, client, spec, this.#current, 503);
        return;
      }
      acceptConnection(this.#ctx, client, spec, this.#current);
    } catch (err) {
      this.#logger.debug({ err }, 'stream accept failed');
      client.destroy();
    }
  }
}
