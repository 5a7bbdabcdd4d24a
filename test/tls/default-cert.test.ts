import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { defaultCertificate, generateSelfSigned } from '../../src/tls/default-cert.js';
import { close, listen, openssl } from './helpers.js';

describe('generateSelfSigned', () => {
  test('the default certificate: CN=localhost, SAN DNS:localhost and IP:127.0.0.1, key matches, made once', () => {
    const t0 = performance.now();
    const d = defaultCertificate();
    const ms = performance.now() - t0;
    const x = new X509Certificate(d.cert);
    assert.equal(x.subject, 'CN=localhost');
    assert.equal(x.issuer, 'CN=localhost');
    assert.equal(x.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1');
    assert.ok(x.checkPrivateKey(createPrivateKey(d.key)));
    assert.ok(x.verify(x.publicKey), 'self-signed signature verifies');
    assert.equal(x.ca, false);
    assert.ok(new Date(x.validTo).getTime() > Date.now() + 3000 * 86400_000);
    assert.equal(defaultCertificate(), d, 'generated once per process');
    assert.ok(ms < 500, `took ${ms} ms`);
  });

  test('settings ssl_cert/ssl_cert_key win over the generated one', () => {
    const p = generateSelfSigned({ commonName: 'given' });
    assert.deepEqual(defaultCertificate({ cert: p.cert, key: p.key }), p);
  });

  test('a CA and a leaf it signs (EC and RSA) verify with openssl and with X509Certificate', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kts-tls-'));
    try {
      const ca = generateSelfSigned({ commonName: 'Unit CA', isCA: true });
      const ec = generateSelfSigned({ commonName: 'ec.test', altNames: ['ec.test', '::1'], issuer: ca });
      const rsa = generateSelfSigned({ commonName: 'rsa.test', issuer: ca, keyType: 'rsa' });
      const caX = new X509Certificate(ca.cert);
      assert.equal(caX.ca, true);
      for (const p of [ec, rsa]) {
        const x = new X509Certificate(p.cert);
        assert.equal(x.issuer, 'CN=Unit CA');
        assert.ok(x.checkIssued(caX));
        assert.ok(x.verify(caX.publicKey));
        assert.ok(x.checkPrivateKey(createPrivateKey(p.key)));
      }
      assert.equal(new X509Certificate(ec.cert).subjectAltName, 'DNS:ec.test, IP Address:0:0:0:0:0:0:0:1');
      assert.equal(createPrivateKey(rsa.key).asymmetricKeyType, 'rsa');
      fs.writeFileSync(path.join(dir, 'ca.pem'), ca.cert);
      fs.writeFileSync(path.join(dir, 'ec.pem'), ec.cert);
      fs.writeFileSync(path.join(dir, 'rsa.pem'), rsa.cert);
      const r = await openssl([
        'verify',
        '-CAfile',
        path.join(dir, 'ca.pem'),
        '-purpose',
        'sslserver',
        path.join(dir, 'ec.pem'),
        path.join(dir, 'rsa.pem'),
      ]);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /ec\.pem: OK[\s\S]*rsa\.pem: OK/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an expired certificate can be made (negative days)', () => {
    const x = new X509Certificate(generateSelfSigned({ commonName: 'old', days: -1 }).cert);
    assert.ok(new Date(x.validTo).getTime() < Date.now());
    assert.ok(new Date(x.validFrom).getTime() < new Date(x.validTo).getTime());
  });
});

describe('the default certificate in a real handshake', () => {
  let server: tls.Server;
  let port: number;
  before(async () => {
    const d = defaultCertificate();
    server = tls.createServer({ cert: d.cert, key: d.key }, (s) => s.end('hi'));
    port = await listen(server);
  });
  after(() => close(server));

  test('tls.connect trusting it verifies the chain and the name localhost', async () => {
    const got = await new Promise<string>((resolve, reject) => {
      const c = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: defaultCertificate().cert }, () => {
        assert.equal(c.authorized, true);
        c.setEncoding('utf8');
        c.on('data', resolve);
      });
      c.on('error', reject);
    });
    assert.equal(got, 'hi');
  });

  test('openssl s_client verifies it (Verify return code: 0)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kts-tls-'));
    try {
      const ca = path.join(dir, 'default.pem');
      fs.writeFileSync(ca, defaultCertificate().cert);
      const r = await openssl(
        [
          's_client',
          '-connect',
          `127.0.0.1:${port}`,
          '-CAfile',
          ca,
          '-verify_hostname',
          'localhost',
          '-verify_return_error',
        ],
        'Q\n',
      );
      assert.match(r.out, /Verify return code: 0 \(ok\)/);
      assert.match(r.out, /subject=CN ?= ?localhost/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
