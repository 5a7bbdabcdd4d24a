/**
 * The accept path of the stream listeners, from a new socket to a Session:
 *
 *   [PROXY header, trusted peers only] → limits (listener, client IP) → [ClientHello peek on ssl listeners]
 *   → route (source, destination, SNI) → route limit → [TLS termination] → Session (plugins' preread, connect)
 *
 * Every refusal closes that one connection with a status in its session record and never throws. Plain listeners
 * where no TLS route applies never wait for the client's first bytes (server-first protocols work); ssl and
 * proxy_protocol listeners, and plain ones where a TLS route applies (`stream_tls_detect = auto`, decided per
 * snapshot), read before routing, each bounded by `stream_preread_timeout`.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { readProxyHeader, type TrustedIps } from '../proxy-protocol/index.js';
import type { CompiledRoute } from '../router/types.js';
import type { ListenSpec } from '../settings/types.js';
import { MAX_HELLO, parseClientHello, type ClientHello } from '../tls/client-hello.js';
import { peekClientHello } from '../tls/peek.js';
import { ClientCertError, terminateTls, type TlsInfo } from '../tls/terminate.js';
import type { TLSSocket } from 'node:tls';
import { Accepted, acceptedSocket, type TcpHandle } from './accepted.js';
import type { BoundAddress } from './native-accept.js';
import type { Limits } from './limits.js';
import { buildRecord, emitRecord, wantsRecord } from './emit-record.js';
import {
  addressesOf,
  adopt,
  helloContinue,
  helloRead,
  helloRelease,
  onNativeTls,
  pumpedSession,
  pumpTls,
  tlsStart,
} from './native-pump.js';
import { nativeContextFor } from '../tls/native-tls.js';
import { errnoName } from '../net/native-addon.js';
import { Session } from './session.js';
import type { SessionContext } from './session-types.js';
import { routeChain, type ProxySnapshot } from './types.js';
import { hostPort } from '../net/address.js';

export { Accepted } from './accepted.js';

/** What the accept path shares across connections (one per StreamServer). */
export interface Frontend extends SessionContext {
  readonly prereadTimeout: number;
  readonly trusted: TrustedIps | undefined;
  readonly limits: Limits;
}

/** Errors on a socket before its session exists: the PROXY reader and the ClientHello peek report them. */
function onEarlyError(this: Socket, err: NodeJS.ErrnoException): void {
  void err;
}

/** Entry point for every accepted socket. Never throws. */
export function acceptConnection(
  fe: Frontend,
  client: Socket,
  spec: ListenSpec,
  snap: ProxySnapshot | undefined,
): void {
  if (client.remoteAddress === undefined) {
    // already reset by the peer
    client.destroy();
    return;
  }
  if (!snap) {
    fe.logger.debug('connection before any configuration was loaded: closed');
    client.destroy();
    return;
  }
  const a = acceptedSocket(client, spec, snap);
  if (spec.proxyProtocol || spec.ssl) client.on('error', onEarlyError);
  if (spec.proxyProtocol) void readProxy(fe, a);
  else admit(fe, a);
}

/** Where native accept reads a handle's addresses (one array for all: read at once into the Accepted). */
const ADDRESSES: [string, number, string, number] = ['', 0, '', 0];

/**
 * Entry point for a bare accepted handle (native-accept.ts: plain listeners without PROXY protocol or keepalive).
 * The connection goes the same way as a socket's; a socket is made of it only where one is needed (TLS detection,
 * a refusal, a route the pump cannot serve), else the pump adopts its descriptor (routePlain). `local`: the
 * listener's address when it is bound to one, which is then every connection's local address. Never throws.
 */
export function acceptHandle(
  fe: Frontend,
  handle: TcpHandle,
  spec: ListenSpec,
  snap: ProxySnapshot | undefined,
  local?: BoundAddress,
): void {
  if (!snap) {
    fe.logger.debug('connection before any configuration was loaded: closed');
    handle.close();
    return;
  }
  const at = ADDRESSES;
  if (local !== undefined) {
    at[2] = local.ip;
    at[3] = local.port;
  }
  if (!addressesOf(handle.fd, at, local !== undefined)) {
    handle.close(); // already reset by the peer
    return;
  }
  admit(fe, new Accepted(undefined, handle, spec, snap, at[0], at[1], at[2], at[3]));
}

