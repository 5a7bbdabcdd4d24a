import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CertificateEntity, SniEntity } from '../../src/config/types.js';
import { compileCertStore } from '../../src/tls/cert-store.js';
import { generateSelfSigned } from '../../src/tls/default-cert.js';
import { fetchServerCert, openssl, terminatingServer } from './helpers.js';

function cert(id: string, cn: string, alt?: string): CertificateEntity {
  const p = generateSelfSigned({ commonName: cn });
  if (!alt) return { id, cert: p.cert, key: p.key, tags: [] };
  const a = generateSelfSigned({ commonName: alt, keyType: 'rsa' });
  return { id, cert: p.cert, key: p.key, cert_alt: a.cert, key_alt: a.key, tags: [] };
}

const sni = (name: string, certificate: string): SniEntity => ({ id: `sni-${name}`, name, certificate, tags: [] });

const certs = [
  cert('exact', 'exact-cn'),
  cert('left', 'left-wild-cn'),
  cert('right', 'right-wild-cn'),
  cert('all', 'catch-all-cn'),
  cert('dual', 'dual-ec-cn', 'dual-rsa-cn'),
];
const snis = [
  sni('exact.test', 'exact'),
  sni('Over.Wild.Test', 'exact'), // an exact name beats a wildcard that also matches it
  sni('*.wild.test', 'left'),
  sni('prefix.*', 'right'),
  sni('*', 'all'),
  sni('dual.test', 'dual'),
];
const dflt = generateSelfSigned({ commonName: 'default-cn' });

describe('compileCertStore lookup (Kong order)', () => {
  const store = compileCertStore(certs, snis, dflt);
  const noCatchAll = compileCertStore(
    certs,
    snis.filter((s) => s.name !== '*'),
    dflt,
  );

  test('one context per certificate, shared by its SNIs', () => {
    assert.equal(store.lookup('exact.test'), store.lookup('over.wild.test'));
    assert.notEqual(store.lookup('exact.test'), store.lookup('a.wild.test'));
  });

  test('exact, then *.rest, then prefix.*, then *, then the default', () => {
    const all = store.lookup('nothing.matches');
    assert.equal(store.lookup('a.wild.test'), store.lookup('b.wild.test'));
    assert.notEqual(store.lookup('a.wild.test'), all);
    assert.equal(store.lookup('a.b.wild.test'), all, 'only the leftmost label is replaced');
    assert.equal(store.lookup('prefix.com'), store.lookup('prefix.org'));
    assert.notEqual(store.lookup('prefix.com'), all);
    assert.equal(store.lookup('prefix.a.com'), all, 'only the last label is replaced');
    assert.equal(store.lookup(undefined), store.defaultContext);
    assert.equal(noCatchAll.lookup('nothing.matches'), noCatchAll.defaultContext);
    assert.equal(noCatchAll.lookup('localhost'), noCatchAll.defaultContext);
  });

  test('a bad PEM fails at compile time with a clear message and no key material', () => {
    const bad = {
      id: 'bad',
      cert: certs[0]!.cert,
      key: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
      tags: [],
    };
    assert.throws(
      () => compileCertStore([bad], [sni('bad.test', 'bad')], dflt),
      (e: Error) => {
        assert.match(e.message, /^certificate bad: cannot build a TLS context/);
        assert.doesNotMatch(e.message, /AAAA/);
        return true;
      },
    );
    assert.throws(() => compileCertStore([], [sni('x.test', 'missing')], dflt), /no certificate with id missing/);
  });
});

describe('certificate served through peek + terminate', () => {
  let srv: Awaited<ReturnType<typeof terminatingServer>>;
  let bare: Awaited<ReturnType<typeof terminatingServer>>;
  before(async () => {
    srv = await terminatingServer(compileCertStore(certs, snis, dflt));
    bare = await terminatingServer(
      compileCertStore(
        certs,
        snis.filter((s) => s.name !== '*'),
        dflt,
      ),
    );
  });
  after(async () => {
    await srv.close();
    await bare.close();
  });

  const cases: Array<[string | undefined, string]> = [
    ['exact.test', 'exact-cn'],
    ['EXACT.test', 'exact-cn'],
    ['over.wild.test', 'exact-cn'],
    ['a.wild.test', 'left-wild-cn'],
    ['a.b.wild.test', 'catch-all-cn'],
    ['prefix.io', 'right-wild-cn'],
    ['other.test', 'catch-all-cn'],
    [undefined, 'default-cn'],
  ];
  for (const [name, cn] of cases) {
    test(`tls.connect with SNI ${name ?? '(none)'} gets ${cn}`, async () => {
      const got = await fetchServerCert(srv.port, name ? { servername: name } : {});
      assert.equal(got.cn, cn);
    });
  }

  test('without a * SNI an unknown name gets the default certificate', async () => {
    assert.equal((await fetchServerCert(bare.port, { servername: 'other.test' })).cn, 'default-cn');
  });

  for (const [name, cn] of [
    ['a.wild.test', 'left-wild-cn'],
    ['prefix.net', 'right-wild-cn'],
    ['exact.test', 'exact-cn'],
  ] as const) {
    test(`openssl s_client -servername ${name} gets ${cn}`, async () => {
      const r = await openssl(['s_client', '-connect', `127.0.0.1:${srv.port}`, '-servername', name], 'Q\n');
      assert.match(r.out, new RegExp(`subject=CN ?= ?${cn}`));
    });
  }

  test('dual certificate: an ECDSA-only client gets the EC pair, an RSA-only client the RSA pair', async () => {
    for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
      const ec = await fetchServerCert(srv.port, {
        servername: 'dual.test',
        maxVersion,
        sigalgs: 'ecdsa_secp256r1_sha256',
      });
      assert.deepEqual([ec.cn, ec.keyType, ec.protocol], ['dual-ec-cn', 'ec', maxVersion]);
      const rsa = await fetchServerCert(srv.port, {
        servername: 'dual.test',
        maxVersion,
        sigalgs: 'rsa_pss_rsae_sha256:rsa_pkcs1_sha256',
      });
      assert.deepEqual([rsa.cn, rsa.keyType, rsa.protocol], ['dual-rsa-cn', 'rsa', maxVersion]);
    }
  });

  test('dual certificate with openssl s_client -sigalgs', async () => {
    const args = ['s_client', '-connect', `127.0.0.1:${srv.port}`, '-servername', 'dual.test'];
    assert.match((await openssl([...args, '-sigalgs', 'RSA-PSS+SHA256'], 'Q\n')).out, /subject=CN ?= ?dual-rsa-cn/);
    assert.match((await openssl([...args, '-sigalgs', 'ECDSA+SHA256'], 'Q\n')).out, /subject=CN ?= ?dual-ec-cn/);
  });
});
