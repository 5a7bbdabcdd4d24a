/**
 * Native accept: on a plain listener, an accepted connection comes to kong-ts as Node's bare handle, before Node
 * makes a net.Socket of it. accept.ts routes it with addresses read off its descriptor; when the route's upstream
 * is plain, the native pump adopts the descriptor and connects the upstream itself (native-pump.ts), so a
 * short connection costs no net.Socket on either side. Anything else (TLS detection, a refusal, a TLS upstream)
 * makes the socket Node would have made and goes on as before.
 *
 * On ssl listeners the addon reads the ClientHello too (accept.ts readHelloNative), and terminates TLS when the route
 * lets it (tls/native-tls.ts); a socket is made only for the routes Node's TLS serves.
 *
 * Used only with the pump loaded, on listeners without proxy_protocol or so_keepalive (those need the socket
 * from the start), and only when this Node's listening handle has the `onconnection` hook (net.js); otherwise
 * Node's own path serves.
 */
import type { Server } from 'node:net';
import type { ListenSpec } from '../settings/types.js';
import type { TcpHandle } from './accepted.js';
import { pumpKind } from './native-pump.js';

/** True when `spec`'s connections may come bare (see above). */
export function nativeAcceptFits(spec: ListenSpec): boolean {
  return pumpKind === 'native' && !spec.proxyProtocol && spec.soKeepalive?.enabled !== true;
}

type OnConnection = (this: unknown, status: number, client?: TcpHandle) => void;

/** A listener's own address when it is bound to one (every connection it accepts has it as its local address). */
export interface BoundAddress {
  readonly ip: string;
  readonly port: number;
}

/** `srv`'s address, unless it listens on every address of the host (then each connection's must be read). */
function boundAddress(srv: Server): BoundAddress | undefined {
  const a = srv.address();
  if (a === null || typeof a === 'string' || a.address === '0.0.0.0' || a.address === '::') return undefined;
  return { ip: a.address, port: a.port };
}

/**
 * Hands `srv`'s accepted handles to `onHandle` instead of Node's listener code, each time it starts listening
 * (the accept guard listens again after a pause, on a new handle), with the listener's address when it is bound to
 * one. Accept errors still go Node's way ('error').
 */
export function takeAccepts(srv: Server, onHandle: (h: TcpHandle, local: BoundAddress | undefined) => void): void {
  srv.on('listening', () => {
    const h = (srv as unknown as { _handle?: { onconnection?: unknown } })._handle;
    if (!h || typeof h.onconnection !== 'function') return;
    const nodeOwn = h.onconnection as OnConnection;
    const local = boundAddress(srv);
    h.onconnection = function (this: unknown, status: number, client?: TcpHandle): void {
      if (status !== 0 || client === undefined || typeof client.fd !== 'number')
        return nodeOwn.call(this, status, client);
      onHandle(client, local);
    };
  });
}