async function readProxy(fe: Frontend, a: Accepted): Promise<void> {
  if (!fe.trusted?.isTrusted(a.srcIp)) {
    fe.logger.info(
      { src: hostPort(a.srcIp, a.srcPort), listen: a.spec.text },
      'PROXY protocol header from an address not in trusted_ips: connection closed',
    );
    return reject(fe, a, 400);
  }
  const r = await readProxyHeader(a.client, { timeoutMs: fe.prereadTimeout });
  if (!r.header) {
    fe.logger.debug(
      { src: hostPort(a.srcIp, a.srcPort), reason: r.error },
      'no valid PROXY protocol header: connection closed',
    );
    return reject(fe, a, 400);
  }
  if (r.header.command === 'PROXY' && r.header.source) {
    a.srcIp = r.header.source.ip;
    a.srcPort = r.header.source.port;
  }
  if (r.rest.length > 0) a.client.unshift(r.rest);
  admit(fe, a);
}

function admit(fe: Frontend, a: Accepted): void {
  if (fe.limits.active) {
    const hold = fe.limits.admit(a.spec, a.clientIp);
    if (typeof hold === 'number') {
      fe.logger.info(
        { client: a.clientIp, listen: a.spec.text, status: hold },
        `connection refused: ${fe.limits.reason}`,
      );
      return reject(fe, a, hold);
    }
    a.limitHold = hold;
  }
  if (a.spec.ssl) {
    if (a.handle === undefined || !readHelloNative(fe, a)) void routeTls(fe, a);
  } else if (a.snap.tlsDetect?.has(a.spec)) void detectTls(fe, a);
  else routePlain(fe, a);
}

/** The route for `a`, or undefined after closing the connection (no route, no service, route full). */
function route(fe: Frontend, a: Accepted): CompiledRoute | undefined {
  return checked(fe, a, a.snap.router.match(a));
}

/** `r` (the router's answer for `a`) when it has a service and room, else undefined after closing the connection. */
function checked(fe: Frontend, a: Accepted, r: CompiledRoute | undefined): CompiledRoute | undefined {
  if (!r || !r.service) {
    fe.logger.info(
      { src: hostPort(a.srcIp, a.srcPort), dst: hostPort(a.dstIp, a.dstPort), sni: a.sni },
      r ? 'route has no service: connection closed' : 'no Route found with those values',
    );
    reject(fe, a, 500, r);
    return undefined;
  }
  const max = a.snap.routeMax?.get(r.id);
  if (max !== undefined && !fe.limits.admitRoute((a.limitHold ??= {}), r.id, max)) {
    fe.logger.info({ route: r.name ?? r.id, client: a.clientIp }, `connection refused: ${fe.limits.reason}`);
    reject(fe, a, 503, r);
    return undefined;
  }
  return r;
}

function routePlain(fe: Frontend, a: Accepted): void {
  const r = route(fe, a);
  if (!r) return;
  const h = a.handle;
  if (h !== undefined && !r.service!.upstreamTls) {
    // a bare handle and a plain upstream: the pump takes the descriptor and connects; no socket is made
    const id = adopt(fe, h.fd, r.service!);
    if (id > 0) {
      a.handle = undefined;
      const s = new Session(a, null, fe, r);
      pumpedSession(s, id);
      s.begin();
      // closed only now: while the upstream socket is made, the process holds one descriptor more than the
      // session will, so a shortage shows up as that socket's EMFILE (which pauses accepting), never first as
      // an accept that libuv silently drops
      h.close();
      return;
    }
    // not adopted (out of descriptors for the duplicate): a socket serves it as usual
  }
  new Session(a, a.client, fe, r).begin();
}

/**
 * ssl listeners: read the ClientHello without consuming it, route with its SNI, then either pass the untouched
 * bytes through (tls_passthrough) or terminate TLS with the SNI's certificate and proxy the plain bytes.
 */
async function routeTls(fe: Frontend, a: Accepted): Promise<void> {
  const peek = await peekClientHello(a.client, { timeoutMs: fe.prereadTimeout, maxBytes: MAX_HELLO + 1024 });
  if (!peek.hello) {
    fe.logger.debug({ src: hostPort(a.srcIp, a.srcPort), reason: peek.error }, 'no TLS ClientHello: connection closed');
    fe.metrics?.tlsHandshake(false);
    return reject(fe, a, 400);
  }
  a.protocol = 'tls';
  a.sni = peek.hello.sni;
  const r = route(fe, a);
  if (r) routeHello(fe, a, r, peek.hello, peek.buffered);
}

