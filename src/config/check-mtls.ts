import type { CheckContext } from './check.js';
import { entityRef, isObject, type Entities } from './flatten.js';

/** mtls-auth's `config.ca_certificates` name `ca_certificates` entities by id, as in Kong Enterprise; no STRICT. */
export function checkMtlsPlugins(ents: Entities, ctx: CheckContext): void {
  const ids = new Set(ents.ca_certificates.map((c) => c.id).filter((id) => id !== undefined));
  for (const e of ents.plugins) {
    if (e.bad || e.raw.name !== 'mtls-auth' || !isObject(e.raw.config)) continue;
    if (e.raw.config.revocation_check_mode === 'STRICT') {
      ctx.problems.error([...e.path, 'config', 'revocation_check_mode'], "STRICT is not supported: kong-ts does not check OCSP or CRLs (use SKIP or IGNORE_CA_ERROR)",
        { entity: entityRef(e), field: 'config' });
    }
    const list = e.raw.config.ca_certificates;
    if (!Array.isArray(list)) continue;
    list.forEach((id, i) => {
      if (typeof id === 'string' && !ids.has(id)) {
        ctx.problems.error([...e.path, 'config', 'ca_certificates', i], `invalid reference 'ca_certificates: ${id}' (no such entry in 'ca_certificates')`,
          { entity: entityRef(e), field: 'config' });
      }
    });
  }
}
