import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Parses PEM certificates and keys once per load, however many entities repeat them: X509 parsing is the
 * whole cost of loading a file with many certificates. Failures are kept as their message.
 */
export class PemCache {
  #certs = new Map<string, X509Certificate[] | string>();
  #keys = new Map<string, KeyObject | string>();

  /** The certificates of a PEM chain, leaf first, or why it cannot be read. */
  certs(pem: string): X509Certificate[] | string {
    let hit = this.#certs.get(pem);
    if (hit === undefined) {
      hit = parseCerts(pem);
      this.#certs.set(pem, hit);
    }
    return hit;
  }

  /** The private key, or why it cannot be read. */
  key(pem: string): KeyObject | string {
    let hit = this.#keys.get(pem);
    if (hit === undefined) {
      hit = parseKey(pem);
      this.#keys.set(pem, hit);
    }
    return hit;
  }
}

function parseCerts(pem: string): X509Certificate[] | string {
  const blocks = pem.match(CERT_BLOCK);
  if (!blocks) return 'invalid certificate: no PEM certificate found';
  const out: X509Certificate[] = [];
  for (const block of blocks) {
    try {
      out.push(new X509Certificate(block));
    } catch {
      return 'invalid certificate: could not parse the PEM certificate';
    }
  }
  return out;
}

function parseKey(pem: string): KeyObject | string {
  if (/ENCRYPTED/.test(pem)) return 'invalid key: encrypted private keys are not supported';
  try {
    return createPrivateKey(pem);
  } catch {
    return 'invalid key: could not parse the PEM private key';
  }
}

/** The key algorithm family of a certificate: rsa (any padding), ec, ed25519... */
export function keyType(cert: X509Certificate): string {
  const t = cert.publicKey.asymmetricKeyType ?? 'unknown';
  return t === 'rsa-pss' ? 'rsa' : t;
}

/** `Not After` as epoch milliseconds. */
export function notAfter(cert: X509Certificate): number {
  return Date.parse(cert.validTo);
}
