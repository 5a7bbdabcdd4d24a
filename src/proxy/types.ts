import type { PluginChain } from '../plugins/chain.js';
import type { CompiledRoute, ConnInfo, Router } from '../router/types.js';
import type { CertStore } from '../tls/cert-store.js';
import type { ClientAuth } from '../tls/client-auth.js';

/** A route's plugin chains by connection protocol (Kong runs a plugin only on the protocols it names). */
export interface RouteChains {
  tcp?: PluginChain;
  tls?: PluginChain;
  tls_passthrough?: PluginChain;
  udp?: PluginChain;
}

/**
 * What the stream server needs from a configuration snapshot (runtime/snapshot.ts's `Snapshot` is a superset).
 * A connection reads it once, at accept, and keeps it for its whole life.
 */
export interface ProxySnapshot {
  readonly generation: number;
  /** md5 of the configuration text (the access log's config_hash) */
  readonly hash?: string;
  readonly router: Router;
  /** the plugin chains of each route by route id, one per protocol the route serves */
  readonly routeChains?: ReadonlyMap<string, RouteChains>;
  /** the chain of global plugins, for connections no route took */
  readonly globalChain?: PluginChain;
  /** certificates by SNI for terminating TLS on ssl listeners */
  readonly certs?: CertStore;
  /** maximum open connections of routes that set one (`kong-ts.max_connections=N`) */
  readonly routeMax?: ReadonlyMap<string, number>;
  /** plain listeners (the ListenSpec objects of the settings) that look for a TLS ClientHello before routing
   * (`stream_tls_detect = auto`) */
  readonly tlsDetect?: ReadonlySet<object>;
  /** tls routes that require a client certificate (mtls-auth), by route id */
  readonly clientAuth?: ReadonlyMap<string, ClientAuth>;
}

/**
 * The plugin chain a connection of `protocol` runs on `route`, by the chain key compiled onto the route: a TLS
 * connection on a tls_passthrough route runs the route's `tls_passthrough` chain, whether it is proxied or refused.
 */
export function routeChain(
  snap: ProxySnapshot,
  route: CompiledRoute,
  protocol: ConnInfo['protocol'],
): PluginChain | undefined {
  return snap.routeChains?.get(route.id)?.[protocol === 'tls' ? route.tlsChain : protocol];
}
