import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import type { CaCertificateEntity, CertificateEntity, ServiceEntity } from '../../src/config/types.js';
import { generateSelfSigned, type CertPair } from '../../src/tls/default-cert.js';
import { compileUpstreamTls } from '../../src/tls/upstream.js';
import { close, listen } from './helpers.js';

function service(over: Partial<ServiceEntity>): ServiceEntity {
  return {
    id: 'svc',
    name: 'up',
    protocol: 'tls',
    host: 'up.test',
    port: 443,
    retries: 5,
    connect_timeout: 60000,
    write_timeout: 60000,
    read_timeout: 60000,
    enabled: true,
    tags: [],
    ...over,
  };
}

describe('compileUpstreamTls against real TLS upstreams', () => {
  let root: CertPair;
  let other: CertPair;
  let inter: CertPair;
  let clientCa: CertPair;
  let caCerts: Map<string, CaCertificateEntity>;
  let certs: Map<string, CertificateEntity>;
  const servers: tls.Server[] = [];
  let direct: number; // leaf signed by root
  let chained: number; // leaf signed by an intermediate, the server sends leaf + intermediate
  let mutual: number; // requires a client certificate from clientCa
  const sniSeen: Array<string | false> = [];

  async function start(opts: tls.TlsOptions): Promise<number> {
    const s = tls.createServer(opts, (c) => {
      sniSeen.push((c as tls.TLSSocket & { servername: string | false }).servername);
      c.on('error', () => {});
      c.end('ok');
    });
    s.on('tlsClientError', () => {});
    servers.push(s);
    return listen(s);
  }

  before(async () => {
    root = generateSelfSigned({ commonName: 'Root CA', isCA: true });
    other = generateSelfSigned({ commonName: 'Other CA', isCA: true });
    inter = generateSelfSigned({ commonName: 'Intermediate CA', isCA: true, issuer: root });
    clientCa = generateSelfSigned({ commonName: 'Client CA', isCA: true });
    const leaf = generateSelfSigned({ commonName: 'up.test', altNames: ['up.test', '127.0.0.1'], issuer: root });
    const deep = generateSelfSigned({ commonName: 'up.test', altNames: ['up.test'], issuer: inter });
    const client = generateSelfSigned({ commonName: 'kong-ts client', issuer: clientCa });
    caCerts = new Map([
      ['root', { id: 'root', cert: root.cert, tags: [] }],
      ['other', { id: 'other', cert: other.cert, tags: [] }],
    ]);
    certs = new Map([['client', { id: 'client', cert: client.cert, key: client.key, tags: [] }]]);
    direct = await start({ cert: leaf.cert, key: leaf.key });
    chained = await start({ cert: deep.cert + inter.cert, key: deep.key });
    mutual = await start({
      cert: leaf.cert,
      key: leaf.key,
      requestCert: true,
      rejectUnauthorized: true,
      ca: clientCa.cert,
    });
  });
  after(async () => {
    for (const s of servers) await close(s);
  });

  /** Connects as the proxy will: options for the target host, then the address. Resolves with what was read. */
  function connect(opts: tls.ConnectionOptions, port: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const c = tls.connect({ ...opts, host: '127.0.0.1', port });
      let got = '';
      c.setEncoding('utf8');
      c.on('data', (d) => (got += d));
      c.on('end', () => resolve(got));
      c.on('error', reject);
    });
  }

  test('tls_verify with the right CA passes; the options are built once per host', async () => {
    const opts = compileUpstreamTls(service({ tls_verify: true, ca_certificates: ['root'] }), caCerts, certs);
    assert.equal(opts('up.test'), opts('up.test'));
    assert.equal(opts('up.test').servername, 'up.test');
    assert.equal(await connect(opts('up.test'), direct), 'ok');
  });

  test('tls_verify with a wrong CA fails with a clear error', async () => {
    const opts = compileUpstreamTls(service({ tls_verify: true, ca_certificates: ['other'] }), caCerts, certs);
    await assert.rejects(connect(opts('up.test'), direct), /unable to (verify|get local issuer)/);
  });

  test('tls_verify with a wrong name fails with a clear error', async () => {
    const opts = compileUpstreamTls(service({ tls_verify: true, ca_certificates: ['root'] }), caCerts, certs);
    await assert.rejects(connect(opts('wrong.test'), direct), (e: NodeJS.ErrnoException) => {
      assert.equal(e.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
      assert.match(e.message, /wrong\.test/);
      return true;
    });
  });

  test('an IP host sends no SNI and is checked against the IP SAN', async () => {
    const opts = compileUpstreamTls(service({ tls_verify: true, ca_certificates: ['root'] }), caCerts, certs);
    assert.equal(opts('127.0.0.1').servername, undefined);
    sniSeen.length = 0;
    assert.equal(await connect(opts('127.0.0.1'), direct), 'ok');
    assert.deepEqual(sniSeen, [false]);
  });

  test("tls_verify null (Kong's default) does not verify", async () => {
    const opts = compileUpstreamTls(service({ tls_verify: null, ca_certificates: ['other'] }), caCerts, certs);
    assert.equal(opts('x').rejectUnauthorized, false);
    assert.equal(await connect(opts('wrong.test'), direct), 'ok');
  });

  test('without ca_certificates the system store is used: a private CA is not trusted', async () => {
    const opts = compileUpstreamTls(service({ tls_verify: true }), caCerts, certs);
    await assert.rejects(connect(opts('up.test'), direct), /self[- ]signed|unable to (verify|get local issuer)/);
  });

  test('client_certificate is presented to an upstream that requires one', async () => {
    const withCert = compileUpstreamTls(
      service({ tls_verify: true, ca_certificates: ['root'], client_certificate: 'client' }),
      caCerts,
      certs,
    );
    assert.equal(await connect(withCert('up.test'), mutual), 'ok');
    const without = compileUpstreamTls(service({ tls_verify: true, ca_certificates: ['root'] }), caCerts, certs);
    await assert.rejects(connect(without('up.test'), mutual), /certificate required|ECONNRESET|handshake|alert/i);
  });

  test('tls_verify_depth: one intermediate passes at depth 1, fails at depth 0', async () => {
    const d1 = compileUpstreamTls(
      service({ tls_verify: true, ca_certificates: ['root'], tls_verify_depth: 1 }),
      caCerts,
      certs,
    );
    assert.equal(await connect(d1('up.test'), chained), 'ok');
    const d0 = compileUpstreamTls(
      service({ tls_verify: true, ca_certificates: ['root'], tls_verify_depth: 0 }),
      caCerts,
      certs,
    );
    await assert.rejects(
      connect(d0('up.test'), chained),
      /certificate chain too long: 1 intermediate CA certificates, tls_verify_depth is 0/,
    );
    assert.equal(await connect(d0('up.test'), direct), 'ok', 'a leaf issued by the root itself passes depth 0');
  });

  test('bad references fail at compile time', () => {
    assert.throws(
      () => compileUpstreamTls(service({ ca_certificates: ['nope'] }), caCerts, certs),
      /service up: no ca_certificate with id nope/,
    );
    assert.throws(
      () => compileUpstreamTls(service({ client_certificate: 'nope' }), caCerts, certs),
      /no certificate with id nope/,
    );
  });
});
