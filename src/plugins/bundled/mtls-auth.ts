/**
 * Kong Enterprise's `mtls-auth` on `tls` routes: the route's TLS handshake requests a client certificate and
 * verifies it against the CA certificates named by `ca_certificates` (ids of `ca_certificates` entities). The work
 * is done at the handshake (tls/client-auth.ts builds the route's SecureContext once per snapshot, the accept path
 * asks for the certificate): a missing or untrusted certificate ends the connection there, status 401. This
 * instance only carries the validated settings to the snapshot.
 *
 * Honoured: `ca_certificates`, `allow_partial_chain` (an intermediate CA in the list is a trust anchor),
 * `revocation_check_mode` SKIP and IGNORE_CA_ERROR (kong-ts fetches no OCSP or CRL, so a revocation status is never
 * known, which both modes let through); STRICT is refused at load. Kong's consumer fields (`skip_consumer_lookup`,
 * `consumer_by`, `anonymous`, `authenticated_group_by`, ...) are accepted for compatibility and ignored: stream
 * traffic has no consumers, every client with a trusted certificate passes.
 */
import type { PluginInstance, StreamPlugin } from '../types.js';

export interface MtlsAuthConfig {
  ca_certificates: string[];
  allow_partial_chain: boolean;
  revocation_check_mode: 'SKIP' | 'IGNORE_CA_ERROR' | 'STRICT';
}

const uuid = {
  type: 'string',
  pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$',
};
const ignored = (type: string | string[]) => ({
  type,
  description: 'Accepted for compatibility with Kong; no effect on streams.',
});

const configSchema = {
  type: 'object',
  properties: {
    ca_certificates: {
      type: 'array',
      items: uuid,
      minItems: 1,
      description: 'ids of ca_certificates entities that may sign client certificates',
    },
    allow_partial_chain: { type: 'boolean', default: false },
    revocation_check_mode: { enum: ['SKIP', 'IGNORE_CA_ERROR', 'STRICT'], default: 'IGNORE_CA_ERROR' },
    skip_consumer_lookup: ignored('boolean'),
    authenticated_group_by: ignored(['string', 'null']),
    anonymous: ignored(['string', 'null']),
    consumer_by: ignored(['array', 'null']),
    default_consumer: ignored(['string', 'null']),
    cache_ttl: ignored('number'),
    cert_cache_ttl: ignored('number'),
    http_timeout: ignored('number'),
    send_ca_dn: ignored('boolean'),
    ssl_verify: ignored(['boolean', 'null']),
    http_proxy_host: ignored(['string', 'null']),
    http_proxy_port: ignored(['integer', 'null']),
    https_proxy_host: ignored(['string', 'null']),
    https_proxy_port: ignored(['integer', 'null']),
    san_dirname_matcher: ignored(['array', 'null']),
  },
  required: ['ca_certificates'],
  additionalProperties: false,
};

/** What the snapshot reads off the instance to build the route's handshake. */
export class MtlsAuth implements PluginInstance {
  readonly caIds: readonly string[];
  readonly allowPartialChain: boolean;

  constructor(config: MtlsAuthConfig) {
    if (config.revocation_check_mode === 'STRICT') {
      throw new Error(
        'revocation_check_mode STRICT is not supported: kong-ts does not check OCSP or CRLs (use SKIP or IGNORE_CA_ERROR)',
      );
    }
    this.caIds = Object.freeze([...config.ca_certificates]);
    this.allowPartialChain = config.allow_partial_chain === true;
  }

  stats(): Readonly<Record<string, number>> {
    return { ca_certificates: this.caIds.length };
  }
}

export const mtlsAuth: StreamPlugin<MtlsAuthConfig> = {
  name: 'mtls-auth',
  priority: 1600,
  configSchema,
  create: (config) => new MtlsAuth(config),
};
