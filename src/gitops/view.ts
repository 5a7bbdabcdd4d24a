/**
 * Flat, comparable views of normalized entities: what `config diff` compares and prints. References are compared
 * by id and shown by the referenced entity's name; set-like arrays are sorted so reordering is not a change;
 * private keys are compared but never shown.
 */
import { X509Certificate, createHash } from 'node:crypto';
import type { DeclarativeConfig, EntityType, RouteEntity } from '../config/types.js';
import { MATCH_FIELDS, type MatchField } from '../router/match-fields.js';

/** The entity types in the order diffs list them. */
export const ENTITY_ORDER: readonly EntityType[] = [
  'services',
  'routes',
  'upstreams',
  'targets',
  'certificates',
  'snis',
  'ca_certificates',
  'plugins',
  'consumers',
];

/** Singular names for messages. */
export const SINGULAR: Record<EntityType, string> = {
  services: 'service',
  routes: 'route',
  upstreams: 'upstream',
  targets: 'target',
  certificates: 'certificate',
  snis: 'sni',
  ca_certificates: 'ca_certificate',
  plugins: 'plugin',
  consumers: 'consumer',
};

/** Fields holding the id of another entity (arrays: a list of ids). */
const REFS: Partial<Record<EntityType, Record<string, EntityType>>> = {
  services: { client_certificate: 'certificates', ca_certificates: 'ca_certificates' },
  routes: { service: 'services' },
  snis: { certificate: 'certificates' },
  upstreams: { client_certificate: 'certificates' },
  targets: { upstream: 'upstreams' },
  plugins: { route: 'routes', service: 'services', consumer: 'consumers' },
};

/** A route's match fields compare and show as the table reads them (sets: order never counts). */
const ROUTE_MATCH = new Map<string, MatchField>(MATCH_FIELDS.map((f) => [f.name, f]));

const SECRET = new Set(['key', 'key_alt']);
const PEM = new Set(['cert', 'cert_alt']);
/** Free-form objects whose arrays keep their order (a plugin's config may depend on it). */
const ORDERED = new Set(['config']);

export type AnyEntity = { id: string } & Record<string, unknown>;

/** One field of a view: `cmp` decides equality, `show` is what people read, `id` backs a reference. */
export interface ViewField {
  cmp: string;
  show: unknown;
  secret?: true;
  /** `show` is a PEM certificate: described (subject, fingerprint) only when it differs, parsing is not free */
  pem?: true;
}

/** Names of every entity of a config by id, so references print as names. */
export class Labels {
  readonly #byId = new Map<string, string>();

  constructor(cfg: DeclarativeConfig) {
    // targets and plugins are named after the entities they point at, so those come first
    const late = new Set<EntityType>(['targets', 'plugins']);
    const order = [...ENTITY_ORDER.filter((t) => !late.has(t)), 'targets', 'plugins'] as EntityType[];
    for (const t of order) for (const e of entities(cfg, t)) this.#byId.set(e.id, label(t, e, this));
  }

  of(id: string): string {
    return this.#byId.get(id) ?? id;
  }
}

export function entities(cfg: DeclarativeConfig, type: EntityType): AnyEntity[] {
  return cfg[type] as unknown as AnyEntity[];
}

/** How an entity is named in messages: its name, username or target, else its id. */
export function label(type: EntityType, e: AnyEntity, labels?: Labels): string {
  switch (type) {
    case 'services':
    case 'routes':
    case 'upstreams':
    case 'snis':
      return typeof e.name === 'string' ? e.name : e.id;
    case 'consumers':
      return typeof e.username === 'string' ? e.username : typeof e.custom_id === 'string' ? e.custom_id : e.id;
    case 'targets':
      return `${labels ? labels.of(String(e.upstream)) : String(e.upstream)} ${String(e.target)}`;
    case 'plugins': {
      const scope = (['route', 'service', 'consumer'] as const)
        .filter((k) => e[k])
        .map((k) => `${k} ${labels ? labels.of(String(e[k])) : String(e[k])}`);
      const inst = typeof e.instance_name === 'string' ? ` '${e.instance_name}'` : '';
      return `${String(e.name)}${inst} (${scope.length ? scope.join(', ') : 'global'})`;
    }
    default:
      return e.id;
  }
}

