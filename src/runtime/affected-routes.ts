/**
 * The reload policy's question: which routes of the old configuration a new one removes or changes. Kept cheap
 * (string keys, no entity views): the builder and the reload policy ask it on every reload, `config plan` too.
 */
import type { DeclarativeConfig, RouteEntity, ServiceEntity } from '../config/types.js';
import { matchKey, unservedBy } from '../router/match-fields.js';

function serviceKey(s: ServiceEntity | undefined, certs: Map<string, string>, cas: Map<string, string>): string {
  if (!s) return '-';
  if (!s.enabled) return 'disabled';
  const cc = s.client_certificate ? `${s.client_certificate}=${certs.get(s.client_certificate) ?? ''}` : '';
  const ca = (s.ca_certificates ?? [])
    .map((id) => `${id}=${cas.get(id) ?? ''}`)
    .sort()
    .join(',');
  return `${s.protocol}|${s.host}|${s.port}|${cc}|${s.tls_verify ?? ''}|${s.tls_verify_depth ?? ''}|${ca}`;
}

function byId<T extends { id: string }>(list: readonly T[]): Map<string, T> {
  const m = new Map<string, T>();
  for (const e of list) m.set(e.id, e);
  return m;
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
  const out = new Map<string, 'removed' | 'changed'>();
  const newRoutes = byId(newCfg.routes);
  const oldServices = byId(oldCfg.services),
    newServices = byId(newCfg.services);
  const pemKey = (c: { cert: string; key?: string }) => c.cert + (c.key ?? '');
  const oldCerts = new Map(oldCfg.certificates.map((c) => [c.id, pemKey(c)]));
  const newCerts = new Map(newCfg.certificates.map((c) => [c.id, pemKey(c)]));
  const oldCas = new Map(oldCfg.ca_certificates.map((c) => [c.id, c.cert]));
  const newCas = new Map(newCfg.ca_certificates.map((c) => [c.id, c.cert]));
  const oldKeys = new Map<string, string>(),
    newKeys = new Map<string, string>();
  const svcKey = (id: string | null | undefined, side: 'old' | 'new'): string => {
    const cache = side === 'old' ? oldKeys : newKeys;
    const k = id ?? '';
    let v = cache.get(k);
    if (v === undefined) {
      v =
        side === 'old'
          ? serviceKey(id ? oldServices.get(id) : undefined, oldCerts, oldCas)
          : serviceKey(id ? newServices.get(id) : undefined, newCerts, newCas);
      cache.set(k, v);
    }
    return v;
  };
  for (const o of oldCfg.routes) {
    if (!isStream(o) || svcKey(o.service, 'old') === 'disabled') continue; // never served: no connection to worry about
    const n = newRoutes.get(o.id);
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