/** A ClientHello the addon reads (a bare handle on an ssl listener): the connection, by the pair's id. */
class HelloWait {
  constructor(
    readonly fe: Frontend,
    readonly a: Accepted,
  ) {}
}

const helloWaits = new Map<number, HelloWait>();

/** Has the addon read the ClientHello (no socket is made for it); false when it cannot. */
function readHelloNative(fe: Frontend, a: Accepted): boolean {
  const id = helloRead(fe, a.handle!.fd, fe.prereadTimeout, HELLO_MAX);
  if (id === 0) return false;
  a.helloId = id;
  helloWaits.set(id, new HelloWait(fe, a));
  return true;
}

const HELLO_MAX = MAX_HELLO + 1024;

/** Why reading a ClientHello stopped, as peek.ts says it. */
function helloFailure(code: number, bytes: number, timeoutMs: number): string {
  if (code === 1) return bytes === 0 ? 'connection closed before any byte' : 'connection closed inside the ClientHello';
  if (code === 2) return `timeout: no complete ClientHello after ${timeoutMs} ms (${bytes} bytes)`;
  return `socket error: ${errnoName(-code)}`;
}

/**
 * The addon read bytes of a ClientHello (or stopped reading): route a whole hello as routeTls does after its peek,
 * ask for more of a partial one, close on anything else.
 */
function helloArrived(id: number, bytes: Buffer, code: number): void {
  const w = helloWaits.get(id);
  if (!w) return;
  const { fe, a } = w;
  const parsed = parseClientHello(bytes);
  if (code === 0 && parsed.kind === 'need-more' && bytes.length < HELLO_MAX) return helloContinue(id);
  helloWaits.delete(id);
  a.bytesIn = bytes.length;
  if (parsed.kind !== 'ok') {
    const reason =
      parsed.kind === 'error'
        ? parsed.reason
        : code === 0
          ? `too large: no complete ClientHello in ${bytes.length} bytes`
          : helloFailure(code, bytes.length, fe.prereadTimeout);
    fe.logger.debug({ src: hostPort(a.srcIp, a.srcPort), reason }, 'no TLS ClientHello: connection closed');
    fe.metrics?.tlsHandshake(false);
    return reject(fe, a, 400);
  }
  a.protocol = 'tls';
  a.sni = parsed.hello.sni;
  const r = route(fe, a);
  if (r) routeHello(fe, a, r, parsed.hello, bytes);
}

/** Takes a client back from the addon after it read the hello: from here its socket serves it. */
function takeBack(a: Accepted): void {
  if (a.helloId === 0) return;
  helloRelease(a.helloId);
  a.helloId = 0;
}

/**
 * Plain listeners where a TLS route applies (`stream_tls_detect = auto`, Kong 1.x's behaviour): a ClientHello that a
 * tls or tls_passthrough route takes goes on as on an ssl listener. Anything else is routed as tcp with the bytes
 * read so far sent to the upstream first: other first bytes, none within `stream_preread_timeout` (server-first
 * protocols), EOF, and a ClientHello no TLS route takes (its bytes untouched, as Kong 3 forwards them here).
 */
async function detectTls(fe: Frontend, a: Accepted): Promise<void> {
  if (!a.spec.proxyProtocol) a.client.on('error', onEarlyError); // proxy_protocol listeners have it already
  const peek = await peekClientHello(a.client, { timeoutMs: fe.prereadTimeout, maxBytes: MAX_HELLO + 1024 });
  if (a.client.destroyed) {
    fe.logger.debug(
      { src: hostPort(a.srcIp, a.srcPort), reason: peek.error },
      'client gone before its first bytes: connection closed',
    );
    return reject(fe, a, 400);
  }
  if (peek.hello) {
    a.protocol = 'tls';
    a.sni = peek.hello.sni;
    const tls = a.snap.router.match(a);
    if (tls) {
      const r = checked(fe, a, tls);
      if (r) routeHello(fe, a, r, peek.hello, peek.buffered);
      return;
    }
    a.protocol = 'tcp';
    a.sni = undefined;
  }
  const r = route(fe, a);
  if (!r) return;
  const s = new Session(a, a.client, fe, r);
  if (peek.buffered.length > 0) s.earlyBytes = peek.buffered;
  s.begin();
}

