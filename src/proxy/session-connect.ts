/**
 * The connect part of a TCP session: the peer (a balancer's pick, or the service host, resolved when it is a name),
 * the connect itself (net, or tls.connect with the service's options; the PROXY header first when the service asks)
 * and the retries. Once connected the pipe takes over (session-pipe.ts).
 */
import { connect, isIP, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { errnoName } from '../net/native-addon.js';
import { pumpClientGone, pumpConnect } from './native-pump.js';
import { resolveHost } from './resolve.js';
import { onUpstreamClose, startPipe, UPSTREAM_ONREAD } from './session-pipe.js';
import { SESSION, SessionState, type ProxySocket, type TcpSession } from './session-types.js';

/** Starts the first connect: a balancer's peer, or the service host (resolved when it is a name). */
export function startConnect(s: TcpSession): void {
  if (s.tls && !s.tls.passthrough && (s.pumpId !== 0 ? pumpClientGone(s.pumpId) : clientGone(s.client))) {
    // the client finished before anything was sent (openssl s_time, health probes: close_notify and FIN right after
    // the handshake): an upstream connection would carry nothing, so none is made, as HAProxy does
    s.closedBy = 'client';
    if (s.pumpId !== 0) s.abort('client');
    else s.client.destroy();
    return;
  }
  if (s.service.balancer) {
    pickPeer(s);
    return;
  }
  const host = s.service.host;
  if (isIP(host)) {
    s.upstreamIp = host;
    tryConnect(s);
    return;
  }
  const ip = resolveHost(host, s); // answers later through s.resolved (hostResolved) when not cached
  if (ip !== undefined) {
    s.upstreamIp = ip;
    tryConnect(s);
  }
}

/** The service host's name resolved (or not). */
export function hostResolved(s: TcpSession, err: NodeJS.ErrnoException | null, ip: string): void {
  if (s.state !== SessionState.Connecting || s.clientClosed) return;
  if (err) {
    s.attempts++;
    s.addTry({ ip: s.service.host, port: s.service.port, balancer_latency: 0, state: 'failed', code: err.code });
    failConnect(s, `cannot resolve '${s.service.host}': ${err.code ?? err.message}`);
    return;
  }
  s.upstreamIp = ip;
  tryConnect(s);
}

/** Asks the balancer for a peer not tried yet (any peer once all were tried); none healthy: 503. */
function pickPeer(s: TcpSession): void {
  const b = s.service.balancer!;
  let p = b.pick(s.clientIp, s.triedPeers ?? undefined);
  if (!p && s.triedPeers) p = b.pick(s.clientIp);
  if (!p) {
    s.ctx.logger.warn(
      { service: s.service.name ?? s.service.id, upstream: b.upstreamName },
      'failure to get a peer from the ring-balancer: no healthy target',
    );
    s.status = s.attempts > 0 ? 502 : 503;
    s.abort('proxy');
    return;
  }
  s.peer = p;
  s.upstreamIp = p.ip;
  s.upstreamPort = p.port;
  (s.triedPeers ??= []).push(p);
  tryConnect(s);
}

function tryConnect(s: TcpSession): void {
  s.attempts++;
  s.tryStartedAt = performance.now();
  const svc = s.service;
  if (s.pumpId !== 0) {
    // an adopted client (native-accept.ts): the pump connects, plain upstreams only; the PROXY header goes first
    const r = pumpConnect(s, s.upstreamIp, s.upstreamPort, svc.proxyProtocol ? s.proxyHeader() : undefined);
    if (r < 0) tryFailed(s, null, 'failed', errnoName(-r));
    return;
  }
  const tlsOpts = svc.upstreamTls;
  let up: ProxySocket;
  if (tlsOpts) {
    // tls.connect hands allowHalfOpen on to its TLSSocket (Node's _tls_wrap), though the typings omit it
    // Kong's proxy_ssl_name: the client's SNI with preserve_host, else the upstream's host_header, else the target host
    const name =
      s.route.entity.preserve_host === true && s.sni ? s.sni : (svc.hostHeader ?? s.peer?.hostname ?? svc.host);
    const opts: Record<string, unknown> = {
      ...tlsOpts(name),
      host: s.upstreamIp,
      port: s.upstreamPort,
      allowHalfOpen: true,
    };
    if (svc.proxyProtocol) {
      // the PROXY header goes before the TLS handshake, on the raw socket (written once it connects)
      const raw = connect({ host: s.upstreamIp, port: s.upstreamPort, allowHalfOpen: true, noDelay: true });
      raw.write(s.proxyHeader());
      opts.socket = raw;
    }
    up = tlsConnect(opts as ConnectionOptions) as unknown as ProxySocket;
    up.setNoDelay(true);
    up.on('secureConnect', onUpstreamConnect);
  } else {
    up = connect({
      host: s.upstreamIp,
      port: s.upstreamPort,
      allowHalfOpen: true,
      noDelay: true,
      onread: UPSTREAM_ONREAD,
    }) as ProxySocket;
    up.on('connect', onUpstreamConnect);
  }
  up[SESSION] = s;
  s.upstream = up;
  up.on('error', onUpstreamError);
  up.on('close', onUpstreamClose);
}

/** A try failed: record it, then retry or give up with 502. */
export function tryFailed(
  s: TcpSession,
  up: ProxySocket | null,
  state: 'failed' | 'timeout',
  code: string,
  detail?: string,
): void {
  s.upstream = null;
  up?.destroy();
  const ms = performance.now() - s.tryStartedAt;
  s.addTry({ ip: s.upstreamIp, port: s.upstreamPort, balancer_latency: Math.round(ms), state, code });
  if (s.peer) s.service.balancer!.report(s.peer, state, ms);
  if (code === 'EMFILE' || code === 'ENFILE') s.ctx.onFdShortage?.(code);
  if (s.clientClosed) return s.finish();
  if (s.attempts > s.service.retries) {
    failConnect(
      s,
      state === 'timeout'
        ? `connect timed out (${s.service.connectTimeout} ms)`
        : detail
          ? `${code} (${detail})`
          : code,
    );
  } else if (s.service.balancer) {
    pickPeer(s);
  } else {
    tryConnect(s);
  }
}

function failConnect(s: TcpSession, cause: string): void {
  s.ctx.logger.warn(
    { service: s.service.name ?? s.service.id, upstream: `${s.upstreamIp || s.service.host}:${s.upstreamPort}` },
    `upstream connect failed after ${s.attempts} tries: ${cause}`,
  );
  s.status = 502;
  s.abort('proxy');
  // the client's 'close' (or the pump's end) ends the session
}

/** The pump's connect for an adopted client ended: connected (the pump moves the bytes already), or failed. */
export function pumpedConnectDone(s: TcpSession, errno: number): void {
  if (s.state !== SessionState.Connecting) return;
  if (errno === 0) connected(s, null);
  else tryFailed(s, null, 'failed', errnoName(errno));
}

/** `up` null: an adopted client's pair, already moving bytes in the pump. */
function connected(s: TcpSession, up: ProxySocket | null): void {
  s.state = SessionState.Piping;
  s.lastProgressAt = s.connectedAt = performance.now();
  const ms = s.connectedAt - s.tryStartedAt;
  s.addTry({ ip: s.upstreamIp, port: s.upstreamPort, balancer_latency: Math.round(ms) });
  if (s.peer) {
    const b = s.service.balancer!;
    b.report(s.peer, 'ok', ms);
    b.connected(s.peer);
    s.countedPeer = s.peer;
  }
  if (up) startPipe(s, up);
}

/** True when the client's end of the stream was already read and no byte of it waits (nothing to proxy). */
function clientGone(c: Socket): boolean {
  // `_readableState.ended` (EOF received, maybe not yet emitted) has no public name; `readableEnded` is true only
  // after 'end' was emitted, which a paused socket never does
  const st = (c as unknown as { _readableState?: { ended?: boolean } })._readableState;
  return c.destroyed || (st?.ended === true && c.readableLength === 0);
}

// ---- upstream listeners while connecting (this = the upstream socket) ----

function onUpstreamConnect(this: ProxySocket): void {
  const s = this[SESSION];
  if (s.upstream !== this) return;
  if (s.clientClosed) {
    s.upstream = null;
    this.destroy();
    s.finish();
    return;
  }
  connected(s, this);
}

function onUpstreamError(this: ProxySocket, err: NodeJS.ErrnoException): void {
  const s = this[SESSION];
  if (s.upstream !== this) return;
  // a TLS verification code alone (ERR_TLS_CERT_ALTNAME_INVALID) does not say which name or CA: keep the message
  if (s.state === SessionState.Connecting)
    return tryFailed(
      s,
      this,
      'failed',
      err.code ?? err.message,
      err.code && s.service.upstreamTls ? err.message : undefined,
    );
  s.ctx.logger.debug({ err: err.code ?? err.message, side: 'upstream' }, 'stream session error');
  s.abort('upstream');
}
