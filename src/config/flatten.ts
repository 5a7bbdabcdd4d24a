import { ENTITY_TYPES, type EntityType, type Protocol } from './types.js';
import type { Path } from './parse.js';
import type { EntityRef } from './problems.js';

/** One entity as written, before checks: its raw fields, where it stands, and the entity it is nested in. */
export interface RawEntity {
  type: EntityType;
  /** the fields as written: unchecked for a `bad` entity, so read through `typeof` tests or `checked` */
  raw: Record<string, unknown>;
  path: Path;
  /** the entity this one is nested in (its parent reference comes from there, not from a field) */
  parent?: RawEntity;
  /** the schema found an error inside: rules are not checked on it, but references to it still resolve */
  bad: boolean;
  /** set by the id pass */
  id?: string;
  /** ids of the referenced entities, by field (`service`, `route`, `client_certificate`, ...) */
  refs: Record<string, string | null>;
  /** values the checks computed for normalize (url shorthand expanded, target with its port, ...) */
  derived: Derived;
  /** left out of the normalized config (HTTP-only), with a warning */
  skip?: boolean;
}

/** What the checks compute from an entity's fields, each set by one check (see where it is assigned). */
export interface Derived {
  /** services: the url shorthand expanded, or the separate fields with their defaults */
  protocol?: Protocol;
  host?: string;
  port?: number;
  path?: string | null;
  /** services: ids of the referenced ca_certificates */
  ca_certificates?: string[];
  /** ca_certificates: sha256 of the certificate */
  cert_digest?: string;
  /** targets: `host:port`, port filled in */
  target?: string;
  /** plugins: the config, defaults filled in by the plugin's schema */
  config?: Record<string, unknown>;
}

/**
 * The fields of an entity the schema found valid, with the types the schema checked: `T` is the normalized
 * entity, whose plain fields (names, numbers, flags, lists of strings) have the same types in the file. Other
 * fields stay `unknown`. References are read from `refs`, never from here (in the file they are names or `{id}`).
 */
export type CheckedFields<T> = Partial<T> & Record<string, unknown>;

/** An entity's fields once the schema has passed it (only called where `e.bad` is false). */
export function checked<T>(e: RawEntity): CheckedFields<T> {
  return e.raw as CheckedFields<T>;
}

export type Entities = Record<EntityType, RawEntity[]>;

/** Which nested collections each entity type may hold, and the type of their items. */
export const NESTED: Partial<Record<EntityType, Array<[string, EntityType]>>> = {
  services: [
    ['routes', 'routes'],
    ['plugins', 'plugins'],
  ],
  routes: [['plugins', 'plugins']],
  certificates: [['snis', 'snis']],
  upstreams: [['targets', 'targets']],
  consumers: [['plugins', 'plugins']],
};

/**
 * Flattens the document into one list per entity type, nested children pointing at their parent. Tolerates any
 * shape (the schema has already reported what is wrong): what is not an object is left out.
 */
export function flatten(data: unknown, bad: Set<string>): Entities {
  const out = Object.fromEntries(ENTITY_TYPES.map((k) => [k, [] as RawEntity[]])) as unknown as Entities;
  if (!isObject(data)) return out;
  const visit = (type: EntityType, list: unknown, base: Path, parent?: RawEntity): void => {
    if (!Array.isArray(list)) return;
    list.forEach((item: unknown, i) => {
      const path = [...base, i];
      // certificates[].snis may be plain names
      const raw = typeof item === 'string' && type === 'snis' && parent ? { name: item } : item;
      if (!isObject(raw)) return;
      const e: RawEntity = { type, raw, path, bad: bad.has(path.join('\u0000')), refs: {}, derived: {} };
      if (parent) e.parent = parent;
      out[type].push(e);
      for (const [key, childType] of NESTED[type] ?? []) visit(childType, raw[key], [...path, key], e);
    });
  };
  for (const key of ENTITY_TYPES) visit(key, data[key], [key]);
  return out;
}

/** The deepest entity holding a path: `services[0].routes[1].sources[0]` → `services[0].routes[1]`. */
export function entityOfPath(path: Path): { path: Path; type: EntityType } | undefined {
  const top = path[0];
  if (typeof top !== 'string' || !(ENTITY_TYPES as readonly string[]).includes(top) || typeof path[1] !== 'number')
    return undefined;
  let type = top as EntityType;
  let end = 2;
  for (;;) {
    const key = path[end];
    const nested = NESTED[type]?.find(([k]) => k === key);
    if (!nested || typeof path[end + 1] !== 'number') return { path: path.slice(0, end), type };
    type = nested[1];
    end += 2;
  }
}

/** The entity description Kong's flattened errors carry. */
export function entityRef(e: RawEntity): EntityRef {
  return refFromRaw(e.type, e.raw, e.id);
}

/** The entity description of the entity at `path` in raw data (for schema errors). */
export function entityRefAt(data: unknown, path: Path, type: EntityType): EntityRef {
  let node: unknown = data;
  for (const seg of path)
    node = node != null && typeof node === 'object' ? (node as Record<string | number, unknown>)[seg] : undefined;
  if (typeof node === 'string' && type === 'snis') node = { name: node };
  return refFromRaw(type, isObject(node) ? node : {}, undefined);
}

function refFromRaw(type: EntityType, raw: Record<string, unknown>, id: string | undefined): EntityRef {
  const ref: EntityRef = { type };
  const name =
    type === 'consumers'
      ? (raw.username ?? raw.custom_id)
      : type === 'plugins'
        ? (raw.instance_name ?? raw.name)
        : raw.name;
  if (typeof name === 'string') ref.name = name;
  const theId = typeof raw.id === 'string' ? raw.id : id;
  if (theId) ref.id = theId;
  if (Array.isArray(raw.tags) && raw.tags.every((t: unknown): t is string => typeof t === 'string'))
    ref.tags = raw.tags;
  return ref;
}

/** A mapping (not null, not an array): what YAML and JSON objects parse to. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
