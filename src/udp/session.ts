/**
 * One UDP session: a client address and port on one listener, bound to one upstream through one connected
 * dgram socket. Datagrams are forwarded one for one in arrival order (a connected socket and the listener
 * socket each send in call order), so boundaries and order are kept.
 *
 * Idle expiry costs nothing per datagram: each datagram only stores the time, and the session's single timer,
 * when it fires, either ends the session or re-arms itself for the time that is left.
 * Socket listeners are module-level functions that find the session on the socket (no closure per session).
 */
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns';
import { isIP } from 'node:net';
import { constants } from 'node:os';
import { performance } from 'node:perf_hooks';
import { buildRecord, emitRecord, wantsRecord, type RecordSink } from '../proxy/emit-record.js';
import type { SessionRecord, TryRecord } from '../proxy/record.js';
import { routeChain, type ProxySnapshot } from '../proxy/types.js';
import type { Leases } from '../runtime/leases.js';
import type { CompiledRoute, CompiledService } from '../router/types.js';
import type { ListenSpec } from '../settings/types.js';
import type { SessionTable, TableEntry } from './table.js';
import type { PluginChain } from '../plugins/chain.js';
import type { PrereadResult } from '../plugins/types.js';
import { upstreamHeader } from './proxy.js';
import { unmapIPv4 } from '../net/address.js';
import { errnoName } from '../net/native-addon.js';
import { isFdExhausted } from '../limits/accept-guard.js';
import { closeFlow, flowActivity, flowIdleMs, flowSend, openFlow, type FlowOwner } from './native.js';

/** A peer picked by a balancer. */
export interface UdpPeer {
  ip: string;
  port: number;
}

/**
 * Picks the upstream of a new session. Return the peer; `undefined` when the service's host is not an upstream
 * (the session then goes to service.host:service.port); `null` when the upstream has no healthy target (503).
 */
export type PickPeer = (service: CompiledService, clientIp: string) => UdpPeer | null | undefined;

/** One bound listener socket and its sessions. */
export interface UdpListener {
  readonly socket: Socket;
  readonly spec: ListenSpec;
  /** the bound address and port */
  readonly host: string;
  readonly port: number;
  readonly sources: Map<string, Map<number, TableEntry>>;
  /** the native relay's id for this listener (udp/native.ts), 0 when Node's dgram reads it */
  relay: number;
}

export interface UdpCounters {
  evicted: number;
  datagramsIn: number;
  datagramsOut: number;
  dropped: number;
  noRoute: number;
  sessionsTotal: number;
}

/** What every session of one server shares; records go out through it (it is the server's RecordSink). */
export interface UdpContext extends RecordSink {
  readonly table: SessionTable<UdpSession>;
  readonly counters: UdpCounters;
  readonly pickPeer?: PickPeer;
  /** open sessions per snapshot, shared with the TCP server: a retired snapshot's plugins close after the last of both */
  readonly leases: Leases;
  /** ms an async plugin preread may take */
  readonly prereadDeadline: number;
  /** told when an upstream socket cannot be opened for want of descriptors (EMFILE/ENFILE) */
  readonly onFdShortage?: (code: string) => void;
}

const SESSION = Symbol('kong-ts.udp-session');
type UpstreamSocket = Socket & { [SESSION]: UdpSession };

// Datagrams kept while the upstream name resolves; a client that sends more before the answer loses the rest.
const MAX_PENDING = 64;
// Timers can fire a little before the clock says the time is up.
const TIMER_SLACK_MS = 1;
const UPSTREAM_RCVBUF = 1024 * 1024;
const { errno } = constants;
/** a closed flow's counts (udp/native.ts closeFlow), read at once */
const FLOW_COUNTS = [0, 0, 0, 0, 0, 0];

function onPrereadDone(result: PrereadResult, s: UdpSession): void {
  s.prereadDone(result);
}

