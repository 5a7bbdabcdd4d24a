/**
 * One accepted TCP connection on its way to a session (accept.ts), and what a Session takes from it. A leaf file, so
 * accept.ts (which makes sessions) and session.ts (which reads this) do not import each other.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { ConnInfo } from '../router/types.js';
import type { ListenSpec } from '../settings/types.js';
import type { Hold } from './limits.js';
import type { ProxySnapshot } from './types.js';
import { unmapIPv4 } from '../net/address.js';

/** One accepted connection on its way to a session; it is also the router's ConnInfo. */
export class Accepted implements ConnInfo {
  protocol: 'tcp' | 'tls' = 'tcp';
  srcIp: string;
  srcPort: number;
  dstIp: string;
  dstPort: number;
  sni: string | undefined = undefined;
  /** what the connection holds of the limits (listener, client IP, route), released when it ends */
  limitHold: Hold | undefined = undefined;
  /** a refused client certificate (mtls-auth): `NONE` or `FAILED:reason` for the record */
  clientVerify: string | undefined = undefined;
  readonly t0 = performance.now();
  readonly startedAt = Date.now();

  constructor(
    readonly client: Socket,
    readonly spec: ListenSpec,
    readonly snap: ProxySnapshot,
  ) {
    this.srcIp = client.remoteAddress!;
    this.srcPort = client.remotePort ?? 0;
    this.dstIp = client.localAddress ?? '';
    this.dstPort = client.localPort ?? 0;
  }

  /** the client's address as logged: IPv4-mapped IPv6 addresses shown as IPv4 */
  get clientIp(): string {
    return unmapIPv4(this.srcIp);
  }
}
