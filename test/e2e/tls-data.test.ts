/**
 * Bytes through TLS listeners of a running kong-ts: termination to a plain upstream and re-encryption to a TLS
 * one (10 MB each way, digests compared), tls_passthrough to a real TLS server that the client verifies, and
 * what the session record and the access log say about TLS.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startYaml, type TestInstance } from '../helpers/instance.js';
import { startEcho, streamThrough, type TestServer } from '../helpers/sockets.js';
import type { SessionRecord } from '../../src/proxy/record.js';
import {
  ca,
  certEntity,
  cnOf,
  echoBack,
  kongFile,
  leaf,
  tlsClient,
  tlsEchoServer,
  type CertPair,
} from './tls-helpers.js';

const TEN_MB = 10 * 1024 * 1024;

async function recordWhere(ti: TestInstance, pred: (r: SessionRecord) => boolean): Promise<SessionRecord> {
  for (;;) {
    const r = await ti.nextRecord();
    if (pred(r)) return r;
  }
}

describe('TLS termination, re-encryption and passthrough', () => {
  let root: CertPair;
  let echo: TestServer;
  let tlsUp: Awaited<ReturnType<typeof tlsEchoServer>>;
  let passUp: Awaited<ReturnType<typeof tlsEchoServer>>;
  let ti: TestInstance;
  let ssl: number;

  before(async () => {
    root = ca('Data Root');
    echo = await startEcho();
    tlsUp = await tlsEchoServer({ ...leaf(root, ['127.0.0.1']) });
    passUp = await tlsEchoServer({ ...leaf(root, ['pass.test']), ALPNProtocols: ['h2'] });
    ti = await startYaml(
      kongFile({
        certificates: [certEntity(leaf(root, ['term.test']), ['term.test', 'reenc.test'])],
        ca_certificates: [{ id: '6f1c3e2a-0d5b-4c1e-9a7f-3b2d1c0e9f8a', cert: root.cert }],
        services: [
          {
            name: 'plain',
            url: `tcp://127.0.0.1:${echo.port}`,
            routes: [{ name: 'term', protocols: ['tls'], snis: ['term.test'] }],
          },
          {
            name: 'reenc',
            url: `tls://127.0.0.1:${tlsUp.port}`,
            tls_verify: true,
            ca_certificates: ['6f1c3e2a-0d5b-4c1e-9a7f-3b2d1c0e9f8a'],
            routes: [{ name: 'reenc', protocols: ['tls'], snis: ['reenc.test'] }],
          },
          {
            name: 'pass',
            url: `tcp://127.0.0.1:${passUp.port}`,
            routes: [{ name: 'pass', protocols: ['tls_passthrough'], snis: ['pass.test'] }],
          },
        ],
      }),
      { listen: '127.0.0.1:0 ssl', settings: { proxy_stream_access_log: 'logs/access.log basic' } },
    );
    ssl = ti.ports[0]!;
  });
  after(async () => {
    await ti?.stop();
    await echo?.close();
    await tlsUp?.close();
    await passUp?.close();
  });

  test('termination: 10 MB each way to a plain upstream, digests equal, half-close carried', async () => {
    const h = await tlsClient(ssl, {
      servername: 'term.test',
      ca: root.cert,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2', 'http/1.1'],
    });
    assert.equal(h.cn, 'term.test');
    const r = await streamThrough(h.socket, TEN_MB);
    assert.equal(r.received, TEN_MB);
    assert.equal(r.receivedSha256, r.sentSha256);
    h.socket.destroy();
    const rec = await recordWhere(ti, (x) => x.route?.name === 'term');
    assert.equal(rec.session.status, 200);
    assert.equal(rec.protocol, 'tls');
    assert.equal(rec.session.tls?.version, 'TLSv1.3');
    assert.match(rec.session.tls?.cipher ?? '', /^TLS_AES_|^TLS_CHACHA20/);
    assert.equal(rec.session.tls?.sni, 'term.test');
    assert.deepEqual(rec.session.tls?.alpn, ['h2', 'http/1.1']);
    assert.equal(rec.session.tls?.passthrough, undefined);
    // like nginx's $bytes_received/$bytes_sent on an ssl server: plaintext bytes
    assert.equal(rec.session.received, TEN_MB);
    assert.equal(rec.session.sent, TEN_MB);
    assert.equal(rec.upstream.sent, TEN_MB);
  });

  test('TLS 1.2 termination is recorded with its version and cipher', async () => {
    const h = await tlsClient(ssl, { servername: 'term.test', maxVersion: 'TLSv1.2' });
    assert.equal(await echoBack(h.socket, 'twelve'), 'twelve');
    h.socket.end();
    const rec = await recordWhere(ti, (x) => x.route?.name === 'term');
    assert.equal(rec.session.tls?.version, 'TLSv1.2');
    assert.match(rec.session.tls?.cipher ?? '', /^ECDHE-/);
    assert.equal(rec.session.tls?.alpn, undefined);
  });

  test('re-encryption when the service protocol is tls: verified upstream, 10 MB each way', async () => {
    const h = await tlsClient(ssl, { servername: 'reenc.test' });
    assert.equal(h.cn, 'term.test'); // the client sees the proxy's certificate
    const r = await streamThrough(h.socket, TEN_MB);
    assert.equal(r.received, TEN_MB);
    assert.equal(r.receivedSha256, r.sentSha256);
    h.socket.destroy();
    const rec = await recordWhere(ti, (x) => x.route?.name === 'reenc');
    assert.equal(rec.session.status, 200);
    assert.equal(rec.upstream.sent, TEN_MB);
    assert.equal(rec.upstream.received, TEN_MB);
    assert.equal(tlsUp.sni.at(-1), false); // no SNI to an IP target
  });

  test("tls_passthrough: the client verifies the upstream's own certificate; the record has the peeked SNI", async () => {
    const h = await tlsClient(ssl, {
      servername: 'pass.test',
      ca: root.cert,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2', 'http/1.1'],
    });
    assert.equal(h.authorized, true);
    assert.equal(h.cn, 'pass.test');
    assert.equal(cnOf(h.socket.getPeerCertificate().raw), 'pass.test');
    assert.equal(h.socket.alpnProtocol, 'h2'); // negotiated by the upstream, end to end
    const r = await streamThrough(h.socket, 1024 * 1024);
    assert.equal(r.receivedSha256, r.sentSha256);
    assert.equal(passUp.sni.at(-1), 'pass.test'); // the upstream read the very ClientHello the proxy peeked
    h.socket.destroy();
    const rec = await recordWhere(ti, (x) => x.route?.name === 'pass');
    assert.equal(rec.protocol, 'tls');
    assert.deepEqual(rec.session.tls, { sni: 'pass.test', alpn: ['h2', 'http/1.1'], passthrough: true });
    // untouched bytes: what the proxy read from the client is what it sent to the upstream
    assert.equal(rec.upstream.sent, rec.session.received);
    assert.equal(rec.upstream.received, rec.session.sent);
  });

  test('the access log line says TLS', async () => {
    const h = await tlsClient(ssl, { servername: 'term.test' });
    assert.equal(await echoBack(h.socket, 'log me'), 'log me');
    h.socket.end();
    await recordWhere(ti, (x) => x.route?.name === 'term');
    await ti.stop(); // flushes the access log
    const lines = readFileSync(join(ti.dir, 'prefix', 'logs', 'access.log'), 'utf8')
      .trim()
      .split('\n');
    assert.ok(lines.length >= 4);
    for (const l of lines) assert.match(l, /^127\.0\.0\.1 \[[^\]]+\] TLS 200 \d+ \d+ \d+\.\d{3}$/);
  });
});
