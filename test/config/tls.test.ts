import { test } from 'node:test';
import { X509Certificate } from 'node:crypto';
import assert from 'node:assert/strict';
import { HEAD, lines, load, onlyProblems, hasProblem, assertOk } from './helpers.js';
import { block, pki } from './certs.js';

const ID = '0b8e5e6a-2f8a-4bd5-9d9f-0d3c7f7c9a1';

/** A certificates entry at top level: `- cert: |` ... `  key: |` ... */
function cert(fields: Record<string, string>): string[] {
  const out: string[] = [];
  Object.entries(fields).forEach(([k, v], i) => {
    const lead = i === 0 ? '- ' : '  ';
    out.push(k.endsWith('_pem') ? `${lead}${k.slice(0, -4)}: ${block(v, 4)}` : `${lead}${k}: ${v}`);
  });
  return out;
}

test('a good RSA + ECDSA pair with snis loads', () => {
  const p = pki();
  const r = load(
    lines(
      HEAD,
      'certificates:',
      ...cert({
        cert_pem: p.rsaCert,
        key_pem: p.rsaKey,
        cert_alt_pem: p.ecCert,
        key_alt_pem: p.ecKey,
        snis: '[a.example.com, {name: "*.b.example.com"}]',
      }),
    ),
  );
  assertOk(r);
  assert.equal(r.config.certificates.length, 1);
  assert.equal(r.config.certificates[0]!.cert_alt, p.ecCert.trim() + '\n');
  assert.deepEqual(
    r.config.snis.map((s) => s.name),
    ['a.example.com', '*.b.example.com'],
  );
  assert.ok(r.config.snis.every((s) => s.certificate === r.config.certificates[0]!.id));
});

test('PEM that does not parse is an error at the field', () => {
  const r = load(
    lines(
      HEAD,
      'certificates:',
      '- cert: "-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END CERTIFICATE-----"',
      '  key: not a key',
    ),
  );
  onlyProblems(
    r,
    'kong.yml:3:9: error: certificates[0].cert: invalid certificate: could not parse the PEM certificate',
    'kong.yml:4:8: error: certificates[0].key: invalid key: could not parse the PEM private key',
  );
});

test('certificate does not match key; alternative certificate does not match key', () => {
  const p = pki();
  const r = load(
    lines(
      HEAD,
      'certificates:',
      ...cert({ id: `${ID}1`, cert_pem: p.rsaCert, key_pem: p.otherRsaKey }),
      ...cert({ id: `${ID}2`, cert_pem: p.rsaCert, key_pem: p.rsaKey, cert_alt_pem: p.ecCert, key_alt_pem: p.leafKey }),
    ),
  );
  const n = p.rsaCert.trim().split('\n').length + p.otherRsaKey.trim().split('\n').length;
  hasProblem(r, 'kong.yml:3:3: error: certificates[0]: certificate does not match key');
  // entity 1: id line, cert header + lines, key header + lines
  hasProblem(r, `kong.yml:${3 + 3 + n}:3: error: certificates[1]: alternative certificate does not match key`);
  assert.equal(r.problems.length, 2);
});

test('cert_alt and key_alt: both or neither, of another key type', () => {
  const p = pki();
  const r = load(
    lines(
      HEAD,
      'certificates:',
      ...cert({ id: `${ID}1`, cert_pem: p.ecCert, key_pem: p.ecKey, cert_alt_pem: p.rsaCert }),
      ...cert({ id: `${ID}2`, cert_pem: p.ecCert, key_pem: p.ecKey, cert_alt_pem: p.leafCert, key_alt_pem: p.leafKey }),
    ),
  );
  assert.equal(r.ok, false);
  const msgs = r.problems.map((q) => `${q.path}: ${q.message}`);
  assert.deepEqual(msgs, [
    "certificates[0].key_alt: all or none of these fields must be set: 'cert_alt', 'key_alt'",
    'certificates[1].cert_alt: certificate and alternative certificate need to have different type (e.g. RSA and ECDSA), the provided certificates were both of the same type',
  ]);
  // missing key_alt points at the entity; the type clash at the cert_alt value
  assert.equal(r.problems[0]!.line, 3);
  assert.equal(r.problems[1]!.column, 13);
});

