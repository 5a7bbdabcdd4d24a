/**
 * The OpenSSL contexts of native TLS termination (native/tls.c): one per certificate, found from the certificate's
 * SecureContext on every connection (accept.ts), made on the first that needs it.
 *
 * A connection is terminated in C when the addon is loaded and its route needs nothing only Node's TLSSocket has:
 * no client certificate (mtls-auth) and a plain upstream. Settings are Node's defaults, so both paths offer the
 * same: TLS 1.2 and 1.3, Node's cipher list, no ALPN, tickets for resumption (sealed with keys of this process,
 * kept across reloads). A certificate the addon cannot load is served by Node (the log says why, once).
 */
import { randomBytes } from 'node:crypto';
import { DEFAULT_CIPHERS, type SecureContext } from 'node:tls';
import { nativeAddon, type NativeTlsContext } from '../net/native-addon.js';
import { SESSION_TIMEOUT_S, type CertSource, type CertStore } from './cert-store.js';

/** Which path terminates TLS for routes without client certificates: 'native' with the addon loaded. */
export const tlsKind: 'native' | 'js' = nativeAddon ? 'native' : 'js';

/** OpenSSL's own ticket key format (name, HMAC and AES keys: 80 bytes), one set per process. */
const TICKET_KEYS = randomBytes(80);

/** Node's default cipher string split as Node splits it: TLS 1.3 suites, then the TLS 1.2 list. */
const SUITES = DEFAULT_CIPHERS.split(':')
  .filter((c) => c.startsWith('TLS_'))
  .join(':');
const CIPHERS = DEFAULT_CIPHERS.split(':')
  .filter((c) => !c.startsWith('TLS_'))
  .join(':');

/** null: the addon could not use this certificate (Node's path serves it). */
const contexts = new WeakMap<SecureContext, NativeTlsContext | null>();

/**
 * The native context for the certificate `store` serves `sni` with, or undefined (no addon, or the addon cannot use
 * that certificate: Node's TLS serves it), or, the first time it cannot, a string saying why. Made on the first connection that needs
 * it and kept as long as the certificate's SecureContext (a reload that keeps the certificate keeps both): an OpenSSL
 * context costs about a millisecond and 20 KiB, which a file of thousands of mostly idle certificates should not pay
 * at every start.
 */
export function nativeContextFor(store: CertStore, sni: string | undefined): NativeTlsContext | string | undefined {
  if (!nativeAddon) return undefined;
  const sc = store.lookup(sni);
  const known = contexts.get(sc);
  if (known !== undefined) return known ?? undefined;
  let c: CertSource;
  try {
    c = store.certFor(sni);
  } catch {
    contexts.set(sc, null);
    return undefined;
  }
  try {
    const alt = c.cert_alt && c.key_alt;
    const made = nativeAddon.tlsContext(
      c.cert,
      c.key,
      alt ? c.cert_alt! : null,
      alt ? c.key_alt! : null,
      CIPHERS,
      SUITES,
      TICKET_KEYS,
      SESSION_TIMEOUT_S,
    );
    contexts.set(sc, made);
    return made;
  } catch (e) {
    contexts.set(sc, null);
    return `certificate ${c.id}: ${(e as Error).message}`;
  }
}