export class UdpSession implements TableEntry, FlowOwner {
  readonly ctx: UdpContext;
  readonly listener: UdpListener;
  readonly clientIp: string;
  readonly clientPort: number;
  readonly byPort: Map<number, TableEntry>;
  readonly sources: Map<string, Map<number, TableEntry>>;
  /** the snapshot of the session's first datagram: its route, service and plugins serve the session to the end */
  readonly snap: ProxySnapshot;
  readonly route: CompiledRoute;
  readonly service: CompiledService;
  readonly startedAt = Date.now();
  readonly t0 = performance.now();
  lastSeen = this.t0;
  upstream: UpstreamSocket | null = null;
  /** the native relay's flow to the upstream (udp/native.ts) instead of `upstream`; 0 when none */
  flow = 0;
  /** the flow's datagram count when the session was last placed in the table's order (see `movedSinceLook`) */
  flowSeen = 0;
  /** datagrams waiting for the upstream socket to connect (a dgram socket refuses sends until then) */
  pending: Buffer[] | null = [];
  peerIp = '';
  peerPort = 0;
  timer: NodeJS.Timeout | null = null;
  /** ms from the first datagram to its forwarding */
  kongLatency = 0;
  tries: TryRecord[] = [];
  done = false;
  // client side: datagrams and bytes received from the client, sent to the client
  rxCount = 0;
  rxBytes = 0;
  txCount = 0;
  txBytes = 0;
  // upstream side
  upSent = 0;
  upReceived = 0;

  /** where replies go: the client, or the proxy that sent its datagrams (udp/proxy.ts) */
  replyIp: string;
  replyPort: number;
  /** PROXY protocol v2 header sent in front of every upstream datagram (udp/proxy.ts), or null */
  readonly ppHeader: Buffer | null;

  /** the route's udp plugin chain (preread runs before the upstream is picked) */
  readonly chain: PluginChain | undefined;
  logValues: Record<string, unknown> | undefined = undefined;

  constructor(
    ctx: UdpContext,
    listener: UdpListener,
    clientIp: string,
    clientPort: number,
    snap: ProxySnapshot,
    route: CompiledRoute,
    service: CompiledService,
  ) {
    this.snap = snap;
    this.chain = routeChain(snap, route, 'udp');
    this.ctx = ctx;
    this.listener = listener;
    this.clientIp = clientIp;
    this.clientPort = clientPort;
    this.sources = listener.sources;
    this.byPort = listener.sources.get(clientIp) ?? new Map<number, TableEntry>();
    this.route = route;
    this.service = service;
    this.replyIp = clientIp;
    this.replyPort = clientPort;
    this.ppHeader = upstreamHeader(service.proxyProtocol, clientIp, clientPort, listener);
    ctx.leases.acquire(snap);
  }

  /** Picks the upstream and forwards the first datagram. */
  start(first: Buffer): void {
    this.ctx.counters.sessionsTotal++;
    this.timer = setTimeout(onIdleTimer, this.service.readTimeout, this);
    this.timer.unref();
    this.fromClient(first);
    if (this.chain?.hasPreread) this.chain.preread(this, this.ctx.prereadDeadline, onPrereadDone);
    else this.pick();
  }

  // the plugins' preread context (Kong's preread phase runs once per udp session, on its first datagram)
  get serverPort(): number {
    return this.listener.port;
  }
  get sni(): undefined {
    return undefined;
  }
  setLogValue(key: string, value: unknown): void {
    (this.logValues ??= {})[key] = value;
  }

  prereadDone(result: PrereadResult): void {
    if (this.done) return;
    if (result && result.close) {
      this.ctx.logger.info(
        {
          route: this.route.name ?? this.route.id,
          client: unmapIPv4(this.clientIp),
          status: result.status,
          reason: result.reason,
        },
        'udp session closed by a plugin',
      );
      this.end(result.status, 'proxy');
      return;
    }
    this.pick();
  }

  /** Picks the upstream (a balancer's peer, or the service host) and opens the socket to it. */
  pick(): void {
    let peer: UdpPeer | null | undefined;
    if (this.ctx.pickPeer) {
      try {
        peer = this.ctx.pickPeer(this.service, unmapIPv4(this.clientIp));
      } catch (err) {
        this.ctx.logger.error({ err, service: this.service.name ?? this.service.id }, 'udp peer selection failed');
        peer = null;
      }
      if (peer === null) {
        this.ctx.logger.debug(
          { service: this.service.name ?? this.service.id },
          'failure to get a peer from the ring-balancer',
        );
        this.end(503, 'proxy');
        return;
      }
    }
    const host = peer ? peer.ip : this.service.host;
    this.peerPort = peer ? peer.port : this.service.port;
    const family = isIP(host);
    if (family !== 0) {
      this.open(host, family);
      return;
    }
    lookup(host, (err, address, fam) => this.resolved(host, err, address, fam));
  }