test('expired certificates are accepted with a warning (Kong has no expiry check on certificates), expiring soon too', () => {
  const p = pki();
  const r = load(
    lines(
      HEAD,
      'certificates:',
      ...cert({ id: `${ID}1`, cert_pem: p.expiredCert, key_pem: p.expiredKey }),
      ...cert({ id: `${ID}2`, cert_pem: p.soonCert, key_pem: p.soonKey }),
    ),
  );
  const line2 = 7 + p.expiredCert.trim().split('\n').length + p.expiredKey.trim().split('\n').length;
  onlyProblems(
    r,
    'kong.yml:4:9: warning: certificates[0].cert: certificate expired (Jan  1 00:00:00 2001 GMT): served anyway, as Kong does',
    `kong.yml:${line2}:9: warning: certificates[1].cert: certificate expires in 9 days (${new X509Certificate(p.soonCert).validTo})`,
  );
});

test('a warning alone does not fail the load', () => {
  const p = pki();
  const r = load(lines(HEAD, 'certificates:', ...cert({ cert_pem: p.soonCert, key_pem: p.soonKey })));
  assertOk(r);
  assert.equal(r.problems.length, 1);
  assert.equal(r.problems[0]!.severity, 'warning');
});

test('ca_certificates: exactly one certificate, a CA, not expired', () => {
  const p = pki();
  const r = load(
    lines(
      HEAD,
      'ca_certificates:',
      `- cert: ${block(p.caCert, 4)}`,
      `- cert: ${block(p.leafCert, 4)}`,
      `- cert: ${block(p.caCert + p.leafCert, 4)}`,
      `- cert: ${block(p.expiredCert, 4)}`,
    ),
  );
  const msgs = r.problems.map((q) => `${q.severity} ${q.path}: ${q.message}`);
  assert.deepEqual(msgs, [
    'error ca_certificates[1].cert: certificate does not appear to be a CA because it is missing the "CA" basic constraint',
    'error ca_certificates[2].cert: invalid certificate: expected exactly one certificate, got 2',
    'error ca_certificates[3].cert: certificate does not appear to be a CA because it is missing the "CA" basic constraint',
    'error ca_certificates[3].cert: certificate expired, "Not After" time is in the past',
  ]);
  assert.equal(r.problems[0]!.column, 9);
});

test('a good CA certificate normalizes with its digest, referenced by a tls service', () => {
  const p = pki();
  const r = load(
    lines(
      HEAD,
      'ca_certificates:',
      `- id: ${ID}9`,
      `  cert: ${block(p.caCert, 4)}`,
      'certificates:',
      `- id: ${ID}8`,
      `  cert: ${block(p.leafCert, 4)}`,
      `  key: ${block(p.leafKey, 4)}`,
      'services:',
      '- name: s',
      '  url: tls://backend:443',
      '  tls_verify: true',
      '  tls_verify_depth: 3',
      `  client_certificate: ${ID}8`,
      `  ca_certificates: [${ID}9]`,
    ),
  );
  assertOk(r);
  assert.match(r.config.ca_certificates[0]!.cert_digest!, /^[0-9a-f]{64}$/);
  const s = r.config.services[0]!;
  assert.deepEqual(
    [s.protocol, s.host, s.port, s.tls_verify, s.tls_verify_depth, s.client_certificate, s.ca_certificates],
    ['tls', 'backend', 443, true, 3, `${ID}8`, [`${ID}9`]],
  );
});

test('two certificates with the same cert and no ids collide', () => {
  const p = pki();
  const r = load(
    lines(
      HEAD,
      'certificates:',
      ...cert({ cert_pem: p.ecCert, key_pem: p.ecKey }),
      ...cert({ cert_pem: p.ecCert, key_pem: p.ecKey }),
    ),
  );
  assert.equal(r.ok, false);
  assert.equal(
    r.problems[0]!.message,
    "uniqueness violation: 'certificates' entity with the same cert already declared (give each an id)",
  );
});
