import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import {
  checkServerIdentity,
  createSecureContext,
  rootCertificates,
  type ConnectionOptions,
  type PeerCertificate,
  type SecureContext,
} from 'node:tls';
import * as tls from 'node:tls';
import type { CaCertificateEntity, CertificateEntity, ServiceEntity } from '../config/types.js';

/** The connection options for one upstream host (frozen, shared: spread them, add host and port). */
export type UpstreamTlsOptions = (host: string) => ConnectionOptions;

const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem'];
let systemCa: string[] | undefined;

/**
 * The system's trust store, read once: Kong trusts the system store (`lua_ssl_trusted_certificate = system`).
 * Node ≥ 22.15 reads it itself; on Node 20 the distribution's bundle file is read, else Node's Mozilla roots.
 */
export function systemStore(): string[] {
  if (systemCa) return systemCa;
  const get = (tls as unknown as { getCACertificates?: (kind: string) => string[] }).getCACertificates;
  if (get) return (systemCa = get('system'));
  for (const f of SYSTEM_BUNDLES) {
    try {
      return (systemCa = [readFileSync(f, 'utf8')]);
    } catch {
      /* try the next */
    }
  }
  return (systemCa = [...rootCertificates]);
}

/** Length of the chain Node built for the peer (leaf first, trust anchor last, when the anchor is known). */
function chainLength(cert: PeerCertificate): number {
  let n = 0;
  const seen = new Set<unknown>();
  for (
    let c: tls.DetailedPeerCertificate | undefined = cert as tls.DetailedPeerCertificate;
    c && !seen.has(c);
    c = c.issuerCertificate
  ) {
    seen.add(c);
    n++;
    if (c.issuerCertificate === c || c.fingerprint256 === c.issuerCertificate?.fingerprint256) break;
  }
  return n;
}

/** As OpenSSL counts verify depth: depth d allows d intermediate CAs between the leaf and the trust anchor. */
function depthChecker(host: string, depth: number): (hostname: string, cert: PeerCertificate) => Error | undefined {
  return (_hostname, cert) => {
    // Our own `host`, not `hostname`: with tls.connect({ socket }) and no servername Node would check 'localhost'.
    const e = checkServerIdentity(host, cert);
    if (e) return e;
    const intermediates = Math.max(0, chainLength(cert) - 2);
    if (intermediates > depth) {
      return Object.assign(
        new Error(
          `certificate chain too long: ${intermediates} intermediate CA certificates, tls_verify_depth is ${depth}`,
        ),
        { code: 'ERR_TLS_CERT_CHAIN_TOO_LONG' },
      );
    }
    return undefined;
  };
}

/**
 * Compiles the upstream TLS settings of a service (protocol `tls`) once: its trust store (the service's
 * `ca_certificates`, or the system store), its client certificate, `tls_verify` (Kong's default null = off)
 * and `tls_verify_depth`, into one SecureContext. The returned function gives the options for a target host:
 * `servername` is the host unless it is an IP address. Throws at config time on a bad reference or PEM.
 */
export function compileUpstreamTls(
  service: ServiceEntity,
  caCerts: Map<string, CaCertificateEntity>,
  certs: Map<string, CertificateEntity>,
): UpstreamTlsOptions {
  const what = `service ${service.name ?? service.id}`;
  const ca = service.ca_certificates?.length
    ? service.ca_certificates.map((id) => {
        const c = caCerts.get(id);
        if (!c) throw new Error(`${what}: no ca_certificate with id ${id}`);
        return c.cert;
      })
    : systemStore();
  let clientCert: CertificateEntity | undefined;
  if (service.client_certificate) {
    clientCert = certs.get(service.client_certificate);
    if (!clientCert) throw new Error(`${what}: no certificate with id ${service.client_certificate}`);
  }
  let secureContext: SecureContext;
  try {
    secureContext = createSecureContext({ ca, ...(clientCert ? { cert: clientCert.cert, key: clientCert.key } : {}) });
  } catch (e) {
    throw new Error(`${what}: cannot build the upstream TLS context: ${(e as Error).message}`, { cause: e });
  }
  const verify = service.tls_verify === true;
  const depth = service.tls_verify_depth;
  const byHost = new Map<string, ConnectionOptions>();
  return (host: string): ConnectionOptions => {
    let o = byHost.get(host);
    if (o) return o;
    o = {
      secureContext,
      rejectUnauthorized: verify,
      ...(isIP(host) ? {} : { servername: host }),
      ...(verify ? { checkServerIdentity: depthChecker(host, depth ?? Infinity) } : {}),
    };
    // Hosts come from the file (targets, service host), so the cache is bounded by the config; the guard is cheap.
    Object.freeze(o);
    if (byHost.size < 4096) byHost.set(host, o);
    return o;
  };
}
