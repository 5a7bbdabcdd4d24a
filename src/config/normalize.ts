import type {
  CaCertificateEntity,
  CertificateEntity,
  ConsumerEntity,
  DeclarativeConfig,
  HealthchecksConfig,
  Origin,
  PluginEntity,
  RouteEntity,
  ServiceEntity,
  SniEntity,
  TargetEntity,
  UpstreamEntity,
} from './types.js';
import type { SourceMap } from './parse.js';
import { pathString } from './parse.js';
import { checked, isObject, type CheckedFields, type Entities, type RawEntity } from './flatten.js';
import { declarativeSchema, type JsonSchema } from './validate.js';
import { normalizeMatchFields } from '../router/match-fields.js';

/**
 * Builds the normalized config from checked entities: defaults filled in, url shorthand expanded, references as
 * ids, HTTP-only entities left out. Only called when the checks found no error.
 */
export function normalize(ents: Entities, formatVersion: string, file: string, map: SourceMap): DeclarativeConfig {
  const origins: Record<string, Origin> = {};
  const keep = (list: RawEntity[]): RawEntity[] => list.filter((e) => !e.skip);
  // normalize runs only when no check found an error: every entity passed the schema, so its fields are `checked`
  const out = <T>(list: RawEntity[], build: (e: RawEntity, r: CheckedFields<T>) => T): T[] =>
    keep(list).map((e) => {
      const pos = map.position(e.path);
      origins[e.id!] = { file, line: pos.line, column: pos.column, path: pathString(e.path) };
      return build(e, checked<T>(e));
    });
  return {
    format_version: formatVersion,
    services: out(ents.services, service),
    routes: out(ents.routes, route),
    certificates: out(ents.certificates, certificate),
    snis: out<SniEntity>(ents.snis, (e, r) => ({
      id: e.id!,
      name: r.name!,
      certificate: e.refs.certificate!,
      tags: tags(r),
    })),
    ca_certificates: out<CaCertificateEntity>(ents.ca_certificates, (e, r) => ({
      id: e.id!,
      cert: r.cert!,
      cert_digest: r.cert_digest ?? e.derived.cert_digest ?? null,
      tags: tags(r),
    })),
    upstreams: out(ents.upstreams, upstream),
    targets: out<TargetEntity>(ents.targets, (e, r) => ({
      id: e.id!,
      target: e.derived.target!,
      weight: r.weight ?? 100,
      upstream: e.refs.upstream!,
      tags: tags(r),
    })),
    plugins: out(ents.plugins, plugin),
    consumers: out<ConsumerEntity>(ents.consumers, (e, r) => ({
      id: e.id!,
      username: r.username ?? null,
      custom_id: r.custom_id ?? null,
      tags: tags(r),
    })),
    origins,
  };
}

function service(e: RawEntity, r: CheckedFields<ServiceEntity>): ServiceEntity {
  const d = e.derived;
  return withName(r, {
    id: e.id!,
    protocol: d.protocol!,
    host: d.host!,
    port: d.port!,
    path: d.path ?? null,
    retries: r.retries ?? 5,
    connect_timeout: r.connect_timeout ?? 60000,
    write_timeout: r.write_timeout ?? 60000,
    read_timeout: r.read_timeout ?? 60000,
    client_certificate: e.refs.client_certificate ?? null,
    tls_verify: r.tls_verify ?? null,
    tls_verify_depth: r.tls_verify_depth ?? null,
    ca_certificates: d.ca_certificates?.length ? d.ca_certificates : null,
    enabled: r.enabled ?? true,
    tags: tags(r),
  });
}

function route(e: RawEntity, r: CheckedFields<RouteEntity>): RouteEntity {
  return withName(r, {
    id: e.id!,
    ...normalizeMatchFields(r),
    service: e.refs.service ?? null,
    ...(r.preserve_host === true ? { preserve_host: true } : {}),
    tags: tags(r),
  });
}

function certificate(e: RawEntity, r: CheckedFields<CertificateEntity>): CertificateEntity {
  return {
    id: e.id!,
    cert: r.cert!,
    key: r.key!,
    cert_alt: r.cert_alt ?? null,
    key_alt: r.key_alt ?? null,
    tags: tags(r),
  };
}

function upstream(e: RawEntity, r: CheckedFields<UpstreamEntity>): UpstreamEntity {
  return {
    id: e.id!,
    name: r.name!,
    algorithm: r.algorithm ?? 'round-robin',
    hash_on: r.hash_on ?? 'none',
    hash_fallback: r.hash_fallback ?? 'none',
    slots: r.slots ?? 10000,
    healthchecks: withDefaults(healthcheckSchema(), r.healthchecks) as HealthchecksConfig,
    client_certificate: e.refs.client_certificate ?? null,
    ...(typeof r.host_header === 'string' ? { host_header: r.host_header } : {}),
    tags: tags(r),
  };
}

function plugin(e: RawEntity, r: CheckedFields<PluginEntity>): PluginEntity {
  return {
    id: e.id!,
    name: r.name!,
    instance_name: r.instance_name ?? null,
    config: e.derived.config ?? {},
    route: e.refs.route ?? null,
    service: e.refs.service ?? null,
    consumer: e.refs.consumer ?? null,
    enabled: r.enabled ?? true,
    protocols: r.protocols ?? ['grpc', 'grpcs', 'http', 'https'],
    tags: tags(r),
  };
}

function tags(r: { tags?: string[] }): string[] {
  return Array.isArray(r.tags) ? r.tags : [];
}

function withName<T extends object>(r: { name?: unknown }, entity: T): T {
  return typeof r.name === 'string' ? { ...entity, name: r.name } : entity;
}

let hcSchema: JsonSchema | undefined;

/** Kong's health check defaults live in the schema (single source for editors and for us). */
function healthcheckSchema(): JsonSchema {
  hcSchema ??= declarativeSchema().definitions!.upstream!.properties!.healthchecks!;
  return hcSchema;
}

/** Fills in the `default`s a JSON Schema declares, recursively through `properties`. */
export function withDefaults(schema: JsonSchema, value: unknown): unknown {
  if (!schema.properties) return value === undefined && 'default' in schema ? structuredClone(schema.default) : value;
  if (value !== undefined && !isObject(value)) return value;
  const out: Record<string, unknown> = { ...value };
  for (const [k, sub] of Object.entries(schema.properties)) {
    if (out[k] === undefined && !('default' in sub)) continue;
    out[k] = withDefaults(sub, out[k] === undefined && !sub.properties ? structuredClone(sub.default) : out[k]);
  }
  return out;
}
