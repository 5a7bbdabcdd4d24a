import type { SecureContext } from 'node:tls';
import type { CaCertificateEntity } from '../config/types.js';
import { contextFor, type CertStore } from './cert-store.js';

/** The client-certificate settings of one route (from its mtls-auth plugin). */
export interface ClientAuthSettings {
  readonly caIds: readonly string[];
  readonly allowPartialChain: boolean;
}

/**
 * The handshake contexts of one route that asks for client certificates: the certificate the SNI chooses, with
 * the route's CA certificates as the trust store for the client's chain. Contexts are keyed by certificate id, CA
 * ids and partial-chain flag in a map shared by every route of the snapshot (two routes with the same settings
 * share them; a later snapshot may be handed the map of the previous one to reuse them). The route's own SNIs are
 * built up front; a name that reaches another certificate (a wildcard SNI) builds its context on first use, once.
 */
export class ClientAuth {
  readonly #store: CertStore;
  readonly #ca: readonly string[];
  readonly #partial: boolean;
  readonly #suffix: string;
  readonly #cache: Map<string, SecureContext>;

  constructor(settings: ClientAuthSettings, store: CertStore, cas: ReadonlyMap<string, CaCertificateEntity>,
    cache: Map<string, SecureContext>, snis: readonly string[]) {
    this.#store = store;
    this.#ca = settings.caIds.map((id) => {
      const ca = cas.get(id);
      if (!ca) throw new Error(`mtls-auth: no ca_certificate with id ${id}`);
      return ca.cert;
    });
    this.#partial = settings.allowPartialChain;
    this.#suffix = `|${[...settings.caIds].sort().join(',')}|${this.#partial ? 1 : 0}`;
    this.#cache = cache;
    for (const sni of snis) this.contextFor(sni.replace(/^\*\./, 'x.').replace(/\.\*$/, '.x'));
  }

  /** The context of a handshake with this SNI. */
  contextFor(sni: string | undefined): SecureContext {
    const src = this.#store.certFor(sni);
    const key = src.id + this.#suffix;
    let ctx = this.#cache.get(key);
    if (ctx === undefined) {
      ctx = contextFor(src, `certificate ${src.id} with mtls-auth`, { ca: [...this.#ca], allowPartialTrustChain: this.#partial });
      this.#cache.set(key, ctx);
    }
    return ctx;
  }
}
