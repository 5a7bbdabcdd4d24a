/**
 * The UDP stream listeners (`stream_listen = ip:port udp`). Like the TCP StreamServer it owns the snapshot
 * reference: `swap()` is one assignment, and a session reads it once, on its first datagram, keeping its route
 * and upstream until it ends, so a reload only affects sessions that start after it.
 *
 * Limits that keep one noisy source from starving everyone: a cap on sessions (the least recently active one is
 * evicted, and counted) and a cap per client address (its own least recently active session goes first).
 *
 * A wildcard listener (0.0.0.0, ::) cannot tell which local address a datagram was sent to (Node.js has no
 * IP_PKTINFO), so routes see the listener's own address as the destination: listen on the exact addresses when
 * routes match destination IPs.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { lookup } from 'node:dns';
import { isIP } from 'node:net';
import { KongTsError } from '../errors.js';
import type { Logger } from '../log.js';
import type { AccessLog } from '../proxy/access-log.js';
import type { Metrics } from '../metrics/metrics.js';
import { routeChain, type ProxySnapshot } from '../proxy/types.js';
import { buildRecord, emitRecord, wantsRecord } from '../proxy/emit-record.js';
import type { SessionRecord } from '../proxy/record.js';
import type { CompiledRoute, ConnInfo } from '../router/types.js';
import { Leases } from '../runtime/leases.js';
import type { ListenSpec } from '../settings/types.js';
import { UdpSession, type PickPeer, type UdpContext, type UdpCounters, type UdpListener } from './session.js';
import { sessionsOfSource, SessionTable } from './table.js';
import { RateLimitedWarn } from '../log.js';
import { hostPort, unmapIPv4 } from '../net/address.js';
import { listenFailed } from '../net/listen.js';
import { receiveProxied } from './proxy.js';
import { compileTrustedIps, type TrustedIps } from '../proxy-protocol/index.js';
import { relayedCounts, relayListener, unrelayListener } from './native.js';

export type { PickPeer, UdpPeer } from './session.js';

export interface UdpServerOptions {
  /** every `stream_listen` entry; those without the `udp` flag are left to the TCP server */
  listeners: ListenSpec[];
  logger: Logger;
  /** where records go, as on the TCP server: once per session when it ends, and once per datagram no route took */
  accessLog?: AccessLog;
  metrics?: Metrics;
  onSessionEnd?: (r: SessionRecord) => void;
  /** snapshot leases shared with the TCP server (process/serve.ts), so a snapshot retires after its last session of either */
  leases?: Leases;
  /** the balancer hook: see {@link PickPeer} */
  pickPeer?: PickPeer;
  /** sessions open at once over all listeners (default 10,000) */
  maxSessions?: number;
  /** sessions open at once for one client address on one listener (default: a tenth of maxSessions, at least 1) */
  maxSessionsPerSource?: number;
  /** ms an async plugin preread may take before the chain goes on without it */
  pluginDeadline?: number;
  /** sessions the open-file limit leaves to UDP (limits/fd-budget.ts); lowers maxSessions when smaller */
  fdSessions?: number;
  /** the open-file limit it was derived from (for the log) */
  fdLimit?: number;
  /** SO_RCVBUF and SO_SNDBUF of the listener sockets in bytes (default 4 MiB; the kernel may cap it) */
  socketBufferSize?: number;
  /** who may send PROXY protocol v2 datagrams to `udp proxy_protocol` listeners (the `trusted_ips` setting) */
  trustedIps?: string[];
}

export interface UdpStats {
  /** sessions open now */
  sessions: number;
  /** sessions ended early to make room under a cap */
  evicted: number;
  /** datagrams received from clients */
  datagramsIn: number;
  /** datagrams sent to clients */
  datagramsOut: number;
  /** client datagrams not forwarded (no configuration, no route, no service, queue full) */
  dropped: number;
  /** client datagrams that matched no route (included in `dropped`) */
  noRoute: number;
  /** sessions started since the server was made */
  sessionsTotal: number;
}

// Replies go to the client's address, always an IP literal: answering at once skips the tick dns.lookup waits
// for every send.
function literalLookup(
  host: string,
  family: unknown,
  cb: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const f = isIP(host);
  if (f !== 0) cb(null, host, f);
  else lookup(host, family as number, cb);
}

