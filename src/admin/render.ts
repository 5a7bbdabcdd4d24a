/**
 * Entities as Kong's admin API renders them: every field present (Kong's defaults for the HTTP-only ones), foreign
 * keys as `{ "id": ... }`, `created_at`/`updated_at` in seconds, absent values as null, private keys redacted.
 * Rendered once per snapshot (the index is cached by snapshot), never per request.
 */
import { X509Certificate } from 'node:crypto';
import {
  ENTITY_TYPES,
  type CaCertificateEntity,
  type CertificateEntity,
  type ConsumerEntity,
  type DeclarativeConfig,
  type EntityType,
  type HealthchecksConfig,
  type PluginEntity,
  type RouteEntity,
  type ServiceEntity,
  type SniEntity,
  type TargetEntity,
  type UpstreamEntity,
} from '../config/types.js';
import { REDACTED } from '../config/declarative-errors.js';
import { MATCH_FIELDS } from '../router/match-fields.js';

export type Rendered = Record<string, unknown> & { id: string };

/** One snapshot's entities, rendered, with the lookups the endpoints need. */
export interface EntityIndex {
  readonly lists: Readonly<Record<EntityType, readonly Rendered[]>>;
  /** by id, and by the endpoint key Kong accepts in place of an id (name, username, instance_name, sni name) */
  find(type: EntityType, idOrName: string): Rendered | undefined;
  readonly tags: readonly { entity_name: EntityType; entity_id: string; tag: string }[];
}

const fk = (id: string | null | undefined): { id: string } | null => (id ? { id } : null);
const tagsOf = (tags: readonly string[]): readonly string[] | null => (tags.length ? tags : null);

function service(s: ServiceEntity, ts: number): Rendered {
  return {
    id: s.id,
    name: s.name ?? null,
    created_at: ts,
    updated_at: ts,
    protocol: s.protocol,
    host: s.host,
    port: s.port,
    path: s.path ?? null,
    retries: s.retries,
    connect_timeout: s.connect_timeout,
    write_timeout: s.write_timeout,
    read_timeout: s.read_timeout,
    tags: tagsOf(s.tags),
    client_certificate: fk(s.client_certificate),
    tls_verify: s.tls_verify ?? null,
    tls_verify_depth: s.tls_verify_depth ?? null,
    ca_certificates: s.ca_certificates ?? null,
    enabled: s.enabled,
  };
}

function route(r: RouteEntity, ts: number): Rendered {
  const out: Rendered = {
    id: r.id,
    name: r.name ?? null,
    created_at: ts,
    updated_at: ts,
    methods: null,
    hosts: null,
    paths: null,
    headers: null,
    https_redirect_status_code: 426,
    regex_priority: 0,
    strip_path: true,
    path_handling: 'v0',
    preserve_host: r.preserve_host === true,
    request_buffering: true,
    response_buffering: true,
  };
  // every match field (router/match-fields.ts) as the file gave it, null when unset
  for (const f of MATCH_FIELDS) out[f.name] = r[f.name] ?? null;
  out.tags = tagsOf(r.tags);
  out.service = fk(r.service);
  return out;
}

function certificate(c: CertificateEntity, ts: number, snis: string[]): Rendered {
  return {
    id: c.id,
    created_at: ts,
    updated_at: ts,
    cert: c.cert,
    key: REDACTED,
    cert_alt: c.cert_alt ?? null,
    key_alt: c.key_alt ? REDACTED : null,
    tags: tagsOf(c.tags),
    snis,
  };
}

function sni(s: SniEntity, ts: number): Rendered {
  return {
    id: s.id,
    name: s.name,
    created_at: ts,
    updated_at: ts,
    certificate: { id: s.certificate },
    tags: tagsOf(s.tags),
  };
}

/** Kong's cert_digest: the hex sha256 of the certificate's DER. */
function digest(pem: string): string | null {
  try {
    return new X509Certificate(pem).fingerprint256.replaceAll(':', '').toLowerCase();
  } catch {
    return null;
  }
}

function caCertificate(c: CaCertificateEntity, ts: number): Rendered {
  return {
    id: c.id,
    created_at: ts,
    updated_at: ts,
    cert: c.cert,
    cert_digest: c.cert_digest ?? digest(c.cert),
    tags: tagsOf(c.tags),
  };
}

