/**
 * The native byte pump (native/pump.c, built by `npm install` with node-gyp): once a plain client and a plain
 * upstream are connected, their descriptors go to C code on the same event loop, which moves the bytes both ways
 * (backpressure, half-close, read and write timeouts) and calls back once when the pair ends. The session keeps
 * its route, limits, balancer count and record; it lets go of its two net.Socket objects, so an idle connection
 * costs a few hundred bytes of C and the Session, and a read costs no JavaScript. While the main thread is held (a
 * reload's build, a collection of its heap), the pump's own thread moves the bytes instead, and what JavaScript must
 * hear waits for the loop.
 *
 * Optional (net/native-addon.ts): without the compiled addon, on a worker thread, or with `KONG_TS_PUMP=js`,
 * sessions are piped by session-pipe.ts as before. A client whose TLS the addon terminates (native/tls.c) is a pair
 * too, from its handshake on (pumpTls); TLS terminated by Node's TLSSocket, and TLS to the upstream, are piped in
 * JavaScript.
 */
import { constants } from 'node:os';
import { Socket } from 'node:net';
import { isFdExhausted } from '../limits/accept-guard.js';
import { errnoName, nativeAddon, type NativeTlsContext } from '../net/native-addon.js';
import type { CompiledService } from '../router/types.js';
import type { ProxySocket, SessionContext, TcpSession } from './session-types.js';

/** The addon's "who closed first" codes (pump.c) as the record's closed_by. */
const CLOSED_BY = [undefined, 'client', 'upstream', 'proxy'] as const;

/** Sessions whose bytes the pump moves, by the pump's id. */
const pumped = new Map<number, TcpSession>();

/** What a session's `client` becomes once the pump has its descriptor: a socket that never connects. */
export const DETACHED = new Socket() as ProxySocket;

const addon = nativeAddon;
addon?.setup(onPairEnd, onConnectDone);
/** How a native TLS handshake ended: `reason` null with the version and cipher, else OpenSSL's reason (or errno). */
export type HandshakeDone = (
  id: number,
  reason: string | null,
  errno: number,
  version: string | undefined,
  cipher: string | undefined,
) => void;

/** Reading a ClientHello: `bytes` is all read so far; `code` 0 (more came), 1 EOF, 2 timeout, -errno. */
export type HelloRead = (id: number, bytes: Buffer, code: number) => void;

/** Where every native handshake's end and every ClientHello the addon read go (accept.ts). */
export function onNativeTls(onHandshake: HandshakeDone, onHello: HelloRead): void {
  addon?.tlsSetup(onHandshake, onHello);
}

/**
 * Has the addon read the ClientHello of a bare accepted client (native accept on ssl listeners); it answers through
 * onNativeHello. The pair's id, or 0 when it cannot (then read it with a socket).
 */
export function helloRead(ctx: SessionContext, fd: number, timeoutMs: number, maxBytes: number): number {
  if (!addon) return 0;
  const id = addon.helloRead(fd, timeoutMs, maxBytes);
  if (id > 0) return id;
  noteFdShortage(ctx, id);
  return 0;
}

/** Has the addon read on: the bytes so far are not a whole ClientHello. */
export function helloContinue(id: number): void {
  addon?.helloContinue(id);
}

/**
 * Gives a client whose hello the addon read back to the caller (a socket serves it from here); `drain` (a refused
 * client) reads and drops what it sent meanwhile, so that closing it sends FIN rather than a reset.
 */
export function helloRelease(id: number, drain = false): void {
  addon?.helloRelease(id, drain);
}

/**
 * Terminates TLS on a pair whose hello the addon read, with `context`; the handshake's end comes through
 * onNativeHandshake. A string when OpenSSL refused the hello at once (the pair has ended).
 */
export function tlsStart(
  id: number,
  context: NativeTlsContext,
  handshakeMs: number,
  svc: CompiledService,
): string | undefined {
  const failed = addon?.tlsStart(id, context, handshakeMs, svc.readTimeout, svc.writeTimeout);
  if (failed === undefined) tlsStarted++;
  return failed;
}

/** Which data path this process uses for plain sessions ('native' when the addon is loaded). */
export const pumpKind: 'native' | 'js' = addon ? 'native' : 'js';

let adopted = 0;

let tlsStarted = 0;

/** TLS handshakes the addon ran since start (native/tls.c). */
export function nativeTlsCount(): number {
  return tlsStarted;
}

/** Clients adopted since start (native accept: no socket was made for them). */
export function adoptedCount(): number {
  return adopted;
}

/** Pairs the pump holds now (0 without the addon). */
export function pumpedCount(): number {
  return addon ? addon.count() : 0;
}

