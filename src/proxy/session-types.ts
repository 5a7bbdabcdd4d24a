/**
 * What the parts of a TCP session share (session.ts, session-connect.ts, session-pipe.ts, session-record.ts): the
 * states, the socket field that leads a listener back to its session, and the server-wide context. A leaf file: the
 * parts import it, it imports only types.
 */
import type { Socket } from 'node:net';
import type { Leases } from '../runtime/leases.js';
import type { Limits } from './limits.js';
import type { RecordSink } from './emit-record.js';
import type { Session } from './session.js';
import type { Sweeper } from './sweep.js';

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
export type ProxySocket = Socket & { [SESSION]: Session };

/** What every session of one server shares; records go out through it (it is the server's RecordSink). */
export interface SessionContext extends RecordSink {
  readonly sessions: Set<Session>;
  /** open sessions per snapshot (shared with the UDP server), and what to do when a retired snapshot's last one ends */
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
