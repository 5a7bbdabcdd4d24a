/**
 * Which certificate an ssl listener serves, checked with real clients (Node's tls.connect and openssl s_client)
 * through a running kong-ts: exact, `*.x`, `x.*` and `*` SNIs, no SNI, the default certificate from settings or
 * generated, and a dual RSA/ECDSA certificate chosen by the client's signature algorithms.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkServerIdentity } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { tempDir } from '../helpers/cli.js';
import { startYaml, type TestInstance } from '../helpers/instance.js';
import { startEcho, type TestServer } from '../helpers/sockets.js';
import {
  ca,
  certEntity,
  echoBack,
  generateSelfSigned,
  kongFile,
  leaf,
  sClientSubject,
  servedCN,
  tlsClient,
  type CertPair,
} from './tls-helpers.js';

function echoService(echo: TestServer, certificates: unknown[]): string {
  return kongFile({
    certificates,
    services: [
      {
        name: 'echo',
        url: `tcp://127.0.0.1:${echo.port}`,
        routes: [{ name: 'any-tls', protocols: ['tls'], destinations: [{ ip: '127.0.0.1' }] }],
      },
    ],
  });
}

describe('certificate selection by SNI', () => {
  let root: CertPair;
  let echo: TestServer;
  let withCatchAll: TestInstance;
  let noCatchAll: TestInstance;

  before(async () => {
    root = ca('E2E Root');
    echo = await startEcho();
    const certs = [
      certEntity(leaf(root, ['exact.example.test']), ['exact.example.test']),
      certEntity(leaf(root, ['left-wild.example.test', '*.example.test']), ['*.example.test']),
      certEntity(leaf(root, ['right-wild', 'example.org', 'example.net']), ['example.*']),
    ];
    const catchAll = certEntity(leaf(root, ['catch-all']), ['*']);
    const defaultPair = leaf(root, ['settings-default']);
    const dir = tempDir('tlse2e-default');
    writeFileSync(join(dir, 'd.crt'), defaultPair.cert);
    writeFileSync(join(dir, 'd.key'), defaultPair.key);
    [withCatchAll, noCatchAll] = await Promise.all([
      startYaml(echoService(echo, [...certs, catchAll]), { listen: '127.0.0.1:0 ssl' }),
      startYaml(echoService(echo, certs), {
        listen: '127.0.0.1:0 ssl',
        settings: { ssl_cert: join(dir, 'd.crt'), ssl_cert_key: join(dir, 'd.key') },
      }),
    ]);
  });
  after(async () => {
    await withCatchAll?.stop();
    await noCatchAll?.stop();
    await echo?.close();
  });

  test('exact, *.x and x.* SNIs, with Node clients that verify the chain', async () => {
    const port = withCatchAll.ports[0]!;
    const cases: [string, string][] = [
      ['exact.example.test', 'exact.example.test'],
      ['a.example.test', 'left-wild.example.test'],
      ['EXACT.Example.Test', 'exact.example.test'], // SNI is case-insensitive
      ['example.org', 'right-wild'],
      ['example.net', 'right-wild'],
    ];
    for (const [sni, cn] of cases) {
      const h = await tlsClient(port, {
        servername: sni,
        ca: root.cert,
        rejectUnauthorized: true,
        checkServerIdentity: () => undefined,
      });
      assert.equal(h.cn, cn, `SNI ${sni}`);
      assert.equal(h.authorized, true);
      assert.equal(await echoBack(h.socket, `hello ${sni}`), `hello ${sni}`);
      h.socket.destroy();
    }
  });

  test('the * SNI catches unknown names; only one label is replaced by *.x', async () => {
    const port = withCatchAll.ports[0]!;
    assert.equal(await servedCN(port, 'nobody.invalid'), 'catch-all');
    assert.equal(await servedCN(port, 'a.b.example.test'), 'catch-all');
    assert.equal(await servedCN(port, 'example.test'), 'right-wild'); // example.* takes any last label
    assert.equal(await servedCN(port, 'example.a.test'), 'catch-all');
  });

  test('no SNI gets the default certificate, even when a * SNI exists', async () => {
    const h = await tlsClient(withCatchAll.ports[0]!);
    assert.equal(h.cn, 'localhost');
    h.socket.destroy();
  });

  test('without a * SNI, an unknown SNI and no SNI get ssl_cert from the settings', async () => {
    const port = noCatchAll.ports[0]!;
    assert.equal(await servedCN(port, 'nobody.invalid'), 'settings-default');
    assert.equal(await servedCN(port), 'settings-default');
    assert.equal(await servedCN(port, 'exact.example.test'), 'exact.example.test');
  });

  test('the generated default is a self-signed CN=localhost pair valid for localhost and 127.0.0.1', async () => {
    const h = await tlsClient(withCatchAll.ports[0]!);
    const x = new X509Certificate(h.socket.getPeerCertificate().raw);
    assert.equal(x.subject, x.issuer);
    assert.match(x.subjectAltName ?? '', /DNS:localhost/);
    assert.match(x.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
    assert.equal(checkServerIdentity('localhost', h.socket.getPeerCertificate()), undefined);
    // trusted as its own anchor, a client verifies it for 127.0.0.1 (no SNI sent to an IP)
    const verified = await tlsClient(withCatchAll.ports[0]!, { ca: x.toString(), rejectUnauthorized: true });
    assert.equal(verified.authorized, true);
    verified.socket.destroy();
  });

  test('openssl s_client -servername sees the same choices', async () => {
    const port = withCatchAll.ports[0]!;
    assert.match(await sClientSubject(port, ['-servername', 'exact.example.test']), /CN ?= ?exact\.example\.test/);
    assert.match(await sClientSubject(port, ['-servername', 'x.example.test']), /CN ?= ?left-wild\.example\.test/);
    assert.match(await sClientSubject(port, ['-servername', 'example.org']), /CN ?= ?right-wild/);
    assert.match(await sClientSubject(port, ['-servername', 'unknown.test']), /CN ?= ?catch-all/);
    assert.match(await sClientSubject(port, ['-noservername']), /CN ?= ?localhost/);
    assert.match(await sClientSubject(noCatchAll.ports[0]!, ['-noservername']), /CN ?= ?settings-default/);
  });
});

describe('a dual RSA + ECDSA certificate (cert_alt / key_alt)', () => {
  let echo: TestServer;
  let inst: TestInstance;

  before(async () => {
    const root = ca('Dual Root');
    const rsa = generateSelfSigned({ commonName: 'dual-rsa', altNames: ['dual.test'], issuer: root, keyType: 'rsa' });
    const ec = generateSelfSigned({ commonName: 'dual-ec', altNames: ['dual.test'], issuer: root });
    echo = await startEcho();
    inst = await startYaml(
      echoService(echo, [certEntity(rsa, ['dual.test'], { cert_alt: ec.cert, key_alt: ec.key })]),
      { listen: '127.0.0.1:0 ssl' },
    );
  });
  after(async () => {
    await inst?.stop();
    await echo?.close();
  });

  test('TLS 1.3: the key type follows the signature algorithms the client offers', async () => {
    const port = inst.ports[0]!;
    const ecdsa = await tlsClient(port, { servername: 'dual.test', sigalgs: 'ECDSA+SHA256' });
    assert.equal(ecdsa.keyType, 'ec');
    assert.equal(ecdsa.protocol, 'TLSv1.3');
    assert.equal(await echoBack(ecdsa.socket, 'ec'), 'ec');
    ecdsa.socket.destroy();
    const rsa = await tlsClient(port, { servername: 'dual.test', sigalgs: 'rsa_pss_rsae_sha256' });
    assert.equal(rsa.keyType, 'rsa');
    assert.equal(rsa.cn, 'dual-rsa');
    rsa.socket.destroy();
  });

  test('TLS 1.2: the key type follows the cipher suites the client offers', async () => {
    const port = inst.ports[0]!;
    const base = { servername: 'dual.test', maxVersion: 'TLSv1.2' as const };
    const ecdsa = await tlsClient(port, { ...base, ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' });
    assert.equal(ecdsa.cn, 'dual-ec');
    assert.equal(ecdsa.protocol, 'TLSv1.2');
    ecdsa.socket.destroy();
    const rsa = await tlsClient(port, { ...base, ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' });
    assert.equal(rsa.cn, 'dual-rsa');
    rsa.socket.destroy();
  });

  test('openssl s_client with -sigalgs gets each certificate', async () => {
    const port = inst.ports[0]!;
    assert.match(
      await sClientSubject(port, ['-servername', 'dual.test', '-sigalgs', 'ECDSA+SHA256']),
      /CN ?= ?dual-ec/,
    );
    assert.match(
      await sClientSubject(port, ['-servername', 'dual.test', '-sigalgs', 'RSA-PSS+SHA256']),
      /CN ?= ?dual-rsa/,
    );
  });
});