function fdOf(sock: Socket): number {
  const fd = (sock as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' ? fd : -1;
}

function swallow(): void {}

/** Lets go of a socket whose descriptor the pump duplicated: no listener of the session runs for it again. */
function release(sock: Socket): void {
  sock.removeAllListeners();
  sock.on('error', swallow);
  sock.destroy();
}

/**
 * Gives a connected plain pair to the pump, with `early` (the PROXY header, bytes already read from the client)
 * sent to the upstream first. False when it cannot (no addon, TLS, bytes buffered in the client socket, no
 * descriptor, the pump refused): the caller pipes the session itself.
 */
export function handOff(s: TcpSession, up: ProxySocket, early: Buffer | undefined): boolean {
  if (!addon || s.service.upstreamTls || (s.tls && !s.tls.passthrough)) return false;
  const c = s.client;
  if (c.readableLength > 0) return false;
  const cfd = fdOf(c);
  const ufd = fdOf(up);
  if (cfd < 0 || ufd < 0) return false;
  const svc = s.service;
  const id = addon.start(cfd, ufd, early, svc.readTimeout, svc.writeTimeout);
  if (id <= 0) {
    // out of descriptors for the duplicates: this session stays on the TypeScript pipe, and the listeners pause
    // accepting as they do when a connect fails for the same reason
    noteFdShortage(s.ctx, id);
    return false;
  }
  pumped.set(id, s);
  s.pumpId = id;
  s.received += c.bytesRead;
  s.sent += c.bytesWritten;
  s.upstreamReceived += up.bytesRead;
  s.upstreamSent += up.bytesWritten;
  s.earlyBytes = null;
  release(c);
  release(up);
  s.client = DETACHED;
  s.upstream = null;
  return true;
}

/**
 * The peer's and the local address of an accepted descriptor, into `out` ([peerIp, peerPort, localIp, localPort]);
 * false when the pump is not loaded or the socket is gone (ENOTCONN: reset before it was taken).
 */
export function addressesOf(fd: number, out: [string, number, string, number], peerOnly = false): boolean {
  return addon !== undefined && addon.addresses(fd, out, peerOnly) === 0;
}

/**
 * Gives an accepted client's descriptor to the pump before any upstream exists (native accept: accept.ts
 * routePlain), with the service's timeouts: the pair's id, to bind to its session with pumpedSession; 0 when it
 * cannot (no addon, out of descriptors), and the caller makes a socket of it as usual.
 */
export function adopt(ctx: SessionContext, fd: number, svc: CompiledService): number {
  if (!addon) return 0;
  const id = addon.adopt(fd, svc.readTimeout, svc.writeTimeout);
  if (id > 0) {
    adopted++;
    return id;
  }
  noteFdShortage(ctx, id);
  return 0;
}

/**
 * Gives a client whose ClientHello (`hello`, every byte read so far) was read to the addon, which terminates TLS with
 * `context` and tells how the handshake ended through onNativeHandshake: the pair's id (then the socket is let go
 * of), a string when OpenSSL refused the hello at once (the socket is still the caller's, to close), or 0 when the
 * addon cannot take it (no descriptor, bytes left in the socket) and Node's TLS should serve it.
 */
export function pumpTls(
  ctx: SessionContext,
  client: Socket,
  context: NativeTlsContext,
  hello: Buffer,
  handshakeMs: number,
  svc: CompiledService,
): number | string {
  if (!addon || client.readableLength > 0) return 0;
  const fd = fdOf(client);
  if (fd < 0) return 0;
  const r = addon.tlsAdopt(fd, context, hello, handshakeMs, svc.readTimeout, svc.writeTimeout);
  if (typeof r === 'string') return r;
  if (r <= 0) {
    noteFdShortage(ctx, r);
    return 0;
  }
  release(client);
  tlsStarted++;
  return r;
}

/**
 * True when a natively terminated client already ended its side without sending anything (close_notify or FIN
 * right after the handshake: openssl s_time, health probes); what it did send is kept for the upstream.
 */
export function pumpClientGone(id: number): boolean {
  return addon !== undefined && addon.tlsPeek(id);
}

/** Binds an adopted pair to its session: the session connects it with pumpConnect and hears its end. */
export function pumpedSession(s: TcpSession, id: number): void {
  pumped.set(id, s);
  s.pumpId = id;
}

/**
 * Starts the upstream connect of an adopted session to an IP literal, `early` sent first once connected; the
 * session hears how it ended through `upstreamConnected`. 0, or -errno when it could not start.
 */
export function pumpConnect(s: TcpSession, ip: string, port: number, early: Buffer | undefined): number {
  return addon ? addon.connect(s.pumpId, ip, port, early) : -constants.errno.EINVAL;
}

/** Drops an adopted session's connect in flight (connect_timeout); false when none was. */
export function pumpCancel(id: number): boolean {
  return addon !== undefined && addon.cancel(id);
}

function onConnectDone(id: number, errno: number): void {
  pumped.get(id)?.upstreamConnected(errno);
}

/** The pump refused a pair with -errno `id`: out of descriptors pauses the listeners (as a failed connect does). */
function noteFdShortage(ctx: SessionContext, id: number): void {
  const code = errnoName(-id);
  if (isFdExhausted({ code })) ctx.onFdShortage?.(code);
}

/** Ends a pumped pair now; its end is reported through onPairEnd before this returns. */
export function pumpAbort(id: number): void {
  addon?.abort(id);
}

function onPairEnd(id: number, by: number, cRead: number, uWritten: number, uRead: number, cWritten: number): void {
  const s = pumped.get(id);
  if (!s) return;
  pumped.delete(id);
  s.received += cRead;
  s.sent += cWritten;
  s.upstreamReceived += uRead;
  s.upstreamSent += uWritten;
  s.closedBy ??= CLOSED_BY[by];
  s.clientClosed = true;
  s.upstreamClosed = true;
  s.finish();
}
