import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { CertStore } from './cert-store.js';

export interface TerminateOptions {
  /** the handshake must complete within this time */
  handshakeTimeoutMs: number;
  /** the SNI read by the peek: the certificate is chosen from it, with no second parse or callback */
  sni?: string;
  /** ALPN protocols the server accepts (none by default: a layer-4 proxy negotiates none, like Kong) */
  ALPNProtocols?: string[];
}

/** What the handshake settled, for the session log (`session.tls` in Kong's log record). */
export interface TlsInfo {
  /** e.g. `TLSv1.3` */
  version: string;
  /** OpenSSL cipher name, e.g. `TLS_AES_256_GCM_SHA384` */
  cipher: string;
  /** negotiated ALPN protocol, if any */
  alpn?: string;
}

export type TerminateCallback = (err: Error | null, tlsSocket?: TLSSocket, info?: TlsInfo) => void;

class Handshake {
  timer: NodeJS.Timeout | undefined;
  constructor(readonly raw: Socket, readonly tls: TLSSocket, readonly done: TerminateCallback) {}
}

const kHandshake = Symbol('kong-ts.handshake');
type Wrapped = TLSSocket & { [kHandshake]?: Handshake };

/**
 * Terminates TLS on an accepted socket whose first bytes (`buffered`, the ClientHello) were already read by
 * `peekClientHello`: the bytes are put back, the socket is wrapped as a TLS server with the certificate of
 * `opts.sni`, and `done` is called once, with the TLS socket when the handshake completed or with an error
 * (timeout, protocol failure, peer gone) after both sockets were destroyed. Never throws.
 * Attach your own 'error' listener to the TLS socket inside `done`: the ones added here are removed.
 */
export function terminateTls(socket: Socket, buffered: Buffer, store: CertStore, opts: TerminateOptions, done: TerminateCallback): void {
  const secureContext = store.lookup(opts.sni);
  // Node's TLSSocket feeds whatever is in the wrapped socket's read buffer to OpenSSL before reading the
  // handle (initRead in lib/_tls_wrap.js), so unshift is the way to put the peeked bytes back.
  if (buffered.length > 0) socket.unshift(buffered);
  let tls: Wrapped;
  try {
    tls = new TLSSocket(socket, { isServer: true, secureContext, ALPNProtocols: opts.ALPNProtocols });
  } catch (e) {
    socket.destroy();
    done(e as Error);
    return;
  }
  const hs = new Handshake(socket, tls, done);
  tls[kHandshake] = hs;
  hs.timer = setTimeout(onTimeout, opts.handshakeTimeoutMs, hs);
  tls.on('secure', onSecure);
  tls.on('error', onError);
  tls.on('close', onClose);
}

function settle(hs: Handshake, err: Error | null): void {
  const t = hs.tls as Wrapped;
  if (t[kHandshake] !== hs) return;
  t[kHandshake] = undefined;
  clearTimeout(hs.timer);
  t.removeListener('secure', onSecure);
  t.removeListener('error', onError);
  t.removeListener('close', onClose);
  if (err) {
    // Late errors from the dying sockets must not crash the process: nobody else listens any more.
    t.on('error', ignore);
    hs.raw.on('error', ignore);
    t.destroy();
    hs.raw.destroy();
    hs.done(err);
    return;
  }
  hs.done(null, t, tlsInfo(t));
}

function ignore(): void {}

function onSecure(this: Wrapped): void {
  const hs = this[kHandshake];
  if (hs) settle(hs, null);
}

function onError(this: Wrapped, e: Error): void {
  const hs = this[kHandshake];
  if (hs) settle(hs, new Error(`TLS handshake failed: ${describe(e)}`, { cause: e }));
}

/** OpenSSL's short reason (`unsupported protocol`) and Node's code, not the multi-line OpenSSL error string. */
function describe(e: Error): string {
  const { code, reason } = e as Error & { code?: string; reason?: string };
  if (reason) return code ? `${reason} (${code})` : reason;
  return code ?? e.message;
}

function onClose(this: Wrapped): void {
  const hs = this[kHandshake];
  if (hs) settle(hs, new Error('TLS handshake failed: connection closed by the client'));
}

function onTimeout(hs: Handshake): void {
  settle(hs, new Error('TLS handshake failed: timeout'));
}

/** Version, cipher and ALPN of an established TLS socket. */
export function tlsInfo(t: TLSSocket): TlsInfo {
  const alpn = t.alpnProtocol;
  return {
    version: t.getProtocol() ?? 'unknown',
    cipher: t.getCipher()?.name ?? 'unknown',
    ...(typeof alpn === 'string' ? { alpn } : {}),
  };
}
