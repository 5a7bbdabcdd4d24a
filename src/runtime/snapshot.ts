import { compileBalancer, type Balancer } from '../balancer/index.js';
import type { DeclarativeConfig } from '../config/types.js';
import type { PluginChain, PluginChains } from '../plugins/chain.js';
import type { RouteChains } from '../proxy/types.js';
import { compilePluginChains } from '../plugins/chain.js';
import { compileRouter, compileService } from '../router/compile.js';
import { tlsDetectSet, type ListenerAddress } from '../router/tls-listeners.js';
import type { CompiledService, Router } from '../router/types.js';
import { compileCertStore, type CertStore } from '../tls/cert-store.js';
import { compileUpstreamTls } from '../tls/upstream.js';
import { tagValue } from '../config/kong-ts-tags.js';
import type { Runtime } from './runtime.js';

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
  text: string;
  generation: number;
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

const STREAM_PROTOCOLS = ['tcp', 'tls', 'tls_passthrough', 'udp'] as const;

/** How long a new snapshot waits for the first DNS answers of its upstream targets before it is swapped in. */
const DNS_READY_MS = 5000;

/**
 * Compiles a checked configuration into a snapshot: services with their balancers, the router index, the plugin
 * chains. Throws when a plugin refuses its config (the manager reports it as a failed load).
 */
export async function buildSnapshot(input: SnapshotInput, rt: Runtime, listeners?: SnapshotListeners): Promise<Snapshot> {
  const config = deepFreeze(input.config);
  const balancers = new Map<string, Balancer>();
  const byName = new Map<string, Balancer>();
  const hostHeaders = new Map<string, string>();
  for (const u of config.upstreams) {
    const b = compileBalancer(u, config.targets.filter((t) => t.upstream === u.id), rt.registry);
    balancers.set(u.id, b);
    byName.set(u.name, b);
    if (u.host_header) hostHeaders.set(u.name, u.host_header);
  }
  await Promise.race([
    Promise.all([...balancers.values()].map((b) => b.ready())),
    new Promise((r) => setTimeout(r, DNS_READY_MS).unref()),
  ]);
  const certs = compileCertStore(config.certificates, config.snis, rt.defaultCert);
  const caById = new Map(config.ca_certificates.map((c) => [c.id, c]));
  const certById = new Map(config.certificates.map((c) => [c.id, c]));
  const services = new Map<string, CompiledService>();
  for (const s of config.services) {
    const upstreamTls = s.protocol === 'tls' ? compileUpstreamTls(s, caById, certById) : undefined;
    const pp = tagValue(s.tags, 'proxy_protocol');
    services.set(s.id, compileService(s, { balancer: byName.get(s.host), hostHeader: hostHeaders.get(s.host), upstreamTls, proxyProtocol: pp === 'v1' ? 1 : pp === 'v2' ? 2 : undefined }));
  }
  const router = compileRouter(config.routes, services, rt.router);
  const plugins = compilePluginChains(config.plugins, rt.plugins, rt.logger, {
    metrics: rt.metrics, routes: config.routes.map((r) => ({ id: r.id, service: r.service })),
  });
  const routeMax = new Map<string, number>();
  for (const r of config.routes) {
    const max = tagValue(r.tags, 'max_connections');
    if (max !== undefined) routeMax.set(r.id, Number(max));
  }
  const routeChains = new Map<string, RouteChains>();
  for (const r of config.routes) {
    const chains: RouteChains = {};
    for (const proto of STREAM_PROTOCOLS) {
      if (r.protocols.includes(proto)) chains[proto] = plugins.forRoute(r.id, r.service ?? undefined, proto);
    }
    routeChains.set(r.id, chains);
  }
  return Object.freeze({
    generation: input.generation,
    hash: input.hash,
    file: input.file,
    text: input.text,
    loadedAt: Date.now(),
    config,
    services,
    router,
    balancers,
    plugins,
    routeChains,
    globalChain: plugins.forRoute(),
    certs,
    routeMax,
    tlsDetect: listeners ? tlsDetectSet(router, listeners.streamListen, listeners.tlsDetect) : new Set<ListenerAddress>(),
  });
}
