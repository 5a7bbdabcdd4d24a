import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { CertStore } from './cert-store.js';

export interface TerminateOptions {
  /** the handshake must complete within this time */
  handshakeTimeoutMs: number;
  /** the SNI read by the peek: the certificate is chosen from it, with no second parse or callback */
  sni?: string;
  /** ALPN protocols the server accepts (none by default: a layer-4 proxy negotiates none, like Kong) */
  ALPNProtocols?: string[];
  /** a context other than the SNI's (a route's client-auth context, tls/client-auth.ts) */
  secureContext?: SecureContext;
  /** request a client certificate and refuse the handshake without a trusted one (mtls-auth) */
  requestCert?: boolean;
}

/** A client certificate that was missing or not trusted: the session's status is 401. */
export class ClientCertError extends Error {
  readonly status = 401;
  /** nginx's `$ssl_client_verify` for the record: `NONE` or `FAILED:reason` */
  readonly verify: string;
  constructor(message: string, verify: string) {
    super(message);
    this.verify = verify;
  }
}

/** What the handshake settled, for the session log (`session.tls` in Kong's log record). */
export interface TlsInfo {
  /** e.g. `TLSv1.3` */
  version: string;
  /** OpenSSL cipher name, e.g. `TLS_AES_256_GCM_SHA384` */
  cipher: string;
  /** negotiated ALPN protocol, if any */
  alpn?: string;
  /** a verified client certificate (routes with mtls-auth): its subject DN and SHA-256 fingerprint (hex) */
  client?: { subject: string; fingerprint: string };
}

export type TerminateCallback = (err: Error | null, tlsSocket?: TLSSocket, info?: TlsInfo) => void;

class Handshake {
  timer: NodeJS.Timeout | undefined;
  constructor(
    readonly raw: Socket,
    readonly tls: TLSSocket,
    readonly done: TerminateCallback,
    readonly requestCert: boolean,
  ) {}
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
export function terminateTls(
  socket: Socket,
  buffered: Buffer,
  store: CertStore,
  opts: TerminateOptions,
  done: TerminateCallback,
): void {
  const secureContext = opts.secureContext ?? store.lookup(opts.sni);
  const requestCert = opts.requestCert === true;
  // Node's TLSSocket feeds whatever is in the wrapped socket's read buffer to OpenSSL before reading the
  // handle (initRead in lib/_tls_wrap.js), so unshift is the way to put the peeked bytes back.
  if (buffered.length > 0) socket.unshift(buffered);
  let tls: Wrapped;
  try {
    tls = new TLSSocket(socket, {
      isServer: true,
      secureContext,
      ALPNProtocols: opts.ALPNProtocols,
      ...(requestCert ? { requestCert: true, rejectUnauthorized: true } : {}),
    });
  } catch (e) {
    socket.destroy();
    done(e as Error);
    return;
  }
  const hs = new Handshake(socket, tls, done, requestCert);
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
  let client: TlsInfo['client'];
  if (!err && hs.requestCert) {
    const c = clientCert(t);
    if (c instanceof ClientCertError) err = c;
    else client = c;
  }
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
  const info = tlsInfo(t);
  if (client) info.client = client;
  hs.done(null, t, info);
}

/**
 * The verified client certificate, or the reason it is refused. Node's server TLSSocket (outside tls.Server) does
 * not act on its verification result itself: OpenSSL's verify result is read here (`ssl.verifyError()`, what
 * tls.Server does on 'secure').
 */
function clientCert(t: TLSSocket): { subject: string; fingerprint: string } | ClientCertError {
  const ssl = (t as unknown as { ssl?: { verifyError?(): Error | null } }).ssl;
  const err = ssl?.verifyError?.() ?? null;
  const peer = t.getPeerX509Certificate();
  if (!peer) return new ClientCertError('TLS handshake failed: no required TLS certificate was sent', 'NONE');
  if (err) {
    const code = (err as Error & { code?: string }).code ?? err.message;
    return new ClientCertError(`TLS certificate failed verification: ${code}`, `FAILED:${code}`);
  }
  return {
    subject: peer.subject.split('\n').join(','),
    fingerprint: peer.fingerprint256.replace(/:/g, '').toLowerCase(),
  };
}

function ignore(): void {}

function onSecure(this: Wrapped): void {
  const hs = this[kHandshake];
  if (hs) settle(hs, null);
}

function onError(this: Wrapped, e: Error): void {
  const hs = this[kHandshake];
  if (!hs) return;
  // OpenSSL ends the handshake itself when a required client certificate is missing
  if (
    hs.requestCert &&
    /PEER_DID_NOT_RETURN_A_CERTIFICATE|certificate required/i.test(`${(e as { code?: string }).code} ${describe(e)}`)
  ) {
    settle(hs, new ClientCertError('TLS handshake failed: no required TLS certificate was sent', 'NONE'));
    return;
  }
  settle(hs, new Error(`TLS handshake failed: ${describe(e)}`, { cause: e }));
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
