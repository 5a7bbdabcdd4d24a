import type { X509Certificate } from 'node:crypto';
import type { RawEntity } from './flatten.js';
import type { CheckContext } from './check-context.js';
import { entityRef } from './flatten.js';
import { keyType, notAfter } from './pem.js';

const DAY = 86_400_000;
/** Certificates expiring sooner than this get a warning. */
const EXPIRY_WARNING_DAYS = 30;

/** PEM parsing, cert/key pairs, the alternative pair of another key type, expiry. */
export function checkCertificate(e: RawEntity, ctx: CheckContext): void {
  const r = e.raw;
  const opts = { entity: entityRef(e) };
  const main = pair(e, 'cert', 'key', 'certificate does not match key', ctx);
  const hasAlt = r.cert_alt != null;
  if (hasAlt !== (r.key_alt != null)) {
    ctx.problems.error(
      [...e.path, hasAlt ? 'key_alt' : 'cert_alt'],
      "all or none of these fields must be set: 'cert_alt', 'key_alt'",
      opts,
    );
    return;
  }
  if (!hasAlt) return;
  const alt = pair(e, 'cert_alt', 'key_alt', 'alternative certificate does not match key', ctx);
  if (main && alt && keyType(main) === keyType(alt)) {
    ctx.problems.error(
      [...e.path, 'cert_alt'],
      'certificate and alternative certificate need to have different type (e.g. RSA and ECDSA), the provided certificates were both of the same type',
      { ...opts, field: 'cert_alt' },
    );
  }
}

/** Parses one cert/key pair and checks they match; returns the leaf certificate when it parsed. */
function pair(
  e: RawEntity,
  certField: string,
  keyField: string,
  mismatch: string,
  ctx: CheckContext,
): X509Certificate | undefined {
  const opts = { entity: entityRef(e) };
  const certs = ctx.pem.certs(String(e.raw[certField]));
  // a config read back from the admin API has its keys redacted: `config plan` may load it with the keys unchecked
  if (ctx.opts.redactedKeys && String(e.raw[keyField]).trim() === '[redacted]')
    return typeof certs === 'string' ? undefined : certs[0];
  const key = ctx.pem.key(String(e.raw[keyField]));
  if (typeof certs === 'string') ctx.problems.error([...e.path, certField], certs, { ...opts, field: certField });
  if (typeof key === 'string') ctx.problems.error([...e.path, keyField], key, { ...opts, field: keyField });
  if (typeof certs === 'string') return undefined;
  const leaf = certs[0]!;
  if (typeof key !== 'string' && !safeCheck(leaf, key)) ctx.problems.error(e.path, mismatch, opts);
  expiry(e, certField, leaf, ctx, false);
  return leaf;
}

function safeCheck(cert: X509Certificate, key: Parameters<X509Certificate['checkPrivateKey']>[0]): boolean {
  try {
    return cert.checkPrivateKey(key);
  } catch {
    return false; // a key of another type than the certificate's
  }
}

/** A CA certificate: exactly one certificate, CA:TRUE, not expired (Kong's checks). */
export function checkCaCertificate(e: RawEntity, ctx: CheckContext): void {
  const opts = { entity: entityRef(e), field: 'cert' };
  const path = [...e.path, 'cert'];
  const certs = ctx.pem.certs(String(e.raw.cert));
  if (typeof certs === 'string') return ctx.problems.error(path, certs, opts);
  if (certs.length !== 1)
    return ctx.problems.error(path, `invalid certificate: expected exactly one certificate, got ${certs.length}`, opts);
  const cert = certs[0]!;
  if (!cert.ca)
    ctx.problems.error(
      path,
      'certificate does not appear to be a CA because it is missing the "CA" basic constraint',
      opts,
    );
  expiry(e, 'cert', cert, ctx, true);
  e.derived.cert_digest = cert.fingerprint256.replace(/:/g, '').toLowerCase();
}

/**
 * Kong refuses an expired CA certificate (entities/ca_certificates.lua) but has no expiry check on certificates:
 * an expired one is served, with a warning here.
 */
function expiry(e: RawEntity, field: string, cert: X509Certificate, ctx: CheckContext, refuse: boolean): void {
  if (ctx.opts.expiry === false) return;
  const end = notAfter(cert);
  const opts = { entity: entityRef(e), field };
  if (end <= ctx.now) {
    if (refuse) ctx.problems.error([...e.path, field], 'certificate expired, "Not After" time is in the past', opts);
    else
      ctx.problems.warning(
        [...e.path, field],
        `certificate expired (${cert.validTo}): served anyway, as Kong does`,
        opts,
      );
  } else if (end - ctx.now < EXPIRY_WARNING_DAYS * DAY) {
    const days = Math.floor((end - ctx.now) / DAY);
    ctx.problems.warning(
      [...e.path, field],
      `certificate expires in ${days} day${days === 1 ? '' : 's'} (${cert.validTo})`,
      opts,
    );
  }
}
