import type { SecureContext } from 'node:tls';
import type { CaCertificateEntity, RouteEntity } from '../config/types.js';
import { MtlsAuth } from '../plugins/bundled/mtls-auth.js';
import type { RouteChains } from '../proxy/types.js';
import type { CertStore } from './cert-store.js';
import { ClientAuth } from './client-auth.js';

/**
 * The client-auth contexts of a snapshot: for each route (of `tlsRoutes`, those with the tls protocol) whose `tls` chain holds an mtls-auth plugin (Kong's
 * scoping: route, service or global), a ClientAuth over one context map shared by every route of the snapshot
 * (keyed by content, so routes with the same settings share their contexts; pass the previous snapshot's map as
 * `cache` to reuse the unchanged ones).
 */
export function compileClientAuth(
  tlsRoutes: Iterable<RouteEntity>,
  cas: ReadonlyMap<string, CaCertificateEntity>,
  chains: ReadonlyMap<string, RouteChains>,
  certs: CertStore,
  cache = new Map<string, SecureContext>(),
): Map<string, ClientAuth> {
  const out = new Map<string, ClientAuth>();
  for (const r of tlsRoutes) {
    if (!r.protocols.includes('tls')) continue;
    const plugin = chains.get(r.id)?.tls?.instanceOf('mtls-auth');
    if (!(plugin instanceof MtlsAuth)) continue;
    out.set(r.id, new ClientAuth(plugin, certs, cas, cache, r.snis ?? []));
  }
  return out;
}
