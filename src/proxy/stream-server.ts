/**
 * The plain-TCP stream listeners. The server owns the snapshot reference: `swap()` is one assignment, and each
 * connection reads it once, at accept, and keeps it (Traefik's switcher idea), so a reload never changes the
 * route or service of a connection already open.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { KongTsError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { ConnInfo } from '../router/types.js';
import type { ListenSpec } from '../settings/types.js';
import type { AccessLog } from './access-log.js';
import type { SessionRecord } from './record.js';
import { emitRecord, Leases, Session, type SessionContext } from './session.js';
import type { ProxySnapshot } from './types.js';
import { MAX_HELLO } from '../tls/client-hello.js';
import { peekClientHello } from '../tls/peek.js';
import { terminateTls } from '../tls/terminate.js';

/** Errors on a socket before its session exists (while its ClientHello is read): the peek reports them. */
function onEarlyError(this: Socket, err: NodeJS.ErrnoException): void {
  void err;
}

export interface StreamServerOptions {
  listeners: ListenSpec[];
  logger: Logger;
  accessLog?: AccessLog;
  onSessionEnd?: (r: SessionRecord) => void;
  metrics?: Metrics;
  /** ms to wait for a TLS ClientHello on ssl listeners */
  prereadTimeout?: number;
  /** ms an async plugin preread may take before the chain goes on without it */
  pluginDeadline?: number;
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
  readonly #prereadTimeout: number;
  #accepted = 0;

  constructor(opts: StreamServerOptions) {
    this.#specs = opts.listeners;
    this.#logger = opts.logger;
    this.#prereadTimeout = opts.prereadTimeout ?? 5000;
    this.#ctx = {
      logger: opts.logger, accessLog: opts.accessLog, onSessionEnd: opts.onSessionEnd, metrics: opts.metrics,
      sessions: new Set(), leases: new Leases(), prereadDeadline: opts.pluginDeadline ?? 3000,
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
   * open), so its plugin instances (files, sockets) are closed only when nothing uses them any more.
   */
  retire(snap: ProxySnapshot, cb: () => void): void {
    this.#ctx.leases.retire(snap, cb);
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
    const servers = this.#servers.splice(0);
    return Promise.all(servers.map((srv) => new Promise<void>((resolve) => srv.close(() => resolve())))).then(() => undefined);
  }

  #listenOne(spec: ListenSpec): Promise<void> {
    for (const flag of ['proxyProtocol', 'udp'] as const) {
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
    if (spec.ssl) {
      client.on('error', onEarlyError);
      void this.#routeTls(client, spec, snap, conn, t0, startedAt);
      return;
    }
    const route = snap.router.match(conn);
    if (!route) {
      this.#logger.info({ src: hostPort(conn.srcIp, conn.srcPort), dst: hostPort(conn.dstIp, conn.dstPort) },
        'no Route found with those values');
      this.#reject(client, spec, 500, t0, startedAt, snap);
      return;
    }
    if (!route.service) {
      this.#logger.info({ route: route.name ?? route.id }, 'route has no service: connection closed');
      this.#reject(client, spec, 500, t0, startedAt, snap, route);
      return;
    }
    const ip = conn.srcIp;
    const clientIp = ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
    new Session(client, this.#ctx, spec, route, route.service, startedAt, t0, snap, snap.routeChains?.get(route.id), clientIp).begin();
  }

  /**
   * ssl listeners: read the ClientHello without consuming it, route with its SNI, then either pass the untouched
   * bytes through (tls_passthrough) or terminate TLS with the SNI's certificate and proxy the plain bytes.
   */
  async #routeTls(client: Socket, spec: ListenSpec, snap: ProxySnapshot, conn: ConnInfo, t0: number, startedAt: number): Promise<void> {
    const peek = await peekClientHello(client, { timeoutMs: this.#prereadTimeout, maxBytes: MAX_HELLO + 1024 });
    if (!peek.hello) {
      this.#logger.debug({ src: hostPort(conn.srcIp, conn.srcPort), reason: peek.error }, 'no TLS ClientHello: connection closed');
      this.#ctx.metrics?.tlsHandshake(false);
      this.#reject(client, spec, 400, t0, startedAt, snap);
      return;
    }
    const hello = peek.hello;
    conn.protocol = 'tls';
    conn.sni = hello.sni;
    const route = snap.router.match(conn);
    if (!route || !route.service) {
      this.#logger.info({ src: hostPort(conn.srcIp, conn.srcPort), dst: hostPort(conn.dstIp, conn.dstPort), sni: hello.sni ?? null },
        route ? 'route has no service: connection closed' : 'no Route found with those values');
      this.#reject(client, spec, 500, t0, startedAt, snap, route);
      return;
    }
    const chain = snap.routeChains?.get(route.id);
    const ip = conn.srcIp;
    const clientIp = ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
    const alpn = hello.alpn.length ? hello.alpn : undefined;
    if (route.entity.protocols.includes('tls_passthrough')) {
      const s = new Session(client, this.#ctx, spec, route, route.service, startedAt, t0, snap, chain, clientIp);
      s.sni = hello.sni;
      s.head = peek.buffered;
      s.tls = { sni: hello.sni, alpn, passthrough: true };
      s.begin();
      return;
    }
    if (!snap.certs) {
      this.#reject(client, spec, 500, t0, startedAt, snap, route);
      return;
    }
    terminateTls(client, peek.buffered, snap.certs, { handshakeTimeoutMs: this.#prereadTimeout, sni: hello.sni }, (err, tlsSocket, info) => {
      this.#ctx.metrics?.tlsHandshake(!err);
      if (err || !tlsSocket) {
        this.#logger.debug({ src: hostPort(conn.srcIp, conn.srcPort), sni: hello.sni ?? null, reason: err?.message }, 'TLS handshake failed');
        this.#reject(client, spec, 400, t0, startedAt, snap, route);
        return;
      }
      tlsSocket.pause();
      const s = new Session(tlsSocket, this.#ctx, spec, route, route.service!, startedAt, t0, snap, chain, clientIp);
      s.sni = hello.sni;
      s.tls = { version: info?.version, cipher: info?.cipher, sni: hello.sni, alpn };
      s.begin();
    });
  }

  #reject(client: Socket, spec: ListenSpec, status: number, t0: number, startedAt: number,
    snap?: ProxySnapshot, route?: { id: string; name?: string }): void {
    const ctx = this.#ctx;
    const chain = snap && (route ? snap.routeChains?.get(route.id) : snap.globalChain);
    if (ctx.accessLog || ctx.onSessionEnd || ctx.metrics || chain?.hasLog) {
      const ip = client.remoteAddress ?? '';
      emitRecord(ctx, {
        session: { received: client.bytesRead, sent: 0, status, server_port: client.localPort ?? spec.port, closed_by: 'proxy' },
        upstream: { received: 0, sent: 0 },
        latencies: { kong: Math.round(performance.now() - t0), session: Math.round(performance.now() - t0) },
        tries: [],
        route: route ? { id: route.id, name: route.name } : undefined,
        client_ip: ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip,
        client_port: client.remotePort ?? 0,
        listener: spec.text,
        protocol: 'tcp',
        started_at: startedAt,
      }, chain);
    }
    client.destroy();
  }
}
