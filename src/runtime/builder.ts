/**
 * Builds snapshots on the main thread incrementally and in slices. What must live on the main thread (SecureContexts,
 * balancers, the router, plugin instances) is made here; every part whose content did not change since the last
 * build is reused (keyed by the load thread's content fingerprints), and the rest is made a slice at a time
 * (`Slicer`): no slice holds the event loop more than a few milliseconds, so proxied bytes keep flowing while a
 * large file is compiled. The swap that follows stays one assignment (the manager's).
 */
import type { SecureContext } from 'node:tls';
import { compileBalancer, type Balancer } from '../balancer/index.js';
import type { Fingerprints } from '../config/assemble.js';
import { tagValue } from '../config/kong-ts-tags.js';
import type { CertificateEntity, DeclarativeConfig, EntityType, RouteEntity, ServiceEntity } from '../config/types.js';
import { affectedAmong, type ConfigIndex } from './affected-routes.js';
import { compilePluginChains, type PluginChains } from '../plugins/chain.js';
import type { RouteChains } from '../proxy/types.js';
import { buildRouter, compileRoute, compileService, type StreamRoute } from '../router/compile.js';
import { detectingListeners, tlsListenersSliced, type TlsListener } from '../router/tls-listeners.js';
import type { CompiledService, Router } from '../router/types.js';
import { STREAM_PROTOCOLS } from '../net/protocols.js';
import { Slicer } from '../slices.js';
import { compileCertStore, contextFor } from '../tls/cert-store.js';
import { compileClientAuth } from '../tls/client-auth-routes.js';
import { compileUpstreamTls } from '../tls/upstream.js';
import type { Runtime } from './runtime.js';
import { deepFreeze, type Snapshot, type SnapshotInput, type SnapshotListeners } from './snapshot.js';

/** How long a new snapshot waits for the first DNS answers of its upstream targets before it is swapped in. */
const DNS_READY_MS = 5000;

/** What one build made, kept for the next one to reuse. */
interface Parts {
  generation: number;
  config: DeclarativeConfig;
  index: ConfigIndex | undefined;
  fps: Fingerprints | undefined;
  contexts: Map<string, SecureContext>;
  balancers: Map<string, Balancer>;
  upstreamTls: Map<string, CompiledService['upstreamTls']>;
  services: Map<string, { key: string; compiled: CompiledService }>;
  routes: Map<
    string,
    { fp: string; service: CompiledService | undefined; compiled: StreamRoute | undefined; chains: RouteChains }
  >;
  router: Router | undefined;
  tlsAt: readonly TlsListener[] | undefined;
  plugins: { key: string; chains: PluginChains } | undefined;
}

export class SnapshotBuilder {
  readonly #rt: Runtime;
  readonly #listeners: SnapshotListeners | undefined;
  #last: Parts | undefined;
  #defaultContext: SecureContext | undefined;
  /** mtls-auth handshake contexts by content (tls/client-auth.ts), handed from build to build */
  #clientAuthContexts = new Map<string, SecureContext>();

  constructor(rt: Runtime, listeners?: SnapshotListeners) {
    this.#rt = rt;
    this.#listeners = listeners;
  }

