import { createHash } from 'node:crypto';
import type { RawEntity } from './flatten.js';

/** Kong's namespace for declarative ids. */
export const KONG_NAMESPACE = 'fd02801f-0957-4a15-a55a-c8d9606f30b5';

/** RFC 4122 version 5 (SHA-1, name-based) UUID. */
export function uuidv5(name: string, namespace: string = KONG_NAMESPACE): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const bytes = createHash('sha1').update(ns).update(name, 'utf8').digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text.trim()).digest('hex');
}

/**
 * The key an entity's id is derived from when the file gives none: `uuidv5('<type>:<key>')`. Keys use only what
 * identifies the entity, so an id survives reloads, reordering and edits of other fields:
 * - services, routes, upstreams: `<name>`; consumers: `<username>`, else `:<custom_id>`;
 * - snis: `<name>`; certificates and ca_certificates: sha256 of the PEM `cert`;
 * - targets: `<upstream id>:<host:port>` (port filled in);
 * - plugins: `<name>:<route id>:<service id>:<consumer id>` (Kong's own uniqueness key for plugins);
 * - unnamed routes: `<service id>:<n>`, n counting the unnamed routes of that service in file order;
 * - unnamed services: their fields as sorted JSON, then `:<n>`, n counting identical ones in file order.
 * The caller appends `:<n>` for unnamed routes and services (see `isUnnamed`). `refs` holds the ids of the
 * referenced entities, already resolved.
 */
export function idKey(e: RawEntity, refs: Record<string, string | null | undefined>, target?: string): string {
  const r = e.raw;
  switch (e.type) {
    case 'services':
      return typeof r.name === 'string'
        ? r.name
        : stableJson(omitKeys(r, ['routes', 'plugins', '_comment', '_ignore']));
    case 'routes':
      return typeof r.name === 'string' ? r.name : (refs.service ?? '');
    case 'upstreams':
    case 'snis':
      return String(r.name);
    case 'consumers':
      return typeof r.username === 'string' ? r.username : `:${String(r.custom_id)}`;
    case 'certificates':
    case 'ca_certificates':
      return sha256(String(r.cert));
    case 'targets':
      return `${refs.upstream ?? ''}:${target ?? String(r.target)}`;
    case 'plugins':
      return `${String(r.name)}:${refs.route ?? ''}:${refs.service ?? ''}:${refs.consumer ?? ''}`;
  }
}

/** Unnamed routes and services: their key is shared by several entities, told apart by their order. */
export function isUnnamed(e: RawEntity): boolean {
  return (e.type === 'services' || e.type === 'routes') && typeof e.raw.name !== 'string';
}

export function stableId(e: RawEntity, key: string): string {
  return uuidv5(`${e.type}:${key}`);
}

function omitKeys(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));
}

/** JSON with object keys sorted at every level. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
