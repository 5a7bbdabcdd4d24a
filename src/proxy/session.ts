/**
 * One proxied TCP connection, from the route's plugins' preread to one SessionRecord at the end. The parts:
 * this file (the session's fields, its states, preread, abort, finish, the client's error and close, the sweep's
 * check), session-connect.ts (peer, connect, retries), session-pipe.ts (bytes both ways) and session-record.ts (the
 * record). Shared types are in session-types.ts, TcpSession among them: what the parts use of a session. They
 * name that interface, never this file, so the imports go one way (this file imports the parts); Session is the
 * only class that implements it.
 *
 * The session is also the plugins' preread context (client address, listener port, SNI, route, service), so a
 * connection costs one object, not two.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Peer } from '../balancer/index.js';
import type { PluginChain } from '../plugins/chain.js';
import type { PrereadResult } from '../plugins/types.js';
import { encodeProxyV1, encodeProxyV2 } from '../proxy-protocol/index.js';
import type { CompiledRoute, CompiledService } from '../router/types.js';
import type { ListenSpec } from '../settings/types.js';
import type { Accepted } from './accepted.js';
import type { Hold } from './limits.js';
import type { SessionRecord, TryRecord } from './record.js';
import { DETACHED, pumpAbort, pumpCancel } from './native-pump.js';
import { hostResolved, pumpedConnectDone, startConnect, tryFailed } from './session-connect.js';
import { reportSession } from './session-record.js';
import { SESSION, SessionState, type ProxySocket, type SessionContext, type TcpSession } from './session-types.js';
import { Sweeper } from './sweep.js';
import { routeChain, type ProxySnapshot } from './types.js';

/**
 * `tryRecords` of a session that keeps a record but has made no try yet: shared, never written. The first try makes
 * an array of exactly one slot; `[]` then push() would reserve 17 slots (152 bytes) for the connection's whole life.
 */
const NO_TRIES: TryRecord[] = [];

export class Session implements TcpSession {
  // ---- what the connection came with (fixed at accept) ----
  /** the client's socket (a never-connected stand-in once the native pump holds the descriptor) */
  client: ProxySocket;
  readonly ctx: SessionContext;
  readonly spec: ListenSpec;
  /** the snapshot the connection was accepted with: its route, service and plugins serve it to the end */
  readonly snap: ProxySnapshot;
  readonly route: CompiledRoute;
  readonly service: CompiledService;
  /** the route's plugin chain for this connection's protocol (routeChain) */
  readonly chain: PluginChain | undefined;
  readonly clientIp: string;
  readonly clientPort: number;
  /** the local address and port the client connected to */
  readonly serverIp: string;
  readonly serverPort: number;
  readonly sni: string | undefined;
  /** what the connection holds of the limits (listener, client IP, route), released when it ends */
  readonly limitHold: Hold | undefined;
  /** Date.now() at accept (the record's started_at) */
  readonly startedAt: number;
  /** performance.now() at accept (latencies are measured from it) */
  readonly acceptedAt: number;
  state = SessionState.Connecting;
  /** TLS details for the record (terminated or peeked) */
  tls: SessionRecord['session']['tls'] = undefined;
  /** bytes already read from the client (a peeked ClientHello, detect's first bytes) to send to the upstream first */
  earlyBytes: Buffer | null = null;
  /** what plugins set for the log step (the record's plugin_values) */
  logValues: Record<string, unknown> | undefined = undefined;

  // ---- connect (session-connect.ts) ----
  upstream: ProxySocket | null = null;
  /** the address being tried or connected: a balancer's peer, or the service host */
  upstreamIp = '';
  upstreamPort: number;
  /** the balancer's peer being tried or connected */
  peer: Peer | undefined = undefined;
  /** peers tried by this session (balanced services only) */
  triedPeers: Peer[] | null = null;
  /** the connected peer, counted in the balancer's connections until the session ends */
  countedPeer: Peer | undefined = undefined;
  attempts = 0;
  /** performance.now() when the current try started, and when the upstream connected (0 before) */
  tryStartedAt = 0;
  connectedAt = 0;
  /** every try, for the record (null when nobody reads records; NO_TRIES: none yet) */
  tryRecords: TryRecord[] | null;

