import type { Balancer } from '../balancer/index.js';
import type { Fingerprints } from '../config/assemble.js';
import type { DeclarativeConfig } from '../config/types.js';
import type { ConfigIndex, ReloadChange } from './affected-routes.js';
import type { Slicer } from '../slices.js';
import type { PluginChain, PluginChains } from '../plugins/chain.js';
import type { RouteChains } from '../proxy/types.js';
import type { ListenerAddress, TlsListener } from '../router/tls-listeners.js';
import type { CompiledService, Router } from '../router/types.js';
import type { CertStore } from '../tls/cert-store.js';
import type { ClientAuth } from '../tls/client-auth.js';

/**
 * Everything the data path needs for one version of the declarative file, built before it is used and never
 * mutated: a connection reads `server.current` once at accept and keeps this object for its whole life.
 */
export interface Snapshot {
  readonly generation: number;
  /** md5 of the raw file content (Kong's configuration_hash) */
  readonly hash: string;
  readonly file: string;
  /** the raw content, for GET /config */
  readonly text: string;
  readonly loadedAt: number;
  readonly config: DeclarativeConfig;
  readonly services: ReadonlyMap<string, CompiledService>;
  readonly router: Router;
  /** by upstream id */
  readonly balancers: ReadonlyMap<string, Balancer>;
  readonly plugins: PluginChains;
  /** the plugin chain of each route (with its service), and the global chain for connections no route took */
  readonly routeChains: ReadonlyMap<string, RouteChains>;
  readonly globalChain: PluginChain;
  /** certificates by SNI (every SecureContext built once, here) */
  readonly certs: CertStore;
  /** routes with a `kong-ts.max_connections=N` tag */
  readonly routeMax: ReadonlyMap<string, number>;
  /** plain listeners (the settings' ListenSpec objects) that look for a TLS ClientHello before routing (`stream_tls_detect`) */
  readonly tlsDetect: ReadonlySet<ListenerAddress>;
  /** the plain listeners where TLS routes apply, with those routes (for `stream_tls_detect`'s warning) */
  readonly tlsListeners: readonly TlsListener[];
  /** routes, services, certificates and CA certificates by id (built with the snapshot) */
  readonly index: ConfigIndex;
  /** the routes of generation `from` (the snapshot this one replaced) that this one removed or changed */
  readonly changes?: ReloadChange;
  /** tls routes with an mtls-auth plugin: their handshake contexts (tls/client-auth.ts) */
  readonly clientAuth: ReadonlyMap<string, ClientAuth>;
}

/** What the process serves, for the parts of a snapshot that depend on its listeners. */
export interface SnapshotListeners {
  streamListen: readonly ListenerAddress[];
  tlsDetect: 'auto' | 'off';
}

export interface SnapshotInput {
  config: DeclarativeConfig;
  hash: string;
  file: string;
  readonly text: string;
  generation: number;
  /** content fingerprints by type and id (from the load thread): what lets a build reuse the last one's parts */
  fingerprints?: Fingerprints;
  /** the main-thread work is cut in these slices */
  slicer?: Slicer;
}

/** Recursively freezes plain data (objects and arrays); Maps and class instances are left as they are. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    if (Array.isArray(value) || Object.getPrototypeOf(value) === Object.prototype) {
      for (const v of Object.values(value as object)) deepFreeze(v);
    }
  }
  return value;
}
