/**
 * The reload policy's question: which routes of the old configuration a new one removes or changes. Kept cheap
 * (string keys, no entity views): the builder and the reload policy ask it on every reload, `config plan` too.
 */
import type {
  CaCertificateEntity,
  CertificateEntity,
  DeclarativeConfig,
  RouteEntity,
  ServiceEntity,
} from '../config/types.js';
import { matchKey, unservedBy } from '../router/match-fields.js';

/** A configuration's entities by id: what the question needs, so it can be asked of a few routes at a time. */
export interface ConfigIndex {
  readonly routes: ReadonlyMap<string, RouteEntity>;
  readonly services: ReadonlyMap<string, ServiceEntity>;
  readonly certificates: ReadonlyMap<string, CertificateEntity>;
  readonly ca_certificates: ReadonlyMap<string, CaCertificateEntity>;
}

/** What one reload removed or changed of the snapshot it replaced (generation `from`). */
export interface ReloadChange {
  readonly from: number;
  readonly affected: ReadonlyMap<string, 'removed' | 'changed'>;
}

function byId<T extends { id: string }>(list: readonly T[]): Map<string, T> {
  const m = new Map<string, T>();
  for (const e of list) m.set(e.id, e);
  return m;
}

/** The index of a whole configuration (linear; a snapshot builds its own while it is built). */
export function indexConfig(cfg: DeclarativeConfig): ConfigIndex {
  return {
    routes: byId(cfg.routes),
    services: byId(cfg.services),
    certificates: byId(cfg.certificates),
    ca_certificates: byId(cfg.ca_certificates),
  };
}

function serviceKey(s: ServiceEntity | undefined, idx: ConfigIndex): string {
  if (!s) return '-';
  if (!s.enabled) return 'disabled';
  const c = s.client_certificate ? idx.certificates.get(s.client_certificate) : undefined;
  const cc = s.client_certificate ? `${s.client_certificate}=${c ? c.cert + (c.key ?? '') : ''}` : '';
  const ca = (s.ca_certificates ?? [])
    .map((id) => `${id}=${idx.ca_certificates.get(id)?.cert ?? ''}`)
    .sort()
    .join(',');
  return `${s.protocol}|${s.host}|${s.port}|${cc}|${s.tls_verify ?? ''}|${s.tls_verify_depth ?? ''}|${ca}`;
}

function isStream(r: RouteEntity): boolean {
  return unservedBy(r) === undefined;
}

/**
 * The routes of the old configuration whose open connections a reload concerns: `removed` when the route is gone
 * (or is no longer served: its service disabled, no stream protocol left); `changed` when its service id, one of
 * its match fields (router/match-fields.ts: `matchKey`), or its service's host, port, protocol or TLS fields
 * (client certificate, tls_verify, tls_verify_depth, CA certificates, including their content) changed.
 * Routes not in the map are untouched. Linear in the number of routes and services.
 */
export function affectedRoutes(
  oldCfg: DeclarativeConfig,
  newCfg: DeclarativeConfig,
): Map<string, 'removed' | 'changed'> {
  const old = indexConfig(oldCfg);
  return affectedAmong(old, indexConfig(newCfg), old.routes.keys());
}

/**
 * `affectedRoutes`' answer for the given ids of old routes only (the others are taken as untouched): linear in their
 * number, so a reload asks it of the routes whose content changed rather than of the whole file.
 */
export function affectedAmong(
  old: ConfigIndex,
  next: ConfigIndex,
  ids: Iterable<string>,
): Map<string, 'removed' | 'changed'> {
  const out = new Map<string, 'removed' | 'changed'>();
  const oldKeys = new Map<string, string>(),
    newKeys = new Map<string, string>();
  const svcKey = (id: string | null | undefined, side: 'old' | 'new'): string => {
    const cache = side === 'old' ? oldKeys : newKeys;
    const idx = side === 'old' ? old : next;
    const k = id ?? '';
    let v = cache.get(k);
    if (v === undefined) {
      v = serviceKey(id ? idx.services.get(id) : undefined, idx);
      cache.set(k, v);
    }
    return v;
  };
  for (const id of ids) {
    const o = old.routes.get(id);
    if (!o) continue;
    if (!isStream(o) || svcKey(o.service, 'old') === 'disabled') continue; // never served: no connection to worry about
    const n = next.routes.get(id);
    if (!n || !isStream(n) || svcKey(n.service, 'new') === 'disabled') {
      out.set(o.id, 'removed');
      continue;
    }
    if (
      (o.service ?? '') !== (n.service ?? '') ||
      matchKey(o) !== matchKey(n) ||
      svcKey(o.service, 'old') !== svcKey(n.service, 'new')
    ) {
      out.set(o.id, 'changed');
    }
  }
  return out;
}
