/**
 * One proxied connection: connect to the service (with retries), pipe both ways with half-close and
 * backpressure, apply the idle limits, and report one SessionRecord at the end.
 *
 * Hot-path rules (design.md, performance notes): every socket listener is a module-level function that finds
 * its Session on the socket, nothing allocates a closure per connection, and upstream reads land in reused
 * buffers (see onUpstreamRead).
 */
import { connect, isIP, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log.js';
import type { CompiledRoute, CompiledService } from '../router/types.js';
import type { ListenSpec } from '../settings/types.js';
import type { AccessLog } from './access-log.js';
import type { SessionRecord, TryRecord } from './record.js';
import { resolveHost, type ResolveWaiter } from './resolve.js';

/** What every session of one server shares. */
export interface SessionContext {
  readonly logger: Logger;
  readonly accessLog?: AccessLog;
  readonly onSessionEnd?: (r: SessionRecord) => void;
  readonly sessions: Set<Session>;
}

const SESSION = Symbol('kong-ts.session');
type ProxySocket = Socket & { [SESSION]: Session };

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

export class Session implements ResolveWaiter {
  readonly client: ProxySocket;
  readonly ctx: SessionContext;
  readonly spec: ListenSpec;
  readonly route: CompiledRoute;
  readonly service: CompiledService;
  upstream: ProxySocket | null = null;
  state = CONNECTING;
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
  /** 1 while waiting for the second half of an idle limit (write_timeout shorter than read_timeout) */
  stage = 0;
  clientClosed = false;
  upstreamClosed = false;
  /** the upstream's private read buffer while it moves bulk data */
  readBuf: Buffer | null = null;

  constructor(client: Socket, ctx: SessionContext, spec: ListenSpec, route: CompiledRoute,
    service: CompiledService, startedAt: number, t0: number) {
    this.client = client as ProxySocket;
    this.client[SESSION] = this;
    this.ctx = ctx;
    this.spec = spec;
    this.route = route;
    this.service = service;
    this.startedAt = startedAt;
    this.t0 = t0;
    this.tries = ctx.accessLog || ctx.onSessionEnd ? [] : null;
    ctx.sessions.add(this);
    client.on('error', onClientError);
    client.on('close', onClientClose);
  }

  /** Starts the first connect (after name resolution when the host is not an IP). */
  start(): void {
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

  tryConnect(): void {
    this.attempts++;
    this.tryStart = performance.now();
    const up = connect({ host: this.ip, port: this.service.port, allowHalfOpen: true, noDelay: true, onread: ONREAD }) as ProxySocket;
    up[SESSION] = this;
    this.upstream = up;
    up.setTimeout(this.service.connectTimeout);
    up.on('connect', onUpstreamConnect);
    up.on('error', onUpstreamError);
    up.on('timeout', onUpstreamTimeout);
    up.on('close', onUpstreamClose);
  }

  /** A try failed: record it, then retry or give up with 502. */
  tryFailed(up: ProxySocket, state: 'failed' | 'timeout', code: string): void {
    this.upstream = null;
    up.destroy();
    const ms = performance.now() - this.tryStart;
    this.tries?.push({ ip: this.ip, port: this.service.port, balancer_latency: Math.round(ms), state, code });
    if (this.clientClosed) return this.finish();
    if (this.attempts <= this.service.retries) this.tryConnect();
    else this.fail(state === 'timeout' ? `connect timed out (${this.service.connectTimeout} ms)` : code);
  }

  fail(cause: string): void {
    this.ctx.logger.warn({ service: this.service.name ?? this.service.id, upstream: `${this.ip || this.service.host}:${this.service.port}` },
      `upstream connect failed after ${this.attempts} tries: ${cause}`);
    this.status = 502;
    this.closedBy = 'proxy';
    this.client.destroy();
    // the client's 'close' ends the session
  }

  connected(up: ProxySocket): void {
    this.state = PIPING;
    this.connectedAt = performance.now();
    this.tries?.push({ ip: this.ip, port: this.service.port, balancer_latency: Math.round(this.connectedAt - this.tryStart) });
    const s = this.service;
    up.setTimeout(Math.min(s.readTimeout, s.writeTimeout));
    up.on('end', onUpstreamEnd);
    up.on('drain', onUpstreamDrain);
    const c = this.client;
    c.on('end', onClientEnd);
    c.on('drain', onClientDrain);
    c.on('data', onClientData);
    c.resume(); // paused since accept (pauseOnConnect): its bytes waited in the kernel, none were lost
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
    this.ctx.sessions.delete(this);
    if (this.tries) this.report();
  }

  report(): void {
    const c = this.client;
    const up = this.upstream;
    const now = performance.now();
    const ip = c.remoteAddress ?? '';
    const r: SessionRecord = {
      session: {
        received: c.bytesRead, sent: c.bytesWritten, status: this.status,
        server_port: c.localPort ?? this.spec.port, closed_by: this.closedBy,
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
      client_ip: ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip,
      client_port: c.remotePort ?? 0,
      listener: this.spec.text,
      protocol: 'tcp',
      started_at: this.startedAt,
    };
    emitRecord(this.ctx, r);
  }
}

/** Hands a record to the access log and the callback; a throwing callback never reaches the data path. */
export function emitRecord(ctx: SessionContext, r: SessionRecord): void {
  try {
    ctx.accessLog?.write(r);
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
  if (s.state === CONNECTING) return s.tryFailed(this, 'failed', err.code ?? err.message);
  s.ctx.logger.debug({ err: err.code ?? err.message, side: 'upstream' }, 'stream session error');
  s.abort('upstream');
}

function onUpstreamTimeout(this: ProxySocket): void {
  const s = this[SESSION];
  if (s.upstream !== this) return;
  if (s.state === CONNECTING) return s.tryFailed(this, 'timeout', 'ETIMEDOUT');
  const { readTimeout: r, writeTimeout: w } = s.service;
  // nginx semantics: write_timeout bounds a write that makes no progress, read_timeout a silent upstream;
  // one socket timer does both by waiting the shorter one first, then the rest when nothing is stuck.
  if (s.stage === 0 && w < r && this.writableLength === 0) {
    s.stage = 1;
    this.setTimeout(r - w);
    return;
  }
  s.ctx.logger.debug({ readTimeout: r, writeTimeout: w, pending: this.writableLength }, 'stream session idle timeout');
  s.abort('proxy');
}

function onUpstreamClose(this: ProxySocket): void {
  const s = this[SESSION];
  if (s.upstream !== this || s.state !== PIPING) return;
  s.upstreamClosed = true;
  const c = s.client;
  if (!this.readableEnded) c.destroy(); // reset, timeout or error: the pair ends
  else if (!c.readableEnded && !c.destroyed) {
    // the upstream is gone but the client keeps its side open: bound how long it may linger
    c.setTimeout(s.service.readTimeout);
    c.on('timeout', onClientLinger);
  }
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

/**
 * Upstream → client. A read that landed in the shared LANDING buffer is copied (it is small, or the first of a
 * burst); a bulk read lands in the socket's own buffer and is written as is, and that buffer is kept only while
 * writes complete synchronously: once a write is queued it owns the bytes, so the next read gets a new buffer.
 */
function onUpstreamRead(this: ProxySocket, nread: number, buf: Buffer): boolean {
  const s = this[SESSION];
  const c = s.client;
  if (s.stage !== 0) resetIdle(s, this);
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

function resetIdle(s: Session, up: Socket): void {
  s.stage = 0;
  up.setTimeout(Math.min(s.service.readTimeout, s.service.writeTimeout));
}

// ---- client listeners (this = the client socket) ----

function onClientData(this: ProxySocket, chunk: Buffer): void {
  const s = this[SESSION];
  const up = s.upstream!;
  if (s.stage !== 0) resetIdle(s, up);
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

function onClientLinger(this: ProxySocket): void {
  this.destroy();
}

function onClientClose(this: ProxySocket): void {
  const s = this[SESSION];
  s.clientClosed = true;
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
