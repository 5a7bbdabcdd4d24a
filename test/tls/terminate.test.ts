import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { compileCertStore } from '../../src/tls/cert-store.js';
import { generateSelfSigned, type CertPair } from '../../src/tls/default-cert.js';
import { captureHello, nodeClient, terminatingServer } from './helpers.js';
import { resumingHello } from '../helpers/tls-resume.js';

describe('terminateTls after peekClientHello', () => {
  let ca: CertPair;
  let srv: Awaited<ReturnType<typeof terminatingServer>>;

  before(async () => {
    ca = generateSelfSigned({ commonName: 'Term CA', isCA: true });
    const leaf = generateSelfSigned({ commonName: 'echo.test', issuer: ca });
    const store = compileCertStore(
      [{ id: 'c1', cert: leaf.cert, key: leaf.key, tags: [] }],
      [{ id: 's1', name: 'echo.test', certificate: 'c1', tags: [] }],
      generateSelfSigned({ commonName: 'default' }),
    );
    srv = await terminatingServer(store, 400);
  });
  after(() => srv.close());

  function connect(opts: tls.ConnectionOptions): Promise<tls.TLSSocket> {
    return new Promise((resolve, reject) => {
      const c = tls.connect({ host: '127.0.0.1', port: srv.port, ca: ca.cert, ...opts }, () => resolve(c));
      c.on('error', reject);
    });
  }

  function echo(c: tls.TLSSocket, data: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const got: Buffer[] = [];
      let n = 0;
      c.on('data', (d: Buffer) => {
        got.push(d);
        n += d.length;
        if (n >= data.length) resolve(Buffer.concat(got));
      });
      c.on('error', reject);
      c.write(data);
    });
  }

  test('the peeked bytes are put back: a verified TLS 1.3 handshake and a 1 MiB echo', async () => {
    const c = await connect({ servername: 'echo.test' });
    const o = await srv.next();
    assert.equal(c.authorized, true);
    assert.equal(o.error, undefined);
    assert.equal(o.sni, 'echo.test');
    assert.equal(o.info?.version, 'TLSv1.3');
    assert.match(o.info?.cipher ?? '', /^TLS_/);
    const data = randomBytes(1 << 20);
    assert.deepEqual(await echo(c, data), data);
    c.destroy();
  });

  test('TLS 1.2 works too and reports its version and cipher', async () => {
    const c = await connect({ servername: 'echo.test', maxVersion: 'TLSv1.2' });
    const o = await srv.next();
    assert.equal(o.info?.version, 'TLSv1.2');
    assert.match(o.info?.cipher ?? '', /ECDHE/);
    assert.deepEqual(await echo(c, Buffer.from('ping')), Buffer.from('ping'));
    c.destroy();
  });

  test('a handshake failure is reported, not thrown (client offers TLS 1.1 only)', async () => {
    await assert.rejects(
      connect({ servername: 'echo.test', minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' }),
    );
    const o = await srv.next();
    assert.match(o.error?.message ?? '', /TLS handshake failed: .*(protocol|version)/i);
  });

  test('a client that sends its hello and falls silent times out', async () => {
    const hello = await captureHello(nodeClient({ servername: 'echo.test' }));
    const c = net.connect(srv.port, '127.0.0.1');
    c.on('error', () => {});
    c.write(hello);
    c.resume(); // read the server's flight, then see its close
    const closed = new Promise((r) => c.once('close', r));
    const o = await srv.next();
    assert.match(o.error?.message ?? '', /timeout/);
    await closed; // the server side destroyed the connection
  });

  test('garbage after a valid hello fails the handshake', async () => {
    const hello = await captureHello(nodeClient({ servername: 'echo.test', maxVersion: 'TLSv1.2' }));
    const c = net.connect(srv.port, '127.0.0.1');
    c.on('error', () => {});
    c.on('data', () => c.write(Buffer.alloc(64, 0x41))); // answer the ServerHello with junk
    c.write(hello);
    const o = await srv.next();
    assert.match(o.error?.message ?? '', /TLS handshake failed/);
    c.destroy();
  });

  test('a client leaving right after its hello is reported', async () => {
    const hello = await captureHello(nodeClient({ servername: 'echo.test' }));
    const c = net.connect(srv.port, '127.0.0.1');
    c.on('error', () => {});
    c.end(hello);
    const o = await srv.next();
    assert.match(o.error?.message ?? '', /TLS handshake failed/);
  });
});

test('session tickets: a returning client resumes, also with the store of a later snapshot (same ticket keys)', async (t) => {
  const ca = generateSelfSigned({ commonName: 'Resume CA', isCA: true });
  const leaf = generateSelfSigned({ commonName: 'resume.test', issuer: ca });
  const build = () =>
    compileCertStore(
      [{ id: 'c1', cert: leaf.cert, key: leaf.key, tags: [] }],
      [{ id: 's1', name: 'resume.test', certificate: 'c1', tags: [] }],
      generateSelfSigned({ commonName: 'default' }),
    );
  const first = await terminatingServer(build());
  const second = await terminatingServer(build()); // a reload builds new contexts
  t.after(async () => {
    await first.close();
    await second.close();
  });
  const hello = (port: number, maxVersion: tls.SecureVersion, session?: Buffer) =>
    resumingHello(port, 'resume.test', ca.cert, maxVersion, session);
  for (const v of ['TLSv1.3', 'TLSv1.2'] as const) {
    const a = await hello(first.port, v);
    assert.equal(a.reused, false);
    assert.ok(a.session, `no ${v} session ticket issued`);
    assert.equal((await hello(first.port, v, a.session)).reused, true, `${v}: not resumed on the same store`);
    assert.equal((await hello(second.port, v, a.session)).reused, true, `${v}: not resumed after a rebuild`);
  }
});
