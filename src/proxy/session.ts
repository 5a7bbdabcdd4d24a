/**
 * One proxied connection: connect to the service (with retries), pipe both ways with half-close and
 * backpressure, apply the idle limits, and report one SessionRecord at the end.
 *
 * Hot-path rules (design.md, performance notes): every socket listener is a module-level function that finds
 * its Session on the socket, nothing allocates a closure per connection, and upstream reads land in reused
 * buffers (see onUpstreamRead).
 */
import { connect, isIP, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { Peer } from '../balancer/index.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { PluginChain } from '../plugins/chain.js';
import type { PrereadResult } from '../plugins/types.js';
import type { CompiledRoute, CompiledService } from '../router/types.js';
import type { ProxySnapshot } from './types.js';
import type { ListenSpec } from '../settings/types.js';
import type { AccessLog } from './access-log.js';
import type { SessionRecord, TryRecord } from './record.js';
import { resolveHost, type ResolveWaiter } from './resolve.js';
import type { Accepted } from './accept.js';
import type { Hold, Limits } from './limits.js';
import { encodeProxyV1, encodeProxyV2 } from '../proxy-protocol/index.js';
import { Sweeper } from './sweep.js';

/** What every session of one server shares. */
export interface SessionContext {
  readonly logger: Logger;
  readonly accessLog?: AccessLog;
  readonly onSessionEnd?: (r: SessionRecord) => void;
  readonly metrics?: Metrics;
  readonly sessions: Set<Session>;
  /** open sessions per snapshot, and what to do when a retired snapshot's last session ends */
  readonly leases: Leases;
  /** connection limits (released when a session that holds some ends) */
  readonly limits?: Limits;
  /** ms a plugin's async preread may take */
  readonly prereadDeadline: number;
  /** told when a socket call fails for want of file descriptors (EMFILE/ENFILE): the listeners pause accepting */
  readonly onFdShortage?: (code: string) => void;
  /** the server's one timer for connect, read and write timeouts (see sweep.ts and checkSession) */
  readonly sweeper: Sweeper<Session>;
}

/** Counts the sessions of each snapshot, so a retired snapshot's resources are released after its last session. */
export class Leases {
  readonly #open = new Map<object, number>();
  readonly #retired = new Map<object, () => void>();

  acquire(snap: object): void {
    this.#open.set(snap, (this.#open.get(snap) ?? 0) + 1);
  }

  release(snap: object): void {
    const n = (this.#open.get(snap) ?? 1) - 1;
    if (n > 0) return void this.#open.set(snap, n);
    this.#open.delete(snap);
    const cb = this.#retired.get(snap);
    if (cb) {
      this.#retired.delete(snap);
      cb();
    }
  }

  /** `cb` runs once no session holds `snap` (at once when none does). */
  retire(snap: object, cb: () => void): void {
    if (!this.#open.has(snap)) cb();
    else this.#retired.set(snap, cb);
  }
}

/** What a session keeps of the snapshot it was accepted with. */
export interface SessionSnapshot {
  readonly chain?: PluginChain;
}

const SESSION = Symbol('kong-ts.session');
type ProxySocket = Socket & { [SESSION]: Session };

const PREREAD = 3;
const CONNECTING = 0;
const PIPING = 1;
const DONE = 2;

const READ_SIZE = 64 * 1024;
// A read at least this big means a bulk transfer: give the socket a buffer of its own and write without copying.
const BULK_READ = 16 * 1024;

/**
 * Reads of quiet sockets land in this one buffer and are copied out before the callback returns, so it is never
 * referenced by a pending write and idle connections own no read buffer (idle memory per connection matters).
 */
const LANDING = Buffer.allocUnsafe(READ_SIZE);
// Node asks for the next read buffer right after each read callback, with no socket at hand: the callback leaves
// its choice here. Outside that window (a new connect) it is the landing buffer.
let nextRead: Buffer = LANDING;

function nextUpstreamBuffer(): Buffer {
  const b = nextRead;
  nextRead = LANDING;
  return b;
}

const ONREAD = { buffer: nextUpstreamBuffer, callback: onUpstreamRead };

/**
 * Accepted sockets take no `onread` option (only `net.connect` does). Node keeps the option in three symbol-keyed
 * fields of every net.Socket and switches a handle to caller-owned buffers with `useUserBuffer`; when this Node
 * has both, a plain client is read the same way as the upstream (no allocation, no stream machinery per read).
 * Otherwise (another Node version) the client is read through 'data' events, as before.
 */
const USER_BUFFER = ((): { buf: symbol; cb: symbol; gen: symbol } | undefined => {
  try {
    const probe = new Socket();
    const syms = Object.getOwnPropertySymbols(probe);
    const find = (name: string) => syms.find((x) => x.description === name);
    const buf = find('kBuffer');
    const cb = find('kBufferCb');
    const gen = find('kBufferGen');
    if (!buf || !cb || !gen) return undefined;
    const p = probe as unknown as Record<symbol, unknown>;
    if (p[buf] !== null || p[cb] !== null || p[gen] !== null) return undefined;
    return { buf, cb, gen };
  } catch {
    return undefined;
  }
})();

/** Switches a plain, not yet reading client socket to reads into the shared buffers; false when it cannot. */
function readClientIntoBuffers(c: Socket): boolean {
  const u = USER_BUFFER;
  const handle = (c as unknown as { _handle?: { useUserBuffer?: (b: Buffer) => void; reading?: boolean } })._handle;
  if (u === undefined || !handle || typeof handle.useUserBuffer !== 'function' || handle.reading || c.readableLength > 0) return false;
  const f = c as unknown as Record<symbol, unknown>;
  f[u.buf] = LANDING;
  f[u.cb] = onClientRead;
  f[u.gen] = nextUpstreamBuffer;
  handle.useUserBuffer(LANDING);
  return true;
}

/**
 * The session is also the plugins' preread context (client address, listener port, SNI, route, service), so a
 * connection costs one object, not two.
 */
export class Session implements ResolveWaiter {
  readonly client: ProxySocket;
  readonly ctx: SessionContext;
  readonly spec: ListenSpec;
  readonly route: CompiledRoute;
  readonly service: CompiledService;
  readonly snap: object;
  readonly chain: PluginChain | undefined;
  readonly clientIp: string;
  readonly clientPort: number;
  readonly serverIp: string;
  readonly serverPort: number;
  /** what the connection holds of the limits, released at the end */
  readonly hold: Hold | undefined;
  readonly sni: string | undefined;
  /** TLS details for the record (terminated or peeked) */
  tls: SessionRecord['session']['tls'] = undefined;
  /** bytes already read from the client (a peeked ClientHello) to send to the upstream first */
  head: Buffer | null = null;
  logValues: Record<string, unknown> | undefined = undefined;
  upstream: ProxySocket | null = null;
  state = CONNECTING;
  port: number;
  peer: Peer | undefined = undefined;
  /** peers tried by this session (balanced services only) */
  tried: Peer[] | null = null;
  /** the peer counted in the balancer's connections */
  held: Peer | undefined = undefined;
  /** Date.now() and performance.now() at accept */
  readonly startedAt: number;
  readonly t0: number;
  connectedAt = 0;
  tryStart = 0;
  attempts = 0;
  tries: TryRecord[] | null;
  ip = '';
  status = 200;
  closedBy: string | undefined;
  /** reads from either side so far (bumped by the data handlers; the sweep compares it with what it saw) */
  moved = 0;
  /** what the last sweep saw: `moved`, and the bytes waiting to be written to the upstream and to the client */
  seenMoved = 0;
  seenUpPending = 0;
  seenClientPending = 0;
  /** performance.now() of the sweep that last saw progress */
  lastProgress = 0;
  clientClosed = false;
  upstreamClosed = false;
  /** the upstream's and the client's private read buffers while they move bulk data */
  readBuf: Buffer | null = null;
  clientBuf: Buffer | null = null;

  constructor(a: Accepted, client: Socket, ctx: SessionContext, route: CompiledRoute) {
    this.client = client as ProxySocket;
    this.client[SESSION] = this;
    this.ctx = ctx;
    this.spec = a.spec;
    this.route = route;
    this.service = route.service!;
    this.startedAt = a.startedAt;
    this.t0 = a.t0;
    this.snap = a.snap;
    this.chain = a.snap.routeChains?.get(route.id)?.[a.protocol === 'tcp' ? 'tcp' : route.entity.protocols.includes('tls_passthrough') ? 'tls_passthrough' : 'tls'];
    this.clientIp = a.clientIp;
    this.clientPort = a.srcPort;
    this.serverIp = a.dstIp;
    this.serverPort = a.dstPort;
    this.sni = a.sni;
    this.hold = a.hold;
    this.port = this.service.port;
    this.tries = ctx.accessLog || ctx.onSessionEnd || ctx.metrics || this.chain?.hasLog ? [] : null;
    ctx.sessions.add(this);
    ctx.leases.acquire(a.snap);
    ctx.metrics?.connectionOpened();
    const svc = this.service;
    ctx.sweeper.watch(Math.min(svc.connectTimeout, svc.readTimeout, svc.writeTimeout));
    client.on('error', onClientError);
    client.on('close', onClientClose);
    // closed before this session existed (between the TLS handshake and here): end it like any closed client
    if (client.closed) process.nextTick(onClosedEarly, this.client);
  }

  /** The PROXY protocol header (v1 or v2, per the service's tag) that tells the upstream who the client is. */
  proxyHeader(): Buffer {
    const src = { ip: this.clientIp, port: this.clientPort };
    const dst = { ip: this.serverIp, port: this.serverPort };
    return this.service.proxyProtocol === 1 ? encodeProxyV1(src, dst) : encodeProxyV2(src, dst, { authority: this.sni });
  }

  setLogValue(key: string, value: unknown): void {
    (this.logValues ??= {})[key] = value;
  }

  /** Runs the route's preread plugins, then connects. */
  begin(): void {
    const chain = this.chain;
    if (chain?.hasPreread) {
      this.state = PREREAD;
      chain.preread(this, this.ctx.prereadDeadline, onPrereadDone);
    } else {
      this.start();
    }
  }

  prereadDone(result: PrereadResult): void {
    if (this.state !== PREREAD) return; // the client left meanwhile
    this.state = CONNECTING;
    if (result && result.close) {
      this.ctx.logger.info({ route: this.route.name ?? this.route.id, client: this.clientIp, status: result.status, reason: result.reason },
        'connection closed by a plugin');
      this.status = result.status;
      this.closedBy = 'proxy';
      this.client.destroy();
      return;
    }
    this.start();
  }

  /** Starts the first connect: a balancer's peer, or the service host (resolved when it is a name). */
  start(): void {
    if (this.tls && !this.tls.passthrough && clientGone(this.client)) {
      // the client finished before anything was sent (openssl s_time, health probes: close_notify and FIN right after
      // the handshake): an upstream connection would carry nothing, so none is made, as HAProxy does
      this.closedBy = 'client';
      this.client.destroy();
      return;
    }
    if (this.service.balancer) {
      this.pickPeer();
      return;
    }
    const host = this.service.host;
    if (isIP(host)) {
      this.ip = host;
      this.tryConnect();
      return;
    }
    const ip = resolveHost(host, this);
    if (ip !== undefined) {
      this.ip = ip;
      this.tryConnect();
    }
  }

  resolved(err: NodeJS.ErrnoException | null, ip: string): void {
    if (this.state !== CONNECTING || this.clientClosed) return;
    if (err) {
      this.attempts++;
      this.tries?.push({ ip: this.service.host, port: this.service.port, balancer_latency: 0, state: 'failed', code: err.code });
      this.fail(`cannot resolve '${this.service.host}': ${err.code ?? err.message}`);
      return;
    }
    this.ip = ip;
    this.tryConnect();
  }

  /** Asks the balancer for a peer not tried yet (any peer once all were tried); none healthy: 503. */
  pickPeer(): void {
    const b = this.service.balancer!;
    let p = b.pick(this.clientIp, this.tried ?? undefined);
    if (!p && this.tried) p = b.pick(this.clientIp);
    if (!p) {
      this.ctx.logger.warn({ service: this.service.name ?? this.service.id, upstream: b.upstreamName },
        'failure to get a peer from the ring-balancer: no healthy target');
      this.status = this.attempts > 0 ? 502 : 503;
      this.closedBy = 'proxy';
      this.client.destroy();
      return;
    }
    this.peer = p;
    this.ip = p.ip;
    this.port = p.port;
    (this.tried ??= []).push(p);
    this.tryConnect();
  }

  tryConnect(): void {
    this.attempts++;
    this.tryStart = performance.now();
    const tlsOpts = this.service.upstreamTls;
    let up: ProxySocket;
    if (tlsOpts) {
      // tls.connect hands allowHalfOpen on to its TLSSocket (Node's _tls_wrap), though the typings omit it
      // Kong's proxy_ssl_name: the client's SNI with preserve_host, else the upstream's host_header, else the target host
      const name = this.route.entity.preserve_host === true && this.sni ? this.sni : this.service.hostHeader ?? this.peer?.hostname ?? this.service.host;
      const opts: Record<string, unknown> = { ...tlsOpts(name), host: this.ip, port: this.port, allowHalfOpen: true };
      if (this.service.proxyProtocol) {
        // the PROXY header goes before the TLS handshake, on the raw socket (written once it connects)
        const raw = connect({ host: this.ip, port: this.port, allowHalfOpen: true, noDelay: true });
        raw.write(this.proxyHeader());
        opts.socket = raw;
      }
      up = tlsConnect(opts as ConnectionOptions) as unknown as ProxySocket;
      up.setNoDelay(true);
      up.on('secureConnect', onUpstreamConnect);
    } else {
      up = connect({ host: this.ip, port: this.port, allowHalfOpen: true, noDelay: true, onread: ONREAD }) as ProxySocket;
      up.on('connect', onUpstreamConnect);
    }
    up[SESSION] = this;
    this.upstream = up;
    up.on('error', onUpstreamError);
    up.on('close', onUpstreamClose);
  }

  /** A try failed: record it, then retry or give up with 502. */
  tryFailed(up: ProxySocket, state: 'failed' | 'timeout', code: string, detail?: string): void {
    this.upstream = null;
    up.destroy();
    const ms = performance.now() - this.tryStart;
    this.tries?.push({ ip: this.ip, port: this.port, balancer_latency: Math.round(ms), state, code });
    if (this.peer) this.service.balancer!.report(this.peer, state, ms);
    if (code === 'EMFILE' || code === 'ENFILE') this.ctx.onFdShortage?.(code);
    if (this.clientClosed) return this.finish();
    if (this.attempts > this.service.retries) {
      this.fail(state === 'timeout' ? `connect timed out (${this.service.connectTimeout} ms)` : detail ? `${code} (${detail})` : code);
    } else if (this.service.balancer) {
      this.pickPeer();
    } else {
      this.tryConnect();
    }
  }

  fail(cause: string): void {
    this.ctx.logger.warn({ service: this.service.name ?? this.service.id, upstream: `${this.ip || this.service.host}:${this.port}` },
      `upstream connect failed after ${this.attempts} tries: ${cause}`);
    this.status = 502;
    this.closedBy = 'proxy';
    this.client.destroy();
    // the client's 'close' ends the session
  }

  connected(up: ProxySocket): void {
    this.state = PIPING;
    this.lastProgress = this.connectedAt = performance.now();
    const ms = this.connectedAt - this.tryStart;
    this.tries?.push({ ip: this.ip, port: this.port, balancer_latency: Math.round(ms) });
    const s = this.service;
    if (this.peer) {
      s.balancer!.report(this.peer, 'ok', ms);
      s.balancer!.connected(this.peer);
      this.held = this.peer;
    }
    up.on('end', onUpstreamEnd);
    up.on('drain', onUpstreamDrain);
    if (s.upstreamTls) up.on('data', onUpstreamData); // TLS sockets do not take onread: decrypted chunks come as data
    else if (s.proxyProtocol) up.write(this.proxyHeader());
    if (this.head) {
      up.write(this.head);
      this.head = null;
    }
    const c = this.client;
    c.on('end', onClientEnd);
    c.on('drain', onClientDrain);
    if (this.spec.ssl || this.spec.proxyProtocol || !readClientIntoBuffers(c)) c.on('data', onClientData);
    c.resume(); // paused since accept (pauseOnConnect): its bytes waited in the kernel, none were lost
    // a client that finished (TLS: FIN right after its handshake) before we listened for 'end' is not left hanging
    if (c.readableEnded) onClientEnd.call(c);
  }

  /** Ends the pair now (error, timeout, shutdown). */
  abort(by: string): void {
    this.closedBy ??= by;
    this.client.destroy();
    this.upstream?.destroy();
  }

  finish(): void {
    if (this.state === DONE) return;
    this.state = DONE;
    const ctx = this.ctx;
    ctx.sessions.delete(this);
    if (this.held) this.service.balancer!.released(this.held);
    if (this.hold) ctx.limits?.release(this.hold);
    ctx.metrics?.connectionClosed();
    if (this.tries) this.report();
    ctx.leases.release(this.snap);
  }

  report(): void {
    const c = this.client;
    const up = this.upstream;
    const now = performance.now();
    const r: SessionRecord & { plugin_values?: Record<string, unknown> } = {
      session: {
        tls: this.tls,
        received: c.bytesRead, sent: c.bytesWritten, status: this.status,
        server_port: this.serverPort, closed_by: this.closedBy,
      },
      upstream: { received: up?.bytesRead ?? 0, sent: up?.bytesWritten ?? 0 },
      latencies: {
        kong: Math.round((this.connectedAt || now) - this.t0),
        session: Math.round(now - this.t0),
        connect: this.connectedAt ? Math.round(this.connectedAt - this.tryStart) : undefined,
      },
      tries: this.tries!,
      route: { id: this.route.id, name: this.route.name },
      service: { id: this.service.id, name: this.service.name },
      client_ip: this.clientIp,
      client_port: this.clientPort,
      server_ip: this.serverIp,
      config_hash: (this.snap as ProxySnapshot).hash,
      listener: this.spec.text,
      protocol: this.tls ? 'tls' : 'tcp',
      started_at: this.startedAt,
    };
    if (this.logValues) r.plugin_values = this.logValues;
    emitRecord(this.ctx, r, this.chain);
  }
}

/** True when the client's end of the stream was already read and no byte of it waits (nothing to proxy). */
function clientGone(c: Socket): boolean {
  // `_readableState.ended` (EOF received, maybe not yet emitted) has no public name; `readableEnded` is true only
  // after 'end' was emitted, which a paused socket never does
  const st = (c as unknown as { _readableState?: { ended?: boolean } })._readableState;
  return c.destroyed || (st?.ended === true && c.readableLength === 0);
}

function onClosedEarly(c: ProxySocket): void {
  onClientClose.call(c);
}

function onPrereadDone(result: PrereadResult, s: Session): void {
  s.prereadDone(result);
}

/**
 * Hands a record to the access log, the metrics, the plugins' log step and the callback; a throwing consumer never
 * reaches the data path.
 */
export function emitRecord(ctx: SessionContext, r: SessionRecord, chain: PluginChain | undefined): void {
  try {
    ctx.accessLog?.write(r);
    ctx.metrics?.observeSession(r);
    if (chain?.hasLog) chain.log(r);
    ctx.onSessionEnd?.(r);
  } catch (err) {
    ctx.logger.error({ err }, 'session log handler failed');
  }
}

// ---- upstream listeners (this = the upstream socket) ----

function onUpstreamConnect(this: ProxySocket): void {
  const s = this[SESSION];
  if (s.upstream !== this) return;
  if (s.clientClosed) {
    s.upstream = null;
    this.destroy();
    s.finish();
    return;
  }
  s.connected(this);
}

function onUpstreamError(this: ProxySocket, err: NodeJS.ErrnoException): void {
  const s = this[SESSION];
  if (s.upstream !== this) return;
  // a TLS verification code alone (ERR_TLS_CERT_ALTNAME_INVALID) does not say which name or CA: keep the message
  if (s.state === CONNECTING) return s.tryFailed(this, 'failed', err.code ?? err.message, err.code && s.service.upstreamTls ? err.message : undefined);
  s.ctx.logger.debug({ err: err.code ?? err.message, side: 'upstream' }, 'stream session error');
  s.abort('upstream');
}

/**
 * The sweep's look at one session (see sweep.ts): connect_timeout bounds a try from its start (TLS handshake
 * included); once piping, progress is a read on either side or a change in the bytes waiting to be written. With no
 * progress, a write pending to the upstream is cut after write_timeout (nginx: a write that makes no progress),
 * otherwise the pair is cut after read_timeout (silent on both sides); write_timeout never extends read_timeout.
 * A client left alone after its upstream closed gets read_timeout to finish.
 */
export function checkSession(s: Session, now: number): void {
  if (s.state === CONNECTING) {
    const up = s.upstream;
    if (up !== null && now - s.tryStart >= s.service.connectTimeout) s.tryFailed(up, 'timeout', 'ETIMEDOUT');
    return;
  }
  if (s.state !== PIPING) return;
  const up = s.upstream;
  const upPending = up === null || s.upstreamClosed ? 0 : up.writableLength;
  const clientPending = s.client.writableLength;
  if (s.moved !== s.seenMoved || upPending !== s.seenUpPending || clientPending !== s.seenClientPending) {
    s.seenMoved = s.moved;
    s.seenUpPending = upPending;
    s.seenClientPending = clientPending;
    s.lastProgress = now;
    return;
  }
  const { readTimeout: r, writeTimeout: w } = s.service;
  const idle = now - s.lastProgress;
  if (s.upstreamClosed) {
    if (idle >= r) s.client.destroy();
    return;
  }
  if (idle < (upPending > 0 && w < r ? w : r)) return;
  s.ctx.logger.debug({ readTimeout: r, writeTimeout: w, pending: upPending }, 'stream session idle timeout');
  s.abort('proxy');
}

/** A new sweeper over a server's sessions. */
export function sessionSweeper(sessions: Set<Session>): Sweeper<Session> {
  return new Sweeper(sessions, checkSession, performance.now.bind(performance));
}

function onUpstreamClose(this: ProxySocket): void {
  const s = this[SESSION];
  if (s.upstream !== this || s.state !== PIPING) return;
  s.upstreamClosed = true;
  const c = s.client;
  if (!this.readableEnded) c.destroy(); // reset, timeout or error: the pair ends
  // else the upstream is gone but the client keeps its side open: the sweep bounds how long it may linger
  if (s.clientClosed) s.finish();
}

function onUpstreamEnd(this: ProxySocket): void {
  const s = this[SESSION];
  s.closedBy ??= 'upstream';
  s.client.end();
}

function onUpstreamDrain(this: ProxySocket): void {
  this[SESSION].client.resume();
}

/** Upstream → client for TLS upstreams (decrypted chunks are fresh buffers: no copy needed). */
function onUpstreamData(this: ProxySocket, chunk: Buffer): void {
  const s = this[SESSION];
  s.moved++;
  if (!s.client.write(chunk)) this.pause();
}

/**
 * Upstream → client. A read that landed in the shared LANDING buffer is copied (it is small, or the first of a
 * burst); a bulk read lands in the socket's own buffer and is written as is, and that buffer is kept only while
 * writes complete synchronously: once a write is queued it owns the bytes, so the next read gets a new buffer.
 */
function onUpstreamRead(this: ProxySocket, nread: number, buf: Buffer): boolean {
  const s = this[SESSION];
  const c = s.client;
  s.moved++;
  let ok: boolean;
  if (buf === LANDING) {
    const copy = Buffer.allocUnsafe(nread);
    buf.copy(copy, 0, 0, nread);
    ok = c.write(copy);
    if (nread >= BULK_READ) nextRead = s.readBuf = Buffer.allocUnsafe(READ_SIZE);
  } else {
    ok = c.write(buf.subarray(0, nread));
    if (nread < BULK_READ) s.readBuf = null; // quiet again: let the buffer go
    else if (c.writableLength > 0) nextRead = s.readBuf = Buffer.allocUnsafe(READ_SIZE);
    else nextRead = buf;
  }
  return ok; // false pauses the upstream until the client drains
}

// ---- client listeners (this = the client socket) ----

/** Client → upstream for plain clients: the mirror of onUpstreamRead. */
function onClientRead(this: ProxySocket, nread: number, buf: Buffer): boolean {
  const s = this[SESSION];
  const up = s.upstream!;
  s.moved++;
  let ok: boolean;
  if (buf === LANDING) {
    const copy = Buffer.allocUnsafe(nread);
    buf.copy(copy, 0, 0, nread);
    ok = up.write(copy);
    if (nread >= BULK_READ) nextRead = s.clientBuf = Buffer.allocUnsafe(READ_SIZE);
  } else {
    ok = up.write(buf.subarray(0, nread));
    if (nread < BULK_READ) s.clientBuf = null;
    else if (up.writableLength > 0) nextRead = s.clientBuf = Buffer.allocUnsafe(READ_SIZE);
    else nextRead = buf;
  }
  return ok;
}

function onClientData(this: ProxySocket, chunk: Buffer): void {
  const s = this[SESSION];
  const up = s.upstream!;
  s.moved++;
  if (!up.write(chunk)) this.pause();
}

function onClientDrain(this: ProxySocket): void {
  // 'drain' follows a write() that returned false, after which the upstream read callback paused the upstream
  this[SESSION].upstream?.resume();
}

function onClientEnd(this: ProxySocket): void {
  const s = this[SESSION];
  s.closedBy ??= 'client';
  s.upstream?.end();
}

function onClientError(this: ProxySocket, err: NodeJS.ErrnoException): void {
  const s = this[SESSION];
  s.ctx.logger.debug({ err: err.code ?? err.message, side: 'client' }, 'stream session error');
  s.abort('client');
}

function onClientClose(this: ProxySocket): void {
  const s = this[SESSION];
  s.clientClosed = true;
  if (s.state === PREREAD) {
    s.closedBy ??= 'client';
    s.finish();
    return;
  }
  if (s.state === CONNECTING) {
    // gone before the upstream answered: stop the try in flight (its 'close' is ignored) and end here
    s.closedBy ??= 'client';
    const up = s.upstream;
    s.upstream = null;
    up?.destroy();
    s.finish();
    return;
  }
  const up = s.upstream;
  if (up && !this.readableEnded) up.destroy();
  if (s.upstreamClosed || !up) s.finish();
}