/** Kong's healthchecks with the HTTP-only fields at their defaults, then the stream fields from the file. */
function healthchecks(h: HealthchecksConfig): unknown {
  return {
    threshold: h.threshold,
    active: {
      type: h.active.type,
      timeout: h.active.timeout,
      concurrency: h.active.concurrency,
      http_path: '/',
      https_verify_certificate: true,
      https_sni: null,
      headers: null,
      healthy: {
        interval: h.active.healthy.interval,
        successes: h.active.healthy.successes,
        http_statuses: [200, 302],
      },
      unhealthy: {
        interval: h.active.unhealthy.interval,
        tcp_failures: h.active.unhealthy.tcp_failures,
        timeouts: h.active.unhealthy.timeouts,
        http_failures: 0,
        http_statuses: [429, 404, 500, 501, 502, 503, 504, 505],
      },
    },
    passive: {
      type: h.passive.type,
      healthy: {
        successes: h.passive.healthy.successes,
        http_statuses: [200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308],
      },
      unhealthy: {
        tcp_failures: h.passive.unhealthy.tcp_failures,
        timeouts: h.passive.unhealthy.timeouts,
        http_failures: 0,
        http_statuses: [429, 500, 503],
      },
    },
  };
}

function upstream(u: UpstreamEntity, ts: number): Rendered {
  return {
    id: u.id,
    name: u.name,
    created_at: ts,
    updated_at: ts,
    algorithm: u.algorithm,
    hash_on: u.hash_on,
    hash_fallback: u.hash_fallback,
    hash_on_header: null,
    hash_fallback_header: null,
    hash_on_cookie: null,
    hash_on_cookie_path: '/',
    hash_on_query_arg: null,
    hash_fallback_query_arg: null,
    hash_on_uri_capture: null,
    hash_fallback_uri_capture: null,
    slots: u.slots,
    healthchecks: healthchecks(u.healthchecks),
    tags: tagsOf(u.tags),
    host_header: u.host_header ?? null,
    client_certificate: fk(u.client_certificate),
    use_srv_name: false,
  };
}

function target(t: TargetEntity, ts: number): Rendered {
  return {
    id: t.id,
    created_at: ts,
    updated_at: ts,
    upstream: { id: t.upstream },
    target: t.target,
    weight: t.weight,
    tags: tagsOf(t.tags),
  };
}

function plugin(p: PluginEntity, ts: number): Rendered {
  return {
    id: p.id,
    name: p.name,
    instance_name: p.instance_name ?? null,
    created_at: ts,
    updated_at: ts,
    route: fk(p.route),
    service: fk(p.service),
    consumer: fk(p.consumer),
    config: p.config,
    protocols: p.protocols,
    enabled: p.enabled,
    tags: tagsOf(p.tags),
    ordering: null,
  };
}

function consumer(c: ConsumerEntity, ts: number): Rendered {
  return {
    id: c.id,
    created_at: ts,
    updated_at: ts,
    username: c.username ?? null,
    custom_id: c.custom_id ?? null,
    tags: tagsOf(c.tags),
  };
}

/** The endpoint key Kong accepts instead of an id, per entity type. */
function alternateKey(type: EntityType, e: Rendered): string | undefined {
  const v = type === 'consumers' ? e.username : type === 'plugins' ? e.instance_name : e.name;
  return typeof v === 'string' ? v : undefined;
}

/** Renders every entity of a configuration; `loadedAt` (ms) becomes every created_at and updated_at. */
export function buildIndex(cfg: DeclarativeConfig, loadedAt: number): EntityIndex {
  const ts = Math.floor(loadedAt / 1000);
  const snisOf = new Map<string, string[]>();
  for (const s of cfg.snis) snisOf.set(s.certificate, [...(snisOf.get(s.certificate) ?? []), s.name]);
  const lists: Record<EntityType, Rendered[]> = {
    services: cfg.services.map((e) => service(e, ts)),
    routes: cfg.routes.map((e) => route(e, ts)),
    certificates: cfg.certificates.map((e) => certificate(e, ts, snisOf.get(e.id) ?? [])),
    snis: cfg.snis.map((e) => sni(e, ts)),
    ca_certificates: cfg.ca_certificates.map((e) => caCertificate(e, ts)),
    upstreams: cfg.upstreams.map((e) => upstream(e, ts)),
    targets: cfg.targets.map((e) => target(e, ts)),
    plugins: cfg.plugins.map((e) => plugin(e, ts)),
    consumers: cfg.consumers.map((e) => consumer(e, ts)),
  };
  const keys = new Map<string, Rendered>();
  const tags: { entity_name: EntityType; entity_id: string; tag: string }[] = [];
  for (const type of ENTITY_TYPES) {
    for (const e of lists[type]) {
      keys.set(`${type}\0${e.id}`, e);
      const alt = alternateKey(type, e);
      if (alt !== undefined && !keys.has(`${type}\0${alt}`)) keys.set(`${type}\0${alt}`, e);
      for (const tag of (e.tags as string[] | null) ?? []) tags.push({ entity_name: type, entity_id: e.id, tag });
    }
  }
  // Kong finds a certificate by one of its SNI names too
  for (const s of cfg.snis) {
    const cert = keys.get(`certificates\0${s.certificate}`);
    if (cert && !keys.has(`certificates\0${s.name}`)) keys.set(`certificates\0${s.name}`, cert);
  }
  return { lists, tags, find: (type, key) => keys.get(`${type}\0${key}`) };
}