/** What the relay moved for one listener: [datagrams in, out, dropped] (read at once). */
const RELAYED = [0, 0, 0];
/** Adds what the relay moved for a listener ([in, out, dropped]) to datagram counters. */
function addRelayed(c: Pick<UdpCounters, 'datagramsIn' | 'datagramsOut' | 'dropped'>, r: number[]): void {
  c.datagramsIn += r[0]!;
  c.datagramsOut += r[1]!;
  c.dropped += r[2]!;
}
/** sessions compared when a cap makes room (see UdpServer.#leastActive) */
const EVICTION_SAMPLE = 16;

/** The UDP proxy: one socket per listener, one connected upstream socket per client session. */
export class UdpServer {
  #current: ProxySnapshot | undefined;
  readonly #specs: ListenSpec[];
  readonly #listeners: UdpListener[] = [];
  readonly #logger: Logger;
  readonly #ctx: UdpContext;
  readonly #counters: UdpCounters = {
    evicted: 0,
    datagramsIn: 0,
    datagramsOut: 0,
    dropped: 0,
    noRoute: 0,
    sessionsTotal: 0,
  };
  readonly #table = new SessionTable<UdpSession>();
  readonly #max: number;
  readonly #maxPerSource: number;
  readonly #bufferSize: number;
  readonly #capWarn: RateLimitedWarn;
  readonly #sourceCapWarn: RateLimitedWarn;
  readonly #trusted: TrustedIps | undefined;

  constructor(opts: UdpServerOptions) {
    this.#trusted = opts.trustedIps?.length ? compileTrustedIps(opts.trustedIps) : undefined;
    this.#specs = opts.listeners.filter((l) => l.udp);
    this.#logger = opts.logger;
    const configured = Math.max(1, opts.maxSessions ?? 10_000);
    this.#max = Math.max(1, Math.min(configured, opts.fdSessions ?? Infinity));
    if (this.#max < configured && this.#specs.length > 0) {
      opts.logger.info(
        { maxSessions: this.#max, configured, fdLimit: opts.fdLimit },
        'udp sessions capped by the open-file limit (descriptors are kept for TCP, the admin API and logs)',
      );
    }
    this.#maxPerSource = Math.max(1, Math.min(this.#max, opts.maxSessionsPerSource ?? Math.ceil(this.#max / 10)));
    this.#capWarn = new RateLimitedWarn(opts.logger);
    this.#sourceCapWarn = new RateLimitedWarn(opts.logger);
    this.#bufferSize = opts.socketBufferSize ?? 4 * 1024 * 1024;
    this.#ctx = {
      logger: opts.logger,
      accessLog: opts.accessLog,
      metrics: opts.metrics,
      onSessionEnd: opts.onSessionEnd,
      table: this.#table,
      counters: this.#counters,
      pickPeer: opts.pickPeer,
      leases: opts.leases ?? new Leases(),
      prereadDeadline: opts.pluginDeadline ?? 3000,
      onFdShortage: (code) =>
        this.#capWarn.warn(
          { code, sessions: this.#table.size, fdLimit: opts.fdLimit },
          'out of file descriptors: udp session refused (502)',
        ),
    };
  }

  /** Installs a new snapshot for sessions that start from now on. */
  swap(snap: ProxySnapshot): void {
    this.#current = snap;
  }

  get current(): ProxySnapshot | undefined {
    return this.#current;
  }

  get activeSessions(): number {
    return this.#table.size;
  }

  /** The sessions open now (for the reload policy: ending one removes it from the table, so this is a copy). */
  openSessions(): UdpSession[] {
    return this.#table.all();
  }

  /**
   * Call when `snap` is replaced: `cb` runs once the last session that started with it has ended (with leases
   * shared with the TCP server, its connections count too).
   */
  retire(snap: ProxySnapshot, cb: () => void): void {
    this.#ctx.leases.retire(snap, cb);
  }

  stats(): UdpStats {
    const st = { sessions: this.#table.size, ...this.#counters };
    for (const l of this.#listeners) {
      if (l.relay === 0) continue;
      relayedCounts(l.relay, RELAYED);
      addRelayed(st, RELAYED);
    }
    return st;
  }

  /** Binds every udp listener; rejects (closing those already bound) with a message naming the address. */
  async listen(): Promise<void> {
    try {
      for (const spec of this.#specs) await this.#listenOne(spec);
    } catch (err) {
      await this.#closeSockets();
      throw err;
    }
  }

  /** The bound addresses, with the real ports after binding port 0. */
  addresses(): { host: string; port: number }[] {
    return this.#listeners.map((l) => ({ host: l.host, port: l.port }));
  }

  /** Stops listening and ends every session (each reports its record). */
  async close(): Promise<void> {
    const closing = this.#closeSockets();
    for (const s of this.#table.all()) s.end(200, 'proxy');
    await closing;
  }

  #closeSockets(): Promise<void> {
    const ls = this.#listeners.splice(0);
    for (const l of ls) {
      if (l.relay === 0) continue;
      unrelayListener(l.relay, RELAYED); // before the socket closes: the relay holds a duplicate of it
      l.relay = 0;
      addRelayed(this.#counters, RELAYED);
    }
    return Promise.all(
      ls.map(
        (l) =>
          new Promise<void>((resolve) => {
            try {
              l.socket.close(() => resolve());
            } catch {
              resolve();
            }
          }),
      ),
    ).then(() => undefined);
  }

  #listenOne(spec: ListenSpec): Promise<void> {
    if (spec.ssl)
      return Promise.reject(
        new KongTsError('KTS_NOT_SUPPORTED', [`stream_listen '${spec.text}': the 'ssl' flag with 'udp'`]),
      );
    if (spec.proxyProtocol && !this.#trusted) {
      this.#logger.warn(
        { listen: spec.text },
        'a udp proxy_protocol listener with empty trusted_ips drops every datagram: set trusted_ips',
      );
    }
    if (spec.reuseport)
      this.#logger.info({ listen: spec.text }, 'reuseport is accepted and has no effect in a single process');
    const socket = createSocket({
      type: isIP(spec.host) === 6 ? 'udp6' : 'udp4',
      ipv6Only: spec.ipv6only ?? false,
      lookup: literalLookup,
    });
    return new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        try {
          socket.close();
        } catch {
          /* never bound */
        }
        reject(listenFailed(err, `${hostPort(spec.host, spec.port)} (stream_listen '${spec.text}')`));
      };
      socket.once('error', onError);
      socket.bind(spec.port, spec.host, () => {
        socket.off('error', onError);
        // sends to clients that are gone, full buffers: network noise, never fatal
        socket.on('error', (err: NodeJS.ErrnoException) =>
          this.#logger.debug({ code: err.code, listen: spec.text }, 'udp listener error'),
        );
        this.#setBuffers(socket, spec);
        const a = socket.address();
        const l: UdpListener = { socket, spec, host: a.address, port: a.port, sources: new Map(), relay: 0 };
        // the native relay reads plain listeners (udp/native.ts); it hands over what no session's flow takes
        if (!spec.proxyProtocol) l.relay = relayListener(socket, (ip, port, msg) => this.#onMessage(l, msg, ip, port));
        socket.on('message', (msg: Buffer, r: RemoteInfo) => this.#onMessage(l, msg, r.address, r.port));
        this.#listeners.push(l);
        resolve();
      });
    });
  }

  // Payloads reach 65,507 bytes, and a burst of them must not overflow the default ~200 KiB buffers.
  #setBuffers(socket: Socket, spec: ListenSpec): void {
    try {
      socket.setRecvBufferSize(this.#bufferSize);
      socket.setSendBufferSize(this.#bufferSize);
    } catch (err) {
      this.#logger.debug({ err, listen: spec.text }, 'udp socket buffer size not set');
    }
  }

  #onMessage(l: UdpListener, msg: Buffer, ip: string, port: number): void {
    this.#counters.datagramsIn++;
    if (l.spec.proxyProtocol) return this.#onProxied(l, msg, ip, port);
    const s = l.sources.get(ip)?.get(port) as UdpSession | undefined;
    if (s !== undefined) {
      s.fromClient(msg);
      return;
    }
    this.#start(l, msg, ip, port);
  }

  /** proxy_protocol listeners (udp/proxy.ts): sessions are the clients inside the headers; replies go to the sender */
  #onProxied(l: UdpListener, raw: Buffer, fromIp: string, fromPort: number): void {
    const r = receiveProxied(this.#trusted, l, raw, fromIp, fromPort, this.#logger);
    if (r === undefined) {
      this.#counters.dropped++;
      return;
    }
    const s = l.sources.get(r.ip)?.get(r.port) as UdpSession | undefined;
    if (s !== undefined) {
      s.replyIp = fromIp;
      s.replyPort = fromPort;
      s.fromClient(r.msg);
      return;
    }
    const started = this.#start(l, r.msg, r.ip, r.port);
    if (started) {
      started.replyIp = fromIp;
      started.replyPort = fromPort;
    }
  }

  #start(l: UdpListener, msg: Buffer, ip: string, port: number): UdpSession | undefined {
    try {
      return this.#newSession(l, msg, ip, port);
    } catch (err) {
      this.#counters.dropped++;
      this.#logger.debug({ err }, 'udp session start failed');
      return undefined;
    }
  }

  #newSession(l: UdpListener, msg: Buffer, ip: string, port: number): UdpSession | undefined {
    const snap = this.#current;
    if (!snap) {
      this.#counters.dropped++;
      this.#logger.debug('udp datagram before any configuration was loaded: dropped');
      return undefined;
    }
    const conn: ConnInfo = { protocol: 'udp', srcIp: ip, srcPort: port, dstIp: l.host, dstPort: l.port };
    const route = snap.router.match(conn);
    if (!route || !route.service) {
      this.#counters.dropped++;
      if (!route) this.#counters.noRoute++;
      this.#logger.debug(
        { src: hostPort(ip, port), dst: hostPort(l.host, l.port), route: route?.name ?? route?.id },
        route ? 'route has no service: udp datagram dropped' : 'no Route found with those values',
      );
      // logged as a refused TCP connection is: the route's chain when a route took it, else the global plugins
      const chain = route ? routeChain(snap, route, 'udp') : snap.globalChain;
      if (wantsRecord(this.#ctx, chain))
        emitRecord(this.#ctx, this.#rejected(l, msg, ip, port, route, snap.hash), chain);
      return undefined;
    }
    this.#makeRoom(l, ip);
    const s = new UdpSession(this.#ctx, l, ip, port, snap, route, route.service);
    this.#table.add(s);
    this.#logger.debug({ client: hostPort(ip, port), route: route.name ?? route.id }, 'udp session started');
    s.start(msg);
    return s;
  }

  #makeRoom(l: UdpListener, ip: string): void {
    const byPort = l.sources.get(ip);
    if (byPort && byPort.size >= this.#maxPerSource) {
      this.#evict(this.#leastActive(sessionsOfSource<UdpSession>(byPort)));
      this.#sourceCapWarn.warn(
        { client: unmapIPv4(ip), cap: this.#maxPerSource, evicted: this.#counters.evicted },
        'udp sessions of one client address at their cap: its least recently active session was ended for a new one',
      );
    }
    if (this.#table.size < this.#max) return;
    while (this.#table.size >= this.#max) {
      if (!this.#evict(this.#leastActive(this.#table.values()))) break;
    }
    this.#capWarn.warn(
      { cap: this.#max, evicted: this.#counters.evicted },
      'udp sessions at their cap: the least recently active session was ended for a new one',
    );
  }

  /**
   * The least recently active of the first few sessions in `order` (the table's, or one source's). The order is
   * kept by the datagrams that pass through TypeScript; those the native relay moves do not reorder it one by one,
   * so the first EVICTION_SAMPLE are compared by their real last datagram, and those the relay moved datagrams of
   * since the last look go to the back of the order.
   */
  #leastActive(order: IterableIterator<UdpSession>): UdpSession | undefined {
    let victim: UdpSession | undefined;
    let victimIdle = -1;
    const moved: UdpSession[] = [];
    for (let i = 0; i < EVICTION_SAMPLE; i++) {
      const next = order.next();
      if (next.done) break;
      const s = next.value;
      const idle = s.idleMs();
      if (idle > victimIdle) {
        victim = s;
        victimIdle = idle;
      }
      if (s.movedSinceLook()) moved.push(s);
      // a session without a flow sits where its last datagram put it: none after it is less recently active
      if (s.flow === 0) break;
    }
    for (const s of moved) if (s !== victim) this.#table.touch(s);
    return victim;
  }

  #evict(s: UdpSession | undefined): boolean {
    if (!s) return false;
    this.#counters.evicted++;
    this.#logger.debug({ client: hostPort(s.clientIp, s.clientPort) }, 'udp session evicted to make room');
    s.end(200, 'evicted');
    return true;
  }

  #rejected(
    l: UdpListener,
    msg: Buffer,
    ip: string,
    port: number,
    route: CompiledRoute | undefined,
    hash: string | undefined,
  ): SessionRecord {
    return buildRecord({
      route,
      service: undefined,
      clientIp: unmapIPv4(ip),
      clientPort: port,
      serverIp: l.host,
      serverPort: l.port,
      listener: l.spec.text,
      protocol: 'udp',
      configHash: hash,
      startedAt: Date.now(),
      status: 500,
      closedBy: 'proxy',
      received: msg.length,
      sent: 0,
      datagramsReceived: 1,
      datagramsSent: 0,
      upstreamReceived: 0,
      upstreamSent: 0,
      kongMs: 0,
      sessionMs: 0,
      tries: [],
    });
  }
}