  // ---- pipe (session-pipe.ts, or the native pump: native-pump.ts) ----
  /** the native pump's id for this pair while it moves the bytes (0: the sockets are piped in JavaScript) */
  pumpId = 0;
  /** bytes counted outside the sockets (the pump's, and the sockets' counts when it took them): added in records */
  received = 0;
  sent = 0;
  upstreamReceived = 0;
  upstreamSent = 0;
  /** reads from either side so far (bumped by the data handlers; the sweep compares it with what it saw) */
  reads = 0;
  clientClosed = false;
  upstreamClosed = false;
  /** the upstream's and the client's private read buffers while they move bulk data */
  upstreamReadBuf: Buffer | null = null;
  clientReadBuf: Buffer | null = null;

  // ---- idle check (checkSession): what the last sweep saw ----
  sweptReads = 0;
  /** bytes that were waiting to be written to the upstream and to the client */
  sweptUpstreamPending = 0;
  sweptClientPending = 0;
  /** performance.now() of the sweep that last saw progress */
  lastProgressAt = 0;

  // ---- the end ----
  status = 200;
  /** who closed first: 'client', 'upstream', 'proxy', 'reload' */
  closedBy: string | undefined;

  /** `client` null: the native pump adopts the client's descriptor (native-accept.ts), no socket is made for it */
  constructor(a: Accepted, client: Socket | null, ctx: SessionContext, route: CompiledRoute) {
    this.client = client === null ? DETACHED : (client as ProxySocket);
    this.ctx = ctx;
    this.spec = a.spec;
    this.snap = a.snap;
    this.route = route;
    this.service = route.service!;
    this.chain = routeChain(a.snap, route, a.protocol);
    this.clientIp = a.clientIp;
    this.clientPort = a.srcPort;
    this.serverIp = a.dstIp;
    this.serverPort = a.dstPort;
    this.sni = a.sni;
    this.limitHold = a.limitHold;
    this.startedAt = a.startedAt;
    this.acceptedAt = a.t0;
    this.upstreamPort = this.service.port;
    this.tryRecords = ctx.accessLog || ctx.onSessionEnd || ctx.metrics || this.chain?.hasLog ? NO_TRIES : null;
    ctx.sessions.add(this);
    ctx.leases.acquire(a.snap);
    ctx.metrics?.connectionOpened();
    const svc = this.service;
    ctx.sweeper.watch(Math.min(svc.connectTimeout, svc.readTimeout, svc.writeTimeout));
    if (client === null) return;
    this.client[SESSION] = this;
    client.on('error', onClientError);
    client.on('close', onClientClose);
    // closed before this session existed (between the TLS handshake and here): end it like any closed client
    if (client.closed) process.nextTick(onClosedEarly, this.client);
  }

  /** The PROXY protocol header (v1 or v2, per the service's tag) that tells the upstream who the client is. */
  proxyHeader(): Buffer {
    const src = { ip: this.clientIp, port: this.clientPort };
    const dst = { ip: this.serverIp, port: this.serverPort };
    return this.service.proxyProtocol === 1
      ? encodeProxyV1(src, dst)
      : encodeProxyV2(src, dst, { authority: this.sni });
  }

  /** Notes one connect try for the record (when one is kept). */
  addTry(t: TryRecord): void {
    const tries = this.tryRecords;
    if (tries === NO_TRIES) this.tryRecords = [t];
    else tries?.push(t);
  }

  /** The tries for the record. */
  get recordedTries(): TryRecord[] {
    return this.tryRecords === NO_TRIES || this.tryRecords === null ? [] : this.tryRecords;
  }

  setLogValue(key: string, value: unknown): void {
    (this.logValues ??= {})[key] = value;
  }

  /** Runs the route's preread plugins, then connects. */
  begin(): void {
    const chain = this.chain;
    if (chain?.hasPreread) {
      this.state = SessionState.Preread;
      chain.preread(this, this.ctx.prereadDeadline, onPrereadDone);
    } else {
      startConnect(this);
    }
  }

  prereadDone(result: PrereadResult): void {
    if (this.state !== SessionState.Preread) return; // the client left meanwhile
    this.state = SessionState.Connecting;
    if (result && result.close) {
      this.ctx.logger.info(
        {
          route: this.route.name ?? this.route.id,
          client: this.clientIp,
          status: result.status,
          reason: result.reason,
        },
        'connection closed by a plugin',
      );
      this.status = result.status;
      this.abort('proxy');
      return;
    }
    startConnect(this);
  }

