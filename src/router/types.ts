import type { ConnectionOptions } from 'node:tls';
import type { Balancer } from '../balancer/index.js';
import type { RouteEntity, ServiceEntity } from '../config/types.js';

/** What the router knows of a connection when it picks a route. */
export interface ConnInfo {
  /** `tcp` on plain listeners, `tls` when a ClientHello was read (ssl listeners, plain ones that detect TLS), `udp` for datagrams */
  protocol: 'tcp' | 'tls' | 'udp';
  srcIp: string;
  srcPort: number;
  /** the listener's local address and port */
  dstIp: string;
  dstPort: number;
  /** server name from the ClientHello, lower-cased, when the client sent one */
  sni?: string;
}

/** A service as the data path needs it: all numbers resolved, nothing to compute per connection. */
export interface CompiledService {
  readonly id: string;
  readonly name?: string;
  readonly entity: ServiceEntity;
  /** a StreamProtocol for the services kong-ts serves; the file's other values (http, grpc...) kept as written */
  readonly protocol: string;
  readonly host: string;
  readonly port: number;
  readonly retries: number;
  readonly connectTimeout: number;
  readonly readTimeout: number;
  readonly writeTimeout: number;
  /** set when the service's host names an upstream: peers come from it */
  readonly balancer?: Balancer;
  /** set when the service's protocol is tls: the options of tls.connect for a peer host name */
  readonly upstreamTls?: (host: string) => ConnectionOptions;
  /** PROXY protocol version sent to the upstream (the service's `kong-ts.proxy_protocol` tag) */
  readonly proxyProtocol?: 1 | 2;
  /** the `host_header` of the upstream the service names: the upstream TLS server name (Kong) */
  readonly hostHeader?: string;
}

/** What the snapshot compiler adds to a service besides its entity. */
export interface ServiceExtras {
  balancer?: Balancer;
  hostHeader?: string;
  upstreamTls?: (host: string) => ConnectionOptions;
  proxyProtocol?: 1 | 2;
}

export interface CompiledRoute {
  readonly id: string;
  readonly name?: string;
  readonly entity: RouteEntity;
  /** undefined when the route has no service (Kong then closes the connection) */
  readonly service?: CompiledService;
  /** Kong 3 priority: higher wins */
  readonly priority: number;
  /** the key of the route's plugin chain for a TLS connection: `tls_passthrough` on passthrough routes, else `tls` */
  readonly tlsChain: 'tls' | 'tls_passthrough';
}

export interface Router {
  /** The best route for this connection, or undefined ("no Route found with those values"). */
  match(conn: ConnInfo): CompiledRoute | undefined;
  /** every compiled route, best first (for explain and the admin API) */
  readonly routes: readonly CompiledRoute[];
}
