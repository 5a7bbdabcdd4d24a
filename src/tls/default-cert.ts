import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { isIP } from 'node:net';
import {
  bits,
  bool,
  explicit,
  implicitPrim,
  int,
  namedBits,
  nul,
  octets,
  oid,
  seq,
  set,
  subjectOf,
  time,
  uint,
  utf8,
} from './der.js';

/** A PEM certificate and its PEM (PKCS#8) private key. */
export interface CertPair {
  cert: string;
  key: string;
}

export interface SelfSignedOptions {
  commonName: string;
  /** DNS names and IP addresses for subjectAltName (default: the common name) */
  altNames?: string[];
  /** validity in days from now (default 365); may be negative for an expired certificate */
  days?: number;
  /** a CA certificate (basicConstraints cA, keyCertSign) */
  isCA?: boolean;
  /** signed by this CA instead of by itself */
  issuer?: CertPair;
  /** key type of the new certificate (default 'ec', P-256: about 1 ms; 'rsa' 2048 takes ~100 ms) */
  keyType?: 'ec' | 'rsa';
}

const OID = {
  ecdsaSha256: '1.2.840.10045.4.3.2',
  rsaSha256: '1.2.840.113549.1.1.11',
  commonName: '2.5.4.3',
  subjectKeyId: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
};

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

function generalName(name: string): Buffer {
  const v = isIP(name);
  if (v === 4) return implicitPrim(7, Buffer.from(name.split('.').map(Number)));
  if (v === 6) return implicitPrim(7, ipv6Bytes(name));
  return implicitPrim(2, Buffer.from(name, 'latin1'));
}

function ipv6Bytes(addr: string): Buffer {
  const [head, tail = ''] = addr.includes('::') ? addr.split('::') : [addr, undefined];
  const parse = (s: string | undefined): number[] => (s ? s.split(':').map((h) => parseInt(h, 16)) : []);
  const hi = parse(head);
  const lo = parse(tail);
  const groups = [...hi, ...new Array<number>(8 - hi.length - lo.length).fill(0), ...lo];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

function signatureAlgorithm(key: KeyObject): Buffer {
  return key.asymmetricKeyType === 'rsa' ? seq(oid(OID.rsaSha256), nul()) : seq(oid(OID.ecdsaSha256));
}

function newKey(type: 'ec' | 'rsa'): KeyObject {
  return type === 'rsa'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
    : generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
}

/**
 * Makes a certificate without the openssl binary: a fresh key, a TBSCertificate written in DER here,
 * signed by itself or by `issuer`. Fast enough for tests (EC) and for the start-up default certificate.
 */
export function generateSelfSigned(opts: SelfSignedOptions): CertPair {
  const key = newKey(opts.keyType ?? 'ec');
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const signer = opts.issuer ? createPrivateKey(opts.issuer.key) : key;
  const subject = seq(set(seq(oid(OID.commonName), utf8(opts.commonName))));
  const issuerName = opts.issuer ? subjectOf(new X509Certificate(opts.issuer.cert).raw) : subject;
  const now = Date.now();
  const days = opts.days ?? 365;
  const notBefore = new Date(Math.min(now - 3600_000, now + days * 86400_000 - 86400_000));
  const notAfter = new Date(now + days * 86400_000);
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive and never shortened

  const exts: Buffer[] = [];
  if (opts.isCA) {
    exts.push(extension(OID.basicConstraints, true, seq(bool(true))));
    exts.push(extension(OID.keyUsage, true, namedBits([0, 5, 6]))); // digitalSignature, keyCertSign, cRLSign
  } else {
    exts.push(extension(OID.basicConstraints, true, seq()));
    exts.push(extension(OID.keyUsage, true, namedBits(key.asymmetricKeyType === 'rsa' ? [0, 2] : [0])));
    exts.push(extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth), oid(OID.clientAuth))));
  }
  const altNames = opts.altNames ?? (opts.isCA ? [] : [opts.commonName]);
  if (altNames.length > 0) exts.push(extension(OID.subjectAltName, false, seq(...altNames.map(generalName))));
  exts.push(extension(OID.subjectKeyId, false, octets(createHash('sha1').update(spki).digest())));

  const sigAlg = signatureAlgorithm(signer);
  const tbs = seq(
    explicit(0, int(2)), // v3
    uint(serial),
    sigAlg,
    issuerName,
    seq(time(notBefore), time(notAfter)),
    subject,
    spki,
    explicit(3, seq(...exts)),
  );
  const der = seq(tbs, sigAlg, bits(sign('sha256', tbs, signer)));
  const b64 = der.toString('base64').replace(/.{1,64}/g, '$&\n');
  return {
    cert: `-----BEGIN CERTIFICATE-----\n${b64}-----END CERTIFICATE-----\n`,
    key: key.export({ type: 'pkcs8', format: 'pem' }) as string,
  };
}

let cachedDefault: CertPair | undefined;

/**
 * The certificate served when no SNI matches: the settings' `ssl_cert`/`ssl_cert_key` PEMs when given,
 * otherwise a self-signed CN=localhost pair (SAN DNS:localhost, IP:127.0.0.1) made once per process.
 */
export function defaultCertificate(given?: { cert?: string | null; key?: string | null }): CertPair {
  if (given?.cert && given.key) return { cert: given.cert, key: given.key };
  cachedDefault ??= generateSelfSigned({ commonName: 'localhost', altNames: ['localhost', '127.0.0.1'], days: 3650 });
  return cachedDefault;
}