  resolved(host: string, err: NodeJS.ErrnoException | null, address: string, family: number): void {
    if (this.done) return;
    if (err) {
      this.tries.push({
        ip: host,
        port: this.peerPort,
        balancer_latency: this.sinceStart(),
        state: 'failed',
        code: err.code,
      });
      this.ctx.logger.debug({ host, code: err.code }, 'udp upstream name did not resolve');
      this.end(502, 'proxy');
      return;
    }
    this.open(address, family);
  }

  open(ip: string, family: number): void {
    this.peerIp = ip;
    if (this.listener.relay !== 0) {
      this.openFlow(ip);
      return;
    }
    let sock: UpstreamSocket;
    try {
      sock = createSocket(family === 6 ? 'udp6' : 'udp4') as UpstreamSocket;
      sock[SESSION] = this;
      sock.on('message', onUpstreamMessage);
      sock.on('error', onUpstreamError);
      sock.on('connect', onUpstreamConnect);
      sock.connect(this.peerPort, ip);
    } catch (err) {
      this.socketFailed(ip, (err as NodeJS.ErrnoException).code);
      return;
    }
    this.upstream = sock;
  }

  /** No upstream socket could be made (or no flow opened): the try fails and the session ends with 502. */
  socketFailed(ip: string, code: string | undefined): void {
    this.tries.push({ ip, port: this.peerPort, balancer_latency: this.sinceStart(), state: 'failed', code });
    this.ctx.logger.debug({ code, upstream: `${ip}:${this.peerPort}` }, 'udp upstream socket failed');
    if (isFdExhausted({ code })) this.ctx.onFdShortage?.(code!);
    this.end(502, 'proxy');
  }

  /** On a relayed listener: the native relay's flow replaces the upstream socket (connected at once: UDP has no handshake). */
  openFlow(ip: string): void {
    const id = openFlow(this.listener.relay, this, this.clientIp, this.clientPort, ip, this.peerPort, this.ppHeader);
    if (id < 0) {
      this.socketFailed(ip, errnoName(-id));
      return;
    }
    this.flow = id;
    this.connected();
  }

  /** The flow's upstream socket failed (udp/native.ts): as an error on the upstream socket. */
  flowFailed(code: string): void {
    upstreamFailed(this, code);
  }

  /** ms since the last datagram either way (the relay's flow counts too). */
  idleMs(): number {
    const js = performance.now() - this.lastSeen;
    return this.flow === 0 ? js : Math.min(js, flowIdleMs(this.flow));
  }

  /**
   * True when the relay moved datagrams of this session since the last look: the table's order (kept by the
   * datagrams that pass through TypeScript) does not know of them, so the caps look before they evict.
   */
  movedSinceLook(): boolean {
    if (this.flow === 0) return false;
    const n = flowActivity(this.flow);
    if (n === this.flowSeen) return false;
    this.flowSeen = n;
    return true;
  }

  /** The upstream socket is connected: send what waited, in order. */
  connected(): void {
    this.tries.push({ ip: this.peerIp, port: this.peerPort, balancer_latency: this.sinceStart() });
    const queued = this.pending!;
    this.pending = null;
    for (let i = 0; i < queued.length; i++) this.toUpstream(queued[i]!);
    this.kongLatency = this.sinceStart();
  }

  /** A datagram from the client. */
  fromClient(msg: Buffer): void {
    this.rxCount++;
    this.rxBytes += msg.length;
    this.lastSeen = performance.now();
    this.ctx.table.touch(this);
    if (this.pending === null) this.toUpstream(msg);
    else if (this.pending.length < MAX_PENDING) this.pending.push(msg);
    else this.ctx.counters.dropped++;
  }

  toUpstream(msg: Buffer): void {
    if (this.done) return;
    this.upSent += msg.length;
    if (this.flow !== 0) {
      const r = flowSend(this.flow, msg);
      if (r < 0 && -r !== errno.EAGAIN) upstreamFailed(this, errnoName(-r));
    } else if (this.ppHeader === null) this.upstream!.send(msg);
    else this.upstream!.send([this.ppHeader, msg]);
  }