/** A ClientHello's route taken: pass the untouched bytes through, or terminate with the SNI's certificate. */
function routeHello(fe: Frontend, a: Accepted, r: CompiledRoute, hello: ClientHello, buffered: Buffer): void {
  const auth = a.snap.clientAuth?.get(r.id);
  const passthrough = r.entity.protocols.includes('tls_passthrough');
  if (!passthrough && a.snap.certs && auth === undefined && !r.service!.upstreamTls) {
    if (terminateNative(fe, a, r, hello, buffered)) return;
  }
  // Node serves this one: the hello's bytes go to the upstream first (passthrough) or back into its socket (terminateTls)
  takeBack(a);
  if (passthrough) {
    const s = new Session(a, a.client, fe, r);
    s.received = a.bytesIn; // read by the addon, not by the socket
    s.earlyBytes = buffered;
    s.tls = { sni: hello.sni, alpn: hello.alpn.length ? hello.alpn : undefined, passthrough: true };
    s.begin();
    return;
  }
  if (!a.snap.certs) return reject(fe, a, 500, r);
  let secureContext;
  try {
    secureContext = auth?.contextFor(hello.sni);
  } catch (err) {
    fe.logger.error({ err, route: r.name ?? r.id }, 'cannot build the client-auth TLS context: connection closed');
    return reject(fe, a, 500, r);
  }
  terminateTls(
    a.client,
    buffered,
    a.snap.certs,
    { handshakeTimeoutMs: fe.prereadTimeout, sni: hello.sni, secureContext, requestCert: auth !== undefined },
    (err, tlsSocket, info) => terminated(fe, a, r, hello, err, tlsSocket, info),
  );
}

/** A handshake the addon runs (native/tls.c): what its end needs, by the pair's id. */
class NativeHandshake {
  constructor(
    readonly fe: Frontend,
    readonly a: Accepted,
    readonly r: CompiledRoute,
    readonly hello: ClientHello,
  ) {}
}

const handshakes = new Map<number, NativeHandshake>();
onNativeTls(nativeTerminated, helloArrived);

/**
 * Terminates TLS in the addon when the SNI's certificate has a native context (tls/native-tls.ts); false when Node
 * should (no context, or the addon could not take the descriptor).
 */
function terminateNative(fe: Frontend, a: Accepted, r: CompiledRoute, hello: ClientHello, buffered: Buffer): boolean {
  const context = nativeContextFor(a.snap.certs!, hello.sni);
  if (typeof context === 'string')
    fe.logger.warn(
      { sni: hello.sni ?? null, reason: context },
      'certificate served by Node TLS: the addon cannot use it',
    );
  if (typeof context !== 'object') return false;
  let id: number | string;
  if (a.helloId !== 0) {
    // the addon read the hello and holds the client: the handshake goes on there, and the handle is not needed
    id = a.helloId;
    a.helloId = 0;
    const failed = tlsStart(id, context, fe.prereadTimeout, r.service!);
    a.handle?.close();
    a.handle = undefined;
    if (failed !== undefined) id = failed;
  } else {
    id = pumpTls(fe, a.client, context, buffered, fe.prereadTimeout, r.service!);
    if (id === 0) return false;
  }
  if (typeof id === 'string') handshakeFailed(fe, a, r, hello, `TLS handshake failed: ${describeSsl(id)}`);
  else handshakes.set(id, new NativeHandshake(fe, a, r, hello));
  return true;
}

/** OpenSSL's reason as Node words it: `wrong version number (ERR_SSL_WRONG_VERSION_NUMBER)`. */
function describeSsl(reason: string): string {
  if (reason === 'timeout' || reason.startsWith('connection closed')) return reason;
  return `${reason} (ERR_SSL_${reason.toUpperCase().replace(/[^A-Z0-9]+/g, '_')})`;
}

function nativeTerminated(
  id: number,
  reason: string | null,
  errno: number,
  version: string | undefined,
  cipher: string | undefined,
): void {
  const h = handshakes.get(id);
  if (!h) return;
  handshakes.delete(id);
  const { fe, a, r, hello } = h;
  if (reason !== null) {
    const why = errno !== 0 ? errnoName(errno) : describeSsl(reason);
    return handshakeFailed(fe, a, r, hello, `TLS handshake failed: ${why}`);
  }
  fe.metrics?.tlsHandshake(true);
  const s = new Session(a, null, fe, r);
  pumpedSession(s, id);
  s.tls = { version, cipher, sni: hello.sni, alpn: hello.alpn.length ? hello.alpn : undefined };
  // one turn later, as on Node's path: a client that only handshakes has sent its close_notify by then
  setImmediate(beginSession, s);
}

