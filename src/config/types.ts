/**
 * The normalized declarative configuration: what the load pipeline (parse → validate → check → normalize)
 * hands to the snapshot compiler. Every entity has its id (given, or a stable UUIDv5), every reference
 * is resolved to the referenced entity's id, every default is filled in, nesting is flattened.
 */

export type Protocol = 'tcp' | 'tls' | 'tls_passthrough' | 'udp' | 'http' | 'https' | 'grpc' | 'grpcs' | 'ws' | 'wss';
export type StreamProtocol = 'tcp' | 'tls' | 'tls_passthrough' | 'udp';

/** Where an entity or a value stands in its file (1-based line and column). */
export interface Origin {
  file: string;
  line: number;
  column: number;
  /** JSON-pointer-like path in the file, e.g. `services[0].routes[1]`. */
  path: string;
}

export interface ServiceEntity {
  id: string;
  name?: string;
  protocol: Protocol;
  host: string;
  port: number;
  path?: string | null;
  retries: number;
  connect_timeout: number;
  write_timeout: number;
  read_timeout: number;
  /** id of a certificate entity */
  client_certificate?: string | null;
  tls_verify?: boolean | null;
  tls_verify_depth?: number | null;
  /** ids of ca_certificate entities */
  ca_certificates?: string[] | null;
  enabled: boolean;
  tags: string[];
}

/** A `sources` or `destinations` entry: at least one of ip (address or CIDR) and port. */
export interface IpPort {
  ip?: string;
  port?: number;
}

export interface RouteEntity {
  id: string;
  name?: string;
  protocols: Protocol[];
  sources?: IpPort[] | null;
  destinations?: IpPort[] | null;
  snis?: string[] | null;
  /** id of the service entity */
  service?: string | null;
  /** Kong: upstream TLS sends the client's SNI (set only when true) */
  preserve_host?: boolean;
  tags: string[];
}

export interface CertificateEntity {
  id: string;
  cert: string;
  key: string;
  cert_alt?: string | null;
  key_alt?: string | null;
  tags: string[];
}

export interface SniEntity {
  id: string;
  name: string;
  /** id of the certificate entity */
  certificate: string;
  tags: string[];
}

export interface CaCertificateEntity {
  id: string;
  cert: string;
  cert_digest?: string | null;
  tags: string[];
}

export interface HealthchecksConfig {
  threshold: number;
  active: {
    type: 'tcp' | 'http' | 'https' | 'grpc' | 'grpcs';
    timeout: number;
    concurrency: number;
    /** http and https probes: the request's path, extra headers (name → values), TLS name and verification */
    http_path?: string;
    headers?: Record<string, string[]> | null;
    https_sni?: string | null;
    https_verify_certificate?: boolean;
    healthy: { interval: number; successes: number; http_statuses?: number[] };
    unhealthy: {
      interval: number;
      tcp_failures: number;
      timeouts: number;
      http_failures?: number;
      http_statuses?: number[];
    };
  };
  passive: {
    type: 'tcp' | 'http' | 'https' | 'grpc' | 'grpcs';
    healthy: { successes: number };
    unhealthy: { tcp_failures: number; timeouts: number };
  };
}

export interface UpstreamEntity {
  id: string;
  name: string;
  algorithm: 'round-robin' | 'consistent-hashing' | 'least-connections' | 'latency';
  hash_on: string;
  hash_fallback: string;
  slots: number;
  healthchecks: HealthchecksConfig;
  /** id of a certificate entity */
  client_certificate?: string | null;
  /** Kong: the host name sent upstream (upstream TLS SNI) instead of the target's (set only when given) */
  host_header?: string;
  tags: string[];
}

export interface TargetEntity {
  id: string;
  /** `host:port`, port filled in (8000 when the file gave none) */
  target: string;
  weight: number;
  /** id of the upstream entity */
  upstream: string;
  tags: string[];
}

export interface PluginEntity {
  id: string;
  name: string;
  instance_name?: string | null;
  config: Record<string, unknown>;
  route?: string | null;
  service?: string | null;
  consumer?: string | null;
  enabled: boolean;
  protocols: Protocol[];
  tags: string[];
}

export interface ConsumerEntity {
  id: string;
  username?: string | null;
  custom_id?: string | null;
  tags: string[];
}

export interface DeclarativeConfig {
  format_version: string;
  services: ServiceEntity[];
  routes: RouteEntity[];
  certificates: CertificateEntity[];
  snis: SniEntity[];
  ca_certificates: CaCertificateEntity[];
  upstreams: UpstreamEntity[];
  targets: TargetEntity[];
  plugins: PluginEntity[];
  consumers: ConsumerEntity[];
  /** entity id → where it stands in the file */
  origins: Record<string, Origin>;
}

/** The entity collections of a declarative config, in the one order kept everywhere (load, chunks, admin API). */
export const ENTITY_TYPES = [
  'services',
  'routes',
  'certificates',
  'snis',
  'ca_certificates',
  'upstreams',
  'targets',
  'plugins',
  'consumers',
] as const;

export type EntityType = (typeof ENTITY_TYPES)[number];

/** A config without entities (what a load assembles into; what the admin API shows before the first load). */
export function emptyConfig(formatVersion = '3.0'): DeclarativeConfig {
  return {
    format_version: formatVersion,
    services: [],
    routes: [],
    certificates: [],
    snis: [],
    ca_certificates: [],
    upstreams: [],
    targets: [],
    plugins: [],
    consumers: [],
    origins: {},
  };
}

/** One problem found in a file: an error rejects the file, a warning does not. */
export interface Problem {
  severity: 'error' | 'warning';
  file: string;
  line: number;
  column: number;
  /** path of the offending value, e.g. `services[0].routes[1].sources[0].ip` */
  path: string;
  message: string;
  /** the entity the problem belongs to, when there is one */
  entity?: { type: EntityType; name?: string; id?: string; tags?: string[] };
  /** the field inside the entity (`field` errors) or absent (`entity` errors), for Kong's flattened_errors */
  field?: string;
}

export interface LoadOptions {
  /** HTTP-only routes and services become errors instead of being skipped with a warning */
  strict?: boolean;
  /** keys that read `[redacted]` (a config fetched from the admin API) are accepted unchecked */
  redactedKeys?: boolean;
  /**
   * JSON Schemas of the `config` of known plugins, by plugin name. When given, an unknown plugin name is an error
   * and each plugin's config is validated against its schema (defaults filled in).
   */
  pluginSchemas?: Record<string, object>;
  /** false: certificates are not checked for expiry (`config lint` reports expiry itself, with its own horizon) */
  expiry?: boolean;
}

export type LoadResult =
  | { ok: true; config: DeclarativeConfig; problems: Problem[]; hash: string; text: string; file: string }
  | { ok: false; problems: Problem[]; hash: string; text: string; file: string };