  /**
   * Ends the session for the reload policy (runtime/reload-policy.ts): a UDP session has no stream to close, so
   * `close` and a `drain` that runs out end it here, with its record; the client's next datagram starts a new
   * session on the live snapshot.
   */
  abort(by: string): void {
    this.end(200, by);
  }

  /** Ends the session once: closes the upstream socket, leaves the table, reports the record, lets go of its snapshot. */
  end(status: number, closedBy: string): void {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const up = this.upstream;
    this.upstream = null;
    if (up) {
      try {
        up.close();
      } catch {
        /* already closed */
      }
    }
    if (this.flow !== 0) {
      const c = FLOW_COUNTS;
      closeFlow(this.flow, c);
      this.flow = 0;
      this.rxCount += c[0]!;
      this.rxBytes += c[1]!;
      this.txCount += c[2]!;
      this.txBytes += c[3]!;
      this.upSent += c[4]!;
      this.upReceived += c[5]!;
    }
    this.ctx.table.remove(this);
    // logged through the plugins of the snapshot this session started with
    if (wantsRecord(this.ctx, this.chain)) emitRecord(this.ctx, this.record(status, closedBy), this.chain);
    this.ctx.leases.release(this.snap); // after the record: the snapshot's plugins may close now
  }

  record(status: number, closedBy: string): SessionRecord {
    const l = this.listener;
    return buildRecord({
      route: this.route,
      service: this.service,
      clientIp: unmapIPv4(this.clientIp),
      clientPort: this.clientPort,
      serverIp: l.host,
      serverPort: l.port,
      listener: l.spec.text,
      protocol: 'udp',
      configHash: this.snap.hash,
      startedAt: this.startedAt,
      status,
      closedBy,
      received: this.rxBytes,
      sent: this.txBytes,
      datagramsReceived: this.rxCount,
      datagramsSent: this.txCount,
      upstreamReceived: this.upReceived,
      upstreamSent: this.upSent,
      kongMs: this.kongLatency,
      sessionMs: this.sinceStart(),
      tries: this.tries,
      pluginValues: this.logValues,
    });
  }

  sinceStart(): number {
    return Math.round(performance.now() - this.t0);
  }
}

// ---- module-level listeners (this = the upstream socket) ----

function onUpstreamMessage(this: UpstreamSocket, msg: Buffer): void {
  const s = this[SESSION];
  if (s.done) return;
  s.upReceived += msg.length;
  s.txCount++;
  s.txBytes += msg.length;
  s.ctx.counters.datagramsOut++;
  s.lastSeen = performance.now();
  s.ctx.table.touch(s);
  s.listener.socket.send(msg, s.replyPort, s.replyIp);
}

// A burst of replies must not overflow the default ~200 KiB buffer while the event loop is busy; the limit costs
// no memory until datagrams actually queue.
function onUpstreamConnect(this: UpstreamSocket): void {
  const s = this[SESSION];
  if (s.done) return;
  s.connected();
  try {
    this.setRecvBufferSize(UPSTREAM_RCVBUF);
  } catch {
    /* the kernel default stays */
  }
}

// ICMP port unreachable shows up here as ECONNREFUSED on the connected socket.
function onUpstreamError(this: UpstreamSocket, err: NodeJS.ErrnoException): void {
  upstreamFailed(this[SESSION], err.code);
}

/** The upstream socket (or the relay's flow) failed: the try is marked and the session ends with 502. */
function upstreamFailed(s: UdpSession, code: string | undefined): void {
  if (s.done) return;
  s.ctx.logger.debug({ code, upstream: `${s.peerIp}:${s.peerPort}` }, 'udp upstream error');
  if (isFdExhausted({ code })) s.ctx.onFdShortage?.(code!);
  if (s.pending !== null) {
    s.tries.push({ ip: s.peerIp, port: s.peerPort, balancer_latency: s.sinceStart(), state: 'failed', code });
  } else {
    const last = s.tries[s.tries.length - 1]!;
    last.state = 'failed';
    last.code = code;
  }
  s.end(502, 'upstream');
}

function onIdleTimer(s: UdpSession): void {
  if (s.done) return;
  const left = s.service.readTimeout - s.idleMs();
  if (left <= TIMER_SLACK_MS) {
    s.end(200, 'proxy');
    return;
  }
  s.timer = setTimeout(onIdleTimer, left, s);
  s.timer.unref();
}
