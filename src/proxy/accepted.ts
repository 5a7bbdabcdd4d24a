/**
 * One accepted TCP connection on its way to a session (accept.ts), and what a Session takes from it. A leaf file, so
 * accept.ts (which makes sessions) and session.ts (which reads this) do not import each other.
 */
import { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { ConnInfo } from '../router/types.js';
import type { ListenSpec } from '../settings/types.js';
import type { Hold } from './limits.js';
import type { ProxySnapshot } from './types.js';
import { unmapIPv4 } from '../net/address.js';

/** An accepted connection's libuv handle as Node's listener hands it over, before any net.Socket wraps it. */
export interface TcpHandle {
  readonly fd: number;
  close(): void;
  setNoDelay?(on: boolean): void;
}

/** One accepted connection on its way to a session; it is also the router's ConnInfo. */
export class Accepted implements ConnInfo {
  protocol: 'tcp' | 'tls' = 'tcp';
  sni: string | undefined = undefined;
  /** what the connection holds of the limits (listener, client IP, route), released when it ends */
  limitHold: Hold | undefined = undefined;
  /** a refused client certificate (mtls-auth): `NONE` or `FAILED:reason` for the record */
  clientVerify: string | undefined = undefined;
  /** the addon holds the client (native accept on ssl listeners): reading its hello (helloId), or terminating TLS */
  helloId = 0;
  /** bytes read by the addon before any socket existed (the ClientHello) */
  bytesIn = 0;
  readonly t0 = performance.now();
  readonly startedAt = Date.now();
  #client: Socket | undefined;

  /**
   * From a socket, or (native accept: native-accept.ts) from the bare handle and the addresses read off its
   * descriptor; `handle` stays set until a socket is made of it (`client`) or the pump adopts it.
   */
  constructor(
    client: Socket | undefined,
    public handle: TcpHandle | undefined,
    readonly spec: ListenSpec,
    readonly snap: ProxySnapshot,
    public srcIp: string,
    public srcPort: number,
    public dstIp: string,
    public dstPort: number,
  ) {
    this.#client = client;
  }

  /** The connection as a net.Socket, paused (made from the handle on first use when it came bare). */
  get client(): Socket {
    if (this.#client === undefined) {
      this.#client = socketOf(this.handle!);
      this.handle = undefined;
    }
    return this.#client;
  }

  /** False once the addon holds the only descriptor (the handle closed, no socket made): `client` cannot be made. */
  get hasSocket(): boolean {
    return this.#client !== undefined || this.handle !== undefined;
  }

  /** the client's address as logged: IPv4-mapped IPv6 addresses shown as IPv4 */
  get clientIp(): string {
    return unmapIPv4(this.srcIp);
  }
}

/**
 * The socket Node's own listener makes of an accepted handle (net.js onconnection) for a server created with
 * allowHalfOpen, pauseOnConnect and noDelay: paused, its bytes waiting in the kernel.
 */
export function socketOf(h: TcpHandle): Socket {
  h.setNoDelay?.(true);
  const opts = { handle: h, allowHalfOpen: true, pauseOnCreate: true, readable: true, writable: true };
  return new Socket(opts);
}

/** An Accepted for a socket Node's listener made (remoteAddress checked by the caller). */
export function acceptedSocket(client: Socket, spec: ListenSpec, snap: ProxySnapshot): Accepted {
  return new Accepted(
    client,
    undefined,
    spec,
    snap,
    client.remoteAddress!,
    client.remotePort ?? 0,
    client.localAddress ?? '',
    client.localPort ?? 0,
  );
}