  /** The service host's name resolved (proxy/resolve.ts calls back here). */
  resolved(err: NodeJS.ErrnoException | null, ip: string): void {
    hostResolved(this, err, ip);
  }

  upstreamConnected(errno: number): void {
    pumpedConnectDone(this, errno);
  }

  /** Ends the pair now (error, timeout, shutdown, reload). */
  abort(by: string): void {
    this.closedBy ??= by;
    if (this.pumpId !== 0) return pumpAbort(this.pumpId); // reports the end (finish) before it returns
    this.client.destroy();
    this.upstream?.destroy();
  }

  /** Ends the session once: releases what it holds, reports its record, then lets go of its snapshot. */
  finish(): void {
    if (this.state === SessionState.Done) return;
    this.state = SessionState.Done;
    const ctx = this.ctx;
    ctx.sessions.delete(this);
    if (this.countedPeer) this.service.balancer!.released(this.countedPeer);
    if (this.limitHold) ctx.limits?.release(this.limitHold);
    ctx.metrics?.connectionClosed();
    if (this.tryRecords) reportSession(this);
    ctx.leases.release(this.snap); // after the record: the snapshot's plugins may close now
  }
}

function onClosedEarly(c: ProxySocket): void {
  onClientClose.call(c);
}

function onPrereadDone(result: PrereadResult, s: Session): void {
  s.prereadDone(result);
}

// ---- client listeners for the whole life (this = the client socket); the pipe's are in session-pipe.ts ----

function onClientError(this: ProxySocket, err: NodeJS.ErrnoException): void {
  const s = this[SESSION];
  s.ctx.logger.debug({ err: err.code ?? err.message, side: 'client' }, 'stream session error');
  s.abort('client');
}

function onClientClose(this: ProxySocket): void {
  const s = this[SESSION];
  s.clientClosed = true;
  if (s.state === SessionState.Preread) {
    s.closedBy ??= 'client';
    s.finish();
    return;
  }
  if (s.state === SessionState.Connecting) {
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

/**
 * The sweep's look at one session (see sweep.ts): connect_timeout bounds a try from its start (TLS handshake
 * included); once piping, progress is a read on either side or a change in the bytes waiting to be written. With no
 * progress, a write pending to the upstream is cut after write_timeout (nginx: a write that makes no progress),
 * otherwise the pair is cut after read_timeout (silent on both sides); write_timeout never extends read_timeout.
 * A client left alone after its upstream closed gets read_timeout to finish.
 */
function checkSession(s: TcpSession, now: number): void {
  if (s.state === SessionState.Connecting) {
    if (now - s.tryStartedAt < s.service.connectTimeout) return;
    const up = s.upstream;
    // a try in flight: the upstream socket, or the pump's connect for an adopted client
    if (up !== null) tryFailed(s, up, 'timeout', 'ETIMEDOUT');
    else if (s.pumpId !== 0 && pumpCancel(s.pumpId)) tryFailed(s, null, 'timeout', 'ETIMEDOUT');
    return;
  }
  if (s.state !== SessionState.Piping || s.pumpId !== 0) return; // the pump keeps its own timeouts
  const up = s.upstream;
  const upPending = up === null || s.upstreamClosed ? 0 : up.writableLength;
  const clientPending = s.client.writableLength;
  if (s.reads !== s.sweptReads || upPending !== s.sweptUpstreamPending || clientPending !== s.sweptClientPending) {
    s.sweptReads = s.reads;
    s.sweptUpstreamPending = upPending;
    s.sweptClientPending = clientPending;
    s.lastProgressAt = now;
    return;
  }
  const { readTimeout: r, writeTimeout: w } = s.service;
  const idle = now - s.lastProgressAt;
  if (s.upstreamClosed) {
    if (idle >= r) s.client.destroy();
    return;
  }
  if (idle < (upPending > 0 && w < r ? w : r)) return;
  s.ctx.logger.debug({ readTimeout: r, writeTimeout: w, pending: upPending }, 'stream session idle timeout');
  s.abort('proxy');
}

/** A new sweeper over a server's sessions. */
export function sessionSweeper(sessions: Set<TcpSession>): Sweeper<TcpSession> {
  return new Sweeper(sessions, checkSession, performance.now.bind(performance));
}
