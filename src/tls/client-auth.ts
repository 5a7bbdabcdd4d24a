import { createHash } from 'node:crypto';
import type { SecureContext } from 'node:tls';
import type { CaCertificateEntity } from '../config/types.js';
import { contextFor, type CertSource, type CertStore } from './cert-store.js';

/** The client-certificate settings of one route (from its mtls-auth plugin). */
export interface ClientAuthSettings {
  readonly caIds: readonly string[];
  readonly allowPartialChain: boolean;
}

/**
 * The handshake contexts of one route that asks for client certificates: the certificate the SNI chooses, with
 * the route's CA certificates as the trust store for the client's chain. Contexts are keyed by the content of the
 * certificate and of the CA list (sha256) and the partial-chain flag, in a map shared by every route of the snapshot:
 * two routes with the same settings share them, and a later snapshot handed the same map reuses what did not change.
 * The route's own SNIs are built up front; a name that reaches another certificate (a wildcard SNI) builds its
 * context on first use, once. A handshake costs a lookup by SNI and one by certificate object.
 */
export class ClientAuth {
  readonly #store: CertStore;
  readonly #ca: readonly string[];
  readonly #partial: boolean;
  readonly #suffix: string;
  readonly #cache: Map<string, SecureContext>;
  readonly #bySource = new Map<CertSource, SecureContext>();

  constructor(
    settings: ClientAuthSettings,
    store: CertStore,
    cas: ReadonlyMap<string, CaCertificateEntity>,
    cache: Map<string, SecureContext>,
    snis: readonly string[],
  ) {
    this.#store = store;
    this.#ca = settings.caIds.map((id) => {
      const ca = cas.get(id);
      if (!ca) throw new Error(`mtls-auth: no ca_certificate with id ${id}`);
      return ca.cert;
    });
    this.#partial = settings.allowPartialChain;
    this.#suffix = `|${digest(this.#ca.join('\n'))}|${this.#partial ? 1 : 0}`;
    this.#cache = cache;
    for (const sni of snis) this.contextFor(sni.replace(/^\*\./, 'x.').replace(/\.\*$/, '.x'));
  }

  /** The context of a handshake with this SNI. */
  contextFor(sni: string | undefined): SecureContext {
    const src = this.#store.certFor(sni);
    let ctx = this.#bySource.get(src);
    if (ctx !== undefined) return ctx;
    const key = digest(`${src.cert}\n${src.key}\n${src.cert_alt ?? ''}\n${src.key_alt ?? ''}`) + this.#suffix;
    ctx = this.#cache.get(key);
    if (ctx === undefined) {
      ctx = contextFor(src, `certificate ${src.id} with mtls-auth`, {
        ca: [...this.#ca],
        allowPartialTrustChain: this.#partial,
      });
      this.#cache.set(key, ctx);
    }
    this.#bySource.set(src, ctx);
    return ctx;
  }
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64url');
}