  async build(input: SnapshotInput): Promise<Snapshot> {
    const rt = this.#rt;
    const sl = input.slicer ?? new Slicer();
    const fps = input.fingerprints;
    const fp = (type: EntityType, id: string): string | undefined => fps?.[type].get(id);
    const last = this.#last;
    const config = fps ? input.config : deepFreeze(input.config);
    const next: Parts = {
      generation: input.generation,
      config,
      index: undefined,
      fps,
      contexts: new Map(),
      balancers: new Map(),
      upstreamTls: new Map(),
      services: new Map(),
      routes: new Map(),
      router: undefined,
      tlsAt: undefined,
      plugins: undefined,
    };

    // balancers: one per upstream, reused while the upstream and its targets are the same
    const targetsOf = new Map<string, DeclarativeConfig['targets'][number][]>();
    for (const t of config.targets) {
      let list = targetsOf.get(t.upstream);
      if (!list) targetsOf.set(t.upstream, (list = []));
      list.push(t);
      if (sl.due()) await sl.pause();
    }
    const balancers = new Map<string, Balancer>();
    const byName = new Map<string, Balancer>();
    const hostHeaders = new Map<string, string>();
    const fresh: Balancer[] = [];
    for (const u of config.upstreams) {
      const targets = targetsOf.get(u.id) ?? [];
      const key = keyOf(
        fp('upstreams', u.id),
        targets.map((t) => fp('targets', t.id)),
      );
      let b = key !== undefined ? last?.balancers.get(key) : undefined;
      if (!b) fresh.push((b = compileBalancer(u, targets, rt.registry)));
      if (key !== undefined) next.balancers.set(key, b);
      balancers.set(u.id, b);
      byName.set(u.name, b);
      if (u.host_header) hostHeaders.set(u.name, u.host_header);
      if (sl.due()) await sl.pause();
    }
    if (fresh.length) {
      sl.idle();
      await Promise.race([
        Promise.all(fresh.map((b) => b.ready())),
        new Promise((r) => setTimeout(r, DNS_READY_MS).unref()),
      ]);
      sl.resume();
    }

    // certificates: a SecureContext per certificate an SNI names, reused while the certificate is the same
    const certById = new Map<string, CertificateEntity>();
    for (const c of config.certificates) certById.set(c.id, c);
    const built = new Map<string, SecureContext>();
    for (const sni of config.snis) {
      if (built.has(sni.certificate)) continue;
      const cert = certById.get(sni.certificate);
      if (!cert) continue; // the store reports it
      const key = fp('certificates', cert.id);
      let ctx = key !== undefined ? last?.contexts.get(key) : undefined;
      ctx ??= contextFor(cert, `certificate ${cert.id}`);
      if (key !== undefined) next.contexts.set(key, ctx);
      built.set(cert.id, ctx);
      if (sl.due()) await sl.pause();
    }
    this.#defaultContext ??= contextFor(
      { cert: rt.defaultCert.cert, key: rt.defaultCert.key },
      'the default certificate',
    );
    const certs = compileCertStore(config.certificates, config.snis, this.#defaultContext, built, rt.defaultCert);
    await sl.tick();

    // services: reused while the entity, its balancer and its upstream TLS are the same
    const caById = new Map(config.ca_certificates.map((c) => [c.id, c]));
    const services = new Map<string, CompiledService>();
    const serviceById = new Map<string, ServiceEntity>();
    for (const s of config.services) {
      serviceById.set(s.id, s);
      const sfp = fp('services', s.id);
      let upstreamTls: CompiledService['upstreamTls'];
      if (s.protocol === 'tls') {
        const tlsKey = keyOf(sfp, [
          s.client_certificate ? fp('certificates', s.client_certificate) : '',
          ...(s.ca_certificates ?? []).map((id) => fp('ca_certificates', id)),
        ]);
        upstreamTls = tlsKey !== undefined ? last?.upstreamTls.get(tlsKey) : undefined;
        upstreamTls ??= compileUpstreamTls(s, caById, certById);
        if (tlsKey !== undefined) next.upstreamTls.set(tlsKey, upstreamTls);
      }
      const balancer = byName.get(s.host);
      const hostHeader = hostHeaders.get(s.host);
      const prev = sfp !== undefined ? last?.services.get(s.id) : undefined;
      let compiled: CompiledService;
      if (
        prev &&
        prev.key === sfp &&
        prev.compiled.balancer === balancer &&
        prev.compiled.hostHeader === hostHeader &&
        prev.compiled.upstreamTls === upstreamTls
      ) {
        compiled = prev.compiled;
        next.services.set(s.id, prev);
      } else {
        const pp = tagValue(s.tags, 'proxy_protocol');
        compiled = compileService(s, {
          balancer,
          hostHeader,
          upstreamTls,
          proxyProtocol: pp === 'v1' ? 1 : pp === 'v2' ? 2 : undefined,
        });
        if (sfp !== undefined) next.services.set(s.id, { key: sfp, compiled });
      }
      services.set(s.id, compiled);
      if (sl.due()) await sl.pause();
    }

    // plugins: the whole set of chains reused while every plugin entity is the same
    const pluginKey = keyOf(
      String(config.plugins.length),
      config.plugins.map((p) => fp('plugins', p.id)),
    );
    let plugins: PluginChains;
    const samePlugins = pluginKey !== undefined && last?.plugins?.key === pluginKey;
    if (samePlugins) plugins = last.plugins!.chains;
    else plugins = compilePluginChains(config.plugins, rt.plugins, rt.logger, { metrics: rt.metrics });
    if (pluginKey !== undefined) next.plugins = { key: pluginKey, chains: plugins };

    // routes: each compiled route reused while it and its service are the same, its chains while it and the plugins
    // are; the router while every route is. An unchanged route keeps the last build's record (no new object).
    const compiled: StreamRoute[] = [];
    const routeById = new Map<string, RouteEntity>();
    const routeChains = new Map<string, RouteChains>();
    const sharedChains = new Map<string, RouteChains>();
    const routeMax = new Map<string, number>();
    const tlsRoutes: RouteEntity[] = [];
    let reused = 0;
    for (const r of config.routes) {
      routeById.set(r.id, r);
      if (r.protocols.includes('tls')) tlsRoutes.push(r);
      const rfp = fp('routes', r.id);
      const service = r.service ? services.get(r.service) : undefined;
      const prev = rfp !== undefined ? last?.routes.get(r.id) : undefined;
      const sameEntity = prev !== undefined && prev.fp === rfp;
      const sameCompiled = sameEntity && prev.service === service;
      let c: StreamRoute | undefined;
      if (sameCompiled) {
        c = prev.compiled;
        reused++;
      } else c = compileRoute(r, services);
      const chains = sameEntity && samePlugins ? prev.chains : chainsOf(r, plugins, sharedChains);
      if (rfp !== undefined)
        next.routes.set(
          r.id,
          sameCompiled && prev.chains === chains ? prev : { fp: rfp, service, compiled: c, chains },
        );
      if (c) compiled.push(c);
      routeChains.set(r.id, chains);
      const max = tagValue(r.tags, 'max_connections');
      if (max !== undefined) routeMax.set(r.id, Number(max));
      if (sl.due()) await sl.pause();
    }
    const sameRoutes =
      last?.router !== undefined && reused === config.routes.length && last.routes.size === config.routes.length;
    const router = sameRoutes ? last.router! : await buildRouter(compiled, sl, rt.router);
    next.router = router;
    const ls = this.#listeners;
    const tlsAt =
      sameRoutes && last.tlsAt ? last.tlsAt : ls ? await tlsListenersSliced(router, ls.streamListen, sl) : [];
    next.tlsAt = tlsAt;
    const tlsDetect = detectingListeners(tlsAt, ls?.tlsDetect ?? 'off');
    await sl.tick();
    // contexts of unchanged certificates and CA lists are reused; the map starts over when it has grown large
    const authContexts = new Map(this.#clientAuthContexts.size > 1000 ? [] : this.#clientAuthContexts);
    const clientAuth = compileClientAuth(tlsRoutes, caById, routeChains, certs, authContexts);
    this.#clientAuthContexts = authContexts;
    const index: ConfigIndex = {
      routes: routeById,
      services: serviceById,
      certificates: certById,
      ca_certificates: caById,
    };
    next.index = index;
    const changes =
      last && fps && last.fps && last.index
        ? { from: last.generation, affected: await affectedSince(last, next, sl) }
        : undefined;

    const fields: Omit<Snapshot, 'text'> = {
      generation: input.generation,
      hash: input.hash,
      file: input.file,
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
      tlsDetect,
      tlsListeners: tlsAt,
      index,
      changes,
      clientAuth,
    };
    const snapshot = Object.freeze(
      Object.defineProperties(fields, {
        // decoded on first use (GET /config): a large file is not copied into a string on every reload
        text: { get: () => input.text, enumerable: true },
      }) as Snapshot,
    );
    this.#last = next;
    return snapshot;
  }
}

/**
 * A route's plugin chains per stream protocol; routes whose chains are the same chains share one object (the chains
 * themselves are shared by selection: plugins/chain.ts).
 */
function chainsOf(r: RouteEntity, plugins: PluginChains, shared: Map<string, RouteChains>): RouteChains {
  const chains: RouteChains = {};
  let key = '';
  for (const proto of STREAM_PROTOCOLS) {
    if (!r.protocols.includes(proto)) continue;
    const chain = plugins.forRoute(r.id, r.service ?? undefined, proto);
    chains[proto] = chain;
    key += `${proto}:${chain.serial},`;
  }
  const known = shared.get(key);
  if (known) return known;
  shared.set(key, chains);
  return chains;
}

/** A key from fingerprints, undefined when any is unknown (nothing is then reused). */
function keyOf(first: string | undefined, rest: (string | undefined)[]): string | undefined {
  if (first === undefined) return undefined;
  let key = first;
  for (const r of rest) {
    if (r === undefined) return undefined;
    key += '|' + r;
  }
  return key;
}

/**
 * The routes of the previous config a reload concerns (`affectedRoutes`' rule), worked out on the few routes whose
 * fingerprint, service or service certificates changed, instead of on the whole file at the swap.
 */
async function affectedSince(prev: Parts, next: Parts, sl: Slicer): Promise<Map<string, 'removed' | 'changed'>> {
  const pf = prev.fps!,
    nf = next.fps!;
  const touchedService = new Set<string>();
  for (const s of prev.config.services) {
    const refs = [
      s.client_certificate ? `c${s.client_certificate}` : '',
      ...(s.ca_certificates ?? []).map((id) => `a${id}`),
    ];
    const changed =
      pf.services.get(s.id) !== nf.services.get(s.id) ||
      refs.some(
        (r) =>
          r !== '' &&
          (r[0] === 'c'
            ? pf.certificates.get(r.slice(1)) !== nf.certificates.get(r.slice(1))
            : pf.ca_certificates.get(r.slice(1)) !== nf.ca_certificates.get(r.slice(1))),
      );
    if (changed) touchedService.add(s.id);
    if (sl.due()) await sl.pause();
  }
  const candidates: string[] = [];
  for (const r of prev.config.routes) {
    if (pf.routes.get(r.id) !== nf.routes.get(r.id) || (r.service && touchedService.has(r.service)))
      candidates.push(r.id);
    if (sl.due()) await sl.pause();
  }
  // a few at a time: a reload that touches most routes (a service every route uses) is also sliced
  const out = new Map<string, 'removed' | 'changed'>();
  for (let i = 0; i < candidates.length; i += 500) {
    for (const [id, how] of affectedAmong(prev.index!, next.index!, candidates.slice(i, i + 500))) out.set(id, how);
    if (sl.due()) await sl.pause();
  }
  return out;
}
