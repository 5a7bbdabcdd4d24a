/**
 * What the parts of a TCP session share (session.ts, session-connect.ts, session-pipe.ts, session-record.ts): the
 * states, the socket field that leads a listener back to its session, the server-wide context, and TcpSession, the
 * fields and methods the parts use of a session. A leaf file: the parts import it, it imports only types, none of
 * the parts, so the parts depend on TcpSession and not on session.ts.
 *
 * Session (session.ts) is the one class that implements TcpSession: every session the parts see is a Session, so
 * the functions that take a TcpSession see one object shape. The interface is a compile-time name, nothing more.
 */
import type { Socket } from 'node:net';
import type { Peer } from '../balancer/index.js';
import type { PluginChain } from '../plugins/chain.js';
import type { CompiledRoute, CompiledService } from '../router/types.js';
import type { Leases } from '../runtime/leases.js';
import type { ListenSpec } from '../settings/types.js';
import type { RecordSink } from './emit-record.js';
import type { Limits } from './limits.js';
import type { SessionRecord, TryRecord } from './record.js';
import type { ResolveWaiter } from './resolve.js';
import type { Sweeper } from './sweep.js';
import type { ProxySnapshot } from './types.js';

/** A session's states, in the order it goes through them (Done from any of them). */
export const enum SessionState {
  /** the route's plugins run their preread step */
  Preread,
  /** picking a peer, resolving, connecting (with retries) */
  Connecting,
  /** connected: bytes flow both ways */
  Piping,
  /** ended and reported */
  Done,
}

/** The field every socket of a session carries: module-level listeners find their session with it. */
export const SESSION = Symbol('kong-ts.session');
export type ProxySocket = Socket & { [SESSION]: TcpSession };

/** What every session of one server shares; records go out through it (it is the server's RecordSink). */
export interface SessionContext extends RecordSink {
  readonly sessions: Set<TcpSession>;
  /** open sessions per snapshot (shared with the UDP server), and what to do when a retired snapshot's last one ends */
  readonly leases: Leases;
  /** connection limits (released when a session that holds some ends) */
  readonly limits?: Limits;
  /** ms a plugin's async preread may take */
  readonly prereadDeadline: number;
  /** told when a socket call fails for want of file descriptors (EMFILE/ENFILE): the listeners pause accepting */
  readonly onFdShortage?: (code: string) => void;
  /** the server's one timer for connect, read and write timeouts (see sweep.ts and checkSession) */
  readonly sweeper: Sweeper<TcpSession>;
}

/** One proxied TCP connection as its parts see it; the fields are set and documented in session.ts (Session). */
export interface TcpSession extends ResolveWaiter {
  // ---- what the connection came with (fixed at accept) ----
  client: ProxySocket;
  readonly ctx: SessionContext;
  readonly spec: ListenSpec;
  readonly snap: ProxySnapshot;
  readonly route: CompiledRoute;
  readonly service: CompiledService;
  readonly chain: PluginChain | undefined;
  readonly clientIp: string;
  readonly clientPort: number;
  readonly serverIp: string;
  readonly serverPort: number;
  readonly sni: string | undefined;
  readonly startedAt: number;
  readonly acceptedAt: number;
  state: SessionState;
  tls: SessionRecord['session']['tls'];
  earlyBytes: Buffer | null;
  logValues: Record<string, unknown> | undefined;

  // ---- connect (session-connect.ts) ----
  upstream: ProxySocket | null;
  upstreamIp: string;
  upstreamPort: number;
  peer: Peer | undefined;
  triedPeers: Peer[] | null;
  countedPeer: Peer | undefined;
  attempts: number;
  tryStartedAt: number;
  connectedAt: number;

  // ---- pipe (session-pipe.ts, or the native pump: native-pump.ts) ----
  pumpId: number;
  received: number;
  sent: number;
  upstreamReceived: number;
  upstreamSent: number;
  reads: number;
  clientClosed: boolean;
  upstreamClosed: boolean;
  upstreamReadBuf: Buffer | null;
  clientReadBuf: Buffer | null;

  // ---- idle check (checkSession) ----
  sweptReads: number;
  sweptUpstreamPending: number;
  sweptClientPending: number;
  lastProgressAt: number;

  // ---- the end ----
  status: number;
  closedBy: string | undefined;

  /** The PROXY protocol header (v1 or v2, per the service's tag) that tells the upstream who the client is. */
  proxyHeader(): Buffer;
  /** Notes one connect try for the record (when one is kept). */
  addTry(t: TryRecord): void;
  /** The tries for the record. */
  readonly recordedTries: TryRecord[];
  /** Ends the pair now (error, timeout, shutdown, reload). */
  abort(by: string): void;
  /** The native pump's upstream connect ended (0: connected, else the errno); see native-pump.ts pumpConnect. */
  upstreamConnected(errno: number): void;
  /** Ends the session once: releases what it holds, reports its record, then lets go of its snapshot. */
  finish(): void;
}
