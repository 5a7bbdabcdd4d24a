import { randomBytes } from 'node:crypto';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { CertificateEntity, SniEntity } from '../config/types.js';
import type { CertPair } from './default-cert.js';

/** The TLS contexts of one snapshot, compiled once, looked up by SNI on every terminated connection. */
export interface CertStore {
  /** Kong's order: exact name, `*.rest`, `prefix.*`, the `*` SNI, then the default certificate. */
  lookup(sni: string | undefined): SecureContext;
  /** the default certificate's context */
  readonly defaultContext: SecureContext;
  /** The certificate `lookup(sni)` serves (for contexts built from it with more settings, e.g. client auth). */
  certFor(sni: string | undefined): CertSource;
}

/** A certificate and key as a context was built from; `id` is the certificate entity's (or 'default'). */
export interface CertSource {
  readonly id: string;
  readonly cert: string;
  readonly key: string;
  readonly cert_alt?: string | null;
  readonly key_alt?: string | null;
}

class Store implements CertStore {
  readonly #exact = new Map<string, SecureContext>();
  /** `*.example.com` stored under `example.com` */
  readonly #leftWild = new Map<string, SecureContext>();
  /** `example.*` stored under `example` */
  readonly #rightWild = new Map<string, SecureContext>();
  readonly #catchAll: SecureContext | undefined;
  readonly defaultContext: SecureContext;
  readonly #sources = new Map<SecureContext, CertSource>();

  constructor(
    certs: CertificateEntity[],
    snis: SniEntity[],
    dflt: CertPair | SecureContext,
    built?: ReadonlyMap<string, SecureContext>,
    defaultSource?: Pick<CertPair, 'cert' | 'key'>,
  ) {
    this.defaultContext =
      'cert' in dflt ? contextFor({ cert: dflt.cert, key: dflt.key }, 'the default certificate') : dflt;
    const src = 'cert' in dflt ? dflt : defaultSource;
    if (src) this.#sources.set(this.defaultContext, { id: 'default', cert: src.cert, key: src.key });
    const byId = new Map(certs.map((c) => [c.id, c]));
    const contexts = new Map<string, SecureContext>();
    let catchAll: SecureContext | undefined;
    for (const sni of snis) {
      const cert = byId.get(sni.certificate);
      if (!cert) throw new Error(`sni '${sni.name}': no certificate with id ${sni.certificate}`);
      let ctx = contexts.get(cert.id) ?? built?.get(cert.id);
      if (!ctx) {
        ctx = contextFor(cert, `certificate ${cert.id}`);
        contexts.set(cert.id, ctx);
      }
      this.#sources.set(ctx, cert);
      const name = normalize(sni.name);
      if (name === '*') catchAll = ctx;
      else if (name.startsWith('*.')) this.#leftWild.set(name.slice(2), ctx);
      else if (name.endsWith('.*')) this.#rightWild.set(name.slice(0, -2), ctx);
      else this.#exact.set(name, ctx);
    }
    this.#catchAll = catchAll;
  }

  lookup(sni: string | undefined): SecureContext {
    if (sni === undefined || sni === '') return this.defaultContext;
    const exact = this.#exact.get(sni);
    if (exact) return exact;
    const firstDot = sni.indexOf('.');
    if (firstDot > 0) {
      const left = this.#leftWild.get(sni.slice(firstDot + 1));
      if (left) return left;
      const right = this.#rightWild.get(sni.slice(0, sni.lastIndexOf('.')));
      if (right) return right;
    }
    return this.#catchAll ?? this.defaultContext;
  }

  certFor(sni: string | undefined): CertSource {
    const src = this.#sources.get(this.lookup(sni));
    if (!src) throw new Error('the certificate of this SNI was built without its PEM (no defaultSource)');
    return src;
  }
}

function normalize(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

/**
 * Session tickets (TLS 1.2 and 1.3 resumption) are sealed with these keys, the same for every context of this
 * process and every snapshot, so a returning client skips the full handshake, also after a reload. Node's
 * standalone contexts keep no server-side session-id cache (that needs a tls.Server), so tickets are the way.
 * Each process draws its own keys at start: with several workers a ticket resumes on the worker that issued it.
 */
const TICKET_KEYS = randomBytes(48);
export const SESSION_TIMEOUT_S = 300;

/**
 * One context per certificate; with cert_alt both pairs go in, and OpenSSL picks by the client's sigalgs. `more`
 * adds options (client auth: `ca`, `allowPartialTrustChain`). A context that verifies client certificates seals
 * its tickets with keys of its own: a ticket from a context that asked for no certificate never resumes there.
 */
export function contextFor(
  c: Pick<CertificateEntity, 'cert' | 'key' | 'cert_alt' | 'key_alt'>,
  what: string,
  more: SecureContextOptions = {},
): SecureContext {
  const tickets = { ticketKeys: more.ca ? randomBytes(48) : TICKET_KEYS, sessionTimeout: SESSION_TIMEOUT_S };
  try {
    return c.cert_alt && c.key_alt
      ? createSecureContext({ ...more, ...tickets, cert: [c.cert, c.cert_alt], key: [c.key, c.key_alt] })
      : createSecureContext({ ...more, ...tickets, cert: c.cert, key: c.key });
  } catch (e) {
    // The message of OpenSSL's error names the problem; the key itself never goes into it.
    throw new Error(`${what}: cannot build a TLS context: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * `built`: contexts already made, by certificate id (the snapshot builder makes them in slices and reuses those of
 * unchanged certificates); `dflt` may be the default certificate's context, made once.
 * Builds every `SecureContext` once (one per certificate, shared by its SNIs) and the maps for the lookup.
 * Throws at config time when a certificate or key cannot be loaded.
 */
export function compileCertStore(
  certs: CertificateEntity[],
  snis: SniEntity[],
  dflt: CertPair | SecureContext,
  built?: ReadonlyMap<string, SecureContext>,
  defaultSource?: Pick<CertPair, 'cert' | 'key'>,
): CertStore {
  return new Store(certs, snis, dflt, built, defaultSource);
}