/**
 * The key that pairs an entity of the old file with one of the new file when their ids differ (an id given in one
 * file only, say): the name where the type has one. Certificates have none.
 */
export function naturalKey(type: EntityType, e: AnyEntity, labels: Labels): string | undefined {
  if (type === 'certificates' || type === 'ca_certificates') return undefined;
  if ((type === 'services' || type === 'routes') && typeof e.name !== 'string') return undefined;
  return label(type, e, labels);
}

/** A short, public description of a PEM certificate: subject and sha256 fingerprint prefix. */
export function certText(pem: string): string {
  try {
    const x = new X509Certificate(pem);
    return `${x.subject.replace(/\n/g, ', ')} (sha256 ${x.fingerprint256.replace(/:/g, '').slice(0, 16).toLowerCase()})`;
  } catch {
    return `sha256 ${createHash('sha256').update(pem).digest('hex').slice(0, 16)}`;
  }
}

/** A config value as text: strings as they are, anything else as JSON (numbers and booleans read the same). */
export function shownText(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function sortedStrings(a: unknown[]): string[] {
  return a.map(shownText).sort();
}

/** The flat view of one entity: dotted field → value. `origins` and `id` are not part of it. */
export function view(type: EntityType, e: AnyEntity, labels: Labels): Map<string, ViewField> {
  const out = new Map<string, ViewField>();
  const refs = REFS[type] ?? {};
  for (const k of Object.keys(e).sort()) {
    if (k === 'id') continue;
    const v = e[k];
    if (v === undefined) continue;
    if (SECRET.has(k)) {
      // a hash would do for equality, but a plain compare avoids even deriving anything from a private key
      out.set(k, { cmp: v === null ? '' : shownText(v), show: null, secret: true });
    } else if (PEM.has(k) || (type === 'ca_certificates' && k === 'cert')) {
      out.set(k, { cmp: v === null ? '' : shownText(v).trim(), show: v, pem: true });
    } else if (refs[k]) {
      if (Array.isArray(v)) {
        const ids = [...(v as string[])].sort();
        out.set(k, { cmp: JSON.stringify(ids), show: ids.map((id) => labels.of(id)).sort() });
      } else out.set(k, { cmp: v === null ? '' : shownText(v), show: v === null ? null : labels.of(shownText(v)) });
    } else if (type === 'routes' && ROUTE_MATCH.has(k) && Array.isArray(v)) {
      const s = ROUTE_MATCH.get(k)!.texts(e as unknown as RouteEntity);
      out.set(k, { cmp: JSON.stringify(s), show: s });
    } else if (Array.isArray(v)) {
      const s = sortedStrings(v);
      out.set(k, { cmp: JSON.stringify(s), show: s });
    } else if (v !== null && typeof v === 'object') {
      flattenObject(k, v as Record<string, unknown>, out, ORDERED.has(k));
    } else {
      out.set(k, { cmp: JSON.stringify(v), show: v });
    }
  }
  return out;
}

function flattenObject(
  prefix: string,
  o: Record<string, unknown>,
  out: Map<string, ViewField>,
  ordered: boolean,
): void {
  const keys = Object.keys(o).sort();
  if (keys.length === 0) out.set(prefix, { cmp: '{}', show: {} });
  for (const k of keys) {
    const v = o[k];
    const f = `${prefix}.${k}`;
    if (v !== null && typeof v === 'object' && !Array.isArray(v))
      flattenObject(f, v as Record<string, unknown>, out, ordered);
    else if (Array.isArray(v) && !ordered) {
      const s = sortedStrings(v);
      out.set(f, { cmp: JSON.stringify(s), show: s });
    } else out.set(f, { cmp: JSON.stringify(v ?? null), show: v ?? null });
  }
}