function handshakeFailed(fe: Frontend, a: Accepted, r: CompiledRoute, hello: ClientHello, reason: string): void {
  fe.metrics?.tlsHandshake(false);
  fe.logger.debug({ src: hostPort(a.srcIp, a.srcPort), sni: hello.sni ?? null, reason }, 'TLS handshake failed');
  reject(fe, a, 400, r);
}

function terminated(
  fe: Frontend,
  a: Accepted,
  r: CompiledRoute,
  hello: ClientHello,
  err: Error | null,
  tlsSocket: TLSSocket | undefined,
  info: TlsInfo | undefined,
): void {
  fe.metrics?.tlsHandshake(!err);
  if (err || !tlsSocket) {
    if (err instanceof ClientCertError) {
      a.clientVerify = err.verify;
      fe.logger.info(
        { src: hostPort(a.srcIp, a.srcPort), sni: hello.sni ?? null, route: r.name ?? r.id, reason: err.message },
        'client certificate refused',
      );
      return reject(fe, a, 401, r);
    }
    fe.logger.debug(
      { src: hostPort(a.srcIp, a.srcPort), sni: hello.sni ?? null, reason: err?.message },
      'TLS handshake failed',
    );
    return reject(fe, a, 400, r);
  }
  tlsSocket.pause();
  const s = new Session(a, tlsSocket, fe, r);
  s.tls = {
    version: info?.version,
    cipher: info?.cipher,
    sni: hello.sni,
    alpn: hello.alpn.length ? hello.alpn : undefined,
  };
  if (info?.client) {
    s.tls.client_verify = 'SUCCESS';
    s.tls.client_subject = info.client.subject;
    s.tls.client_fingerprint = info.client.fingerprint;
  }
  // one turn later: records that came with the client's Finished (a close_notify and FIN from clients that only
  // handshake) are read by then, and such a session needs no upstream connection (see Session.start)
  setImmediate(beginSession, s);
}

function beginSession(s: Session): void {
  s.begin();
}

/**
 * Refuses a new connection before anything is read (the process is near its open-file limit): closed at once with
 * a record carrying `status`, so the access log shows it.
 */
export function refuseConnection(
  fe: Frontend,
  client: Socket,
  spec: ListenSpec,
  snap: ProxySnapshot | undefined,
  status: number,
): void {
  if (client.remoteAddress === undefined || !snap) {
    client.destroy();
    return;
  }
  reject(fe, acceptedSocket(client, spec, snap), status);
}

/**
 * Closes a connection that never became a session, with its record (status 400, 401, 429, 500 or 503), logged
 * through the chain a session of it would have run: the route's chain for its protocol (routeChain: a refused
 * passthrough connection through the route's `tls_passthrough` chain), or the global chain when no route took it.
 */
function reject(fe: Frontend, a: Accepted, status: number, r?: CompiledRoute): void {
  if (a.limitHold) fe.limits.release(a.limitHold);
  if (a.helloId !== 0) {
    helloRelease(a.helloId, true);
    a.helloId = 0;
  }
  const client = a.hasSocket ? a.client : undefined;
  const chain = r ? routeChain(a.snap, r, a.protocol) : a.snap.globalChain;
  if (wantsRecord(fe, chain)) {
    const ms = Math.round(performance.now() - a.t0);
    emitRecord(
      fe,
      buildRecord({
        route: r,
        service: r?.service,
        clientIp: a.clientIp,
        clientPort: a.srcPort,
        serverIp: a.dstIp,
        serverPort: a.dstPort,
        listener: a.spec.text,
        protocol: a.protocol,
        configHash: a.snap.hash,
        startedAt: a.startedAt,
        status,
        closedBy: 'proxy',
        tls:
          a.clientVerify !== undefined
            ? { sni: a.sni, client_verify: a.clientVerify }
            : a.sni !== undefined
              ? { sni: a.sni }
              : undefined,
        received: client ? client.bytesRead + a.bytesIn : a.bytesIn,
        sent: 0,
        upstreamReceived: 0,
        upstreamSent: 0,
        kongMs: ms,
        sessionMs: ms,
        tries: [],
      }),
      chain,
    );
  }
  client?.destroy();
}
