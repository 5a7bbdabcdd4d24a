import type { CheckContext } from './check-context.js';
import { entityRef, isObject, type Entities } from './flatten.js';

/** mtls-auth's `config.ca_certificates` name `ca_certificates` entities by id, as in Kong Enterprise; no STRICT. */
export function checkMtlsPlugins(ents: Entities, ctx: CheckContext): void {
  const ids = new Set(ents.ca_certificates.map((c) => c.id).filter((id) => id !== undefined));
  const routes = new Map(ents.routes.map((r) => [r.id, r]));
  for (const e of ents.plugins) {
    if (e.bad || e.raw.name !== 'mtls-auth' || !isObject(e.raw.config)) continue;
    // it acts at the TLS handshake kong-ts terminates: a route without tls never asks for a certificate
    const route = typeof e.refs.route === 'string' ? routes.get(e.refs.route) : undefined;
    if (route && Array.isArray(route.raw.protocols) && !route.raw.protocols.includes('tls')) {
      ctx.problems.warning(
        [...e.path, 'route'],
        "mtls-auth on a route without protocol 'tls' has no effect: client certificates are asked for only when kong-ts terminates TLS",
        { entity: entityRef(e), field: 'route' },
      );
    }
    if (e.raw.config.revocation_check_mode === 'STRICT') {
      ctx.problems.error(
        [...e.path, 'config', 'revocation_check_mode'],
        'STRICT is not supported: kong-ts does not check OCSP or CRLs (use SKIP or IGNORE_CA_ERROR)',
        { entity: entityRef(e), field: 'config' },
      );
    }
    const list = e.raw.config.ca_certificates;
    if (!Array.isArray(list)) continue;
    list.forEach((id, i) => {
      if (typeof id === 'string' && !ids.has(id)) {
        ctx.problems.error(
          [...e.path, 'config', 'ca_certificates', i],
          `invalid reference 'ca_certificates: ${id}' (no such entry in 'ca_certificates')`,
          { entity: entityRef(e), field: 'config' },
        );
      }
    });
  }
}
