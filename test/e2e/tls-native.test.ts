/**
 * TLS terminated by the addon (native/tls.c) on an ssl listener, against Node's TLS clients and openssl: which
 * routes it serves (and which stay on Node's TLS), session tickets across a reload, handshake failures, the bytes a
 * client sends together with its Finished, a client that leaves right after the handshake, and the PROXY header of
 * a service in front of the plaintext. With `KONG_TS_PUMP=js` the same tests run on Node's TLS.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { startYaml, type TestInstance } from '../helpers/instance.js';
import { resumingHello } from '../helpers/tls-resume.js';
import { startEcho, type TestServer } from '../helpers/sockets.js';
import { nativeTlsCount } from '../../src/proxy/native-pump.js';
import { tlsKind } from '../../src/tls/native-tls.js';
import type { SessionRecord } from '../../src/proxy/record.js';
import {
  ca,
  certEntity,
  echoBack,
  kongFile,
  leaf,
  openssl,
  tlsClient,
  tlsEchoServer,
  type CertPair,
} from './tls-helpers.js';

const NATIVE = tlsKind === 'native';

async function recordWhere(ti: TestInstance, pred: (r: SessionRecord) => boolean): Promise<SessionRecord> {
  for (;;) {
    const r = await ti.nextRecord();
    if (pred(r)) return r;
  }
}

/** A server that keeps what each connection sent, until the connection ends. */
async function recorder(): Promise<{ server: Server; port: number; got: Promise<Buffer>[] }> {
  const got: Promise<Buffer>[] = [];
  const server = createServer({ allowHalfOpen: true }, (s: Socket) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    got.push(once(s, 'end').then(() => (s.end(), Buffer.concat(parts))));
    s.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port, got };
}

describe('TLS terminated by the addon', () => {
  let root: CertPair;
  let echo: TestServer;
  let rec: Awaited<ReturnType<typeof recorder>>;
  let tlsUp: Awaited<ReturnType<typeof tlsEchoServer>>;
  let ti: TestInstance;
  let port: number;
  let yaml: (extra: string) => string;

  before(async () => {
    root = ca('Native Root');
    echo = await startEcho();
    rec = await recorder();
    tlsUp = await tlsEchoServer({ ...leaf(root, ['127.0.0.1']) });
    const cert = certEntity(leaf(root, ['native.test', 'proxied.test', 'reenc.test']), [
      'native.test',
      'proxied.test',
      'reenc.test',
    ]);
    yaml = (tag: string) =>
      kongFile({
        certificates: [cert],
        ca_certificates: [{ id: '0b9d3c52-7e21-4a6f-9c8e-2d4f6a1b3c5e', cert: root.cert }],
        services: [
          {
            name: 'echo',
            tags: [tag],
            url: `tcp://127.0.0.1:${echo.port}`,
            routes: [{ name: 'native', protocols: ['tls'], snis: ['native.test'] }],
          },
          {
            name: 'proxied',
            url: `tcp://127.0.0.1:${rec.port}`,
            tags: ['kong-ts.proxy_protocol=v1'],
            routes: [{ name: 'proxied', protocols: ['tls'], snis: ['proxied.test'] }],
          },
          {
            name: 'reenc',
            url: `tls://127.0.0.1:${tlsUp.port}`,
            tls_verify: true,
            ca_certificates: ['0b9d3c52-7e21-4a6f-9c8e-2d4f6a1b3c5e'],
            routes: [{ name: 'reenc', protocols: ['tls'], snis: ['reenc.test'] }],
          },
        ],
      });
    ti = await startYaml(yaml('one'), {
      listen: '127.0.0.1:0 ssl',
      settings: { proxy_stream_access_log: 'logs/access.log basic', stream_preread_timeout: '2000' },
    });
    port = ti.ports[0]!;
  });
  after(async () => {
    await ti?.stop();
    await echo?.close();
    await tlsUp?.close();
    rec?.server.close();
  });

  test('a route to a plain upstream is terminated by the addon; a TLS upstream stays on Node', async () => {
    const before = nativeTlsCount();
    const h = await tlsClient(port, { servername: 'native.test', ca: root.cert, rejectUnauthorized: true });
    assert.equal(await echoBack(h.socket, 'hello native'), 'hello native');
    h.socket.end();
    const r = await recordWhere(ti, (x) => x.route?.name === 'native');
    assert.equal(r.session.status, 200);
    assert.equal(r.session.tls?.version, 'TLSv1.3');
    assert.match(r.session.tls?.cipher ?? '', /^TLS_/);
    assert.equal(r.session.received, 12);
    assert.equal(r.session.sent, 12);
    assert.equal(nativeTlsCount() - before, NATIVE ? 1 : 0, 'which TLS took the connection');

    const mid = nativeTlsCount();
    const e = await tlsClient(port, { servername: 'reenc.test', ca: root.cert, rejectUnauthorized: true });
    assert.equal(await echoBack(e.socket, 'to tls'), 'to tls');
    e.socket.end();
    await recordWhere(ti, (x) => x.route?.name === 'reenc');
    assert.equal(nativeTlsCount(), mid, 'a TLS upstream is served by Node');
  });

  test('session tickets resume (TLS 1.3 and 1.2), also after a reload', async () => {
    const hello = (maxVersion: tls.SecureVersion, session?: Buffer) =>
      resumingHello(port, 'native.test', root.cert, maxVersion, session);
    for (const v of ['TLSv1.3', 'TLSv1.2'] as const) {
      const a = await hello(v);
      assert.equal(a.reused, false);
      assert.ok(a.session, `no ${v} ticket`);
      assert.equal((await hello(v, a.session)).reused, true, `${v}: not resumed`);
      assert.match(await ti.reload(yaml(`reload-${v}`)), /loaded/);
      assert.equal((await hello(v, a.session)).reused, true, `${v}: not resumed after a reload`);
    }
  });

  test('bytes sent with the Finished reach the upstream after the PROXY header; half-close is carried', async () => {
    const n = rec.got.length;
    const h = await tlsClient(port, { servername: 'proxied.test', ca: root.cert, rejectUnauthorized: true });
    h.socket.end('first bytes, then close_notify');
    const [body] = await Promise.all([
      (async () => {
        while (rec.got.length === n) await new Promise((r) => setTimeout(r, 10));
        return rec.got[n]!;
      })(),
      once(h.socket, 'end'),
    ]);
    const text = body.toString();
    assert.match(text, /^PROXY TCP4 127\.0\.0\.1 127\.0\.0\.1 \d+ \d+\r\nfirst bytes, then close_notify$/);
    const r = await recordWhere(ti, (x) => x.route?.name === 'proxied');
    assert.equal(r.session.received, 30);
    h.socket.destroy();
  });

  test('bursts bigger than the read buffer come back whole while the client waits, neither ending nor sending more', async () => {
    // OpenSSL reads ahead (up to 64 KiB a read): records left in its buffer must be served with no socket event
    const h = await tlsClient(port, { servername: 'native.test', ca: root.cert, rejectUnauthorized: true });
    for (const size of [
      65536 + 1,
      300_000,
      16384 * 8 + 7,
      1_000_000,
      3,
      ...Array.from({ length: 24 }, (_, i) => 70_000 + i * 9_973),
    ]) {
      const data = randomBytes(size);
      const back = await echoBack(h.socket, data, 10000);
      assert.ok(Buffer.from(back, 'latin1').equals(data), `${size} bytes came back whole`);
    }
    h.socket.destroy();
  });

  test(
    'bytes and close_notify on a socket the client keeps open: the upstream gets both, then its end',
    { timeout: 15000 },
    async () => {
      // the two records come in one read-ahead chunk and no FIN follows: the end must be served from OpenSSL's buffer
      const n = rec.got.length;
      const raw = netConnect(port, '127.0.0.1');
      await once(raw, 'connect');
      const noFin = new Duplex({
        read() {},
        write(chunk: Buffer, _enc, cb) {
          raw.write(chunk, cb);
        },
        final(cb) {
          cb(); // the TCP stream stays open
        },
      });
      raw.on('data', (b: Buffer) => noFin.push(b));
      raw.on('end', () => noFin.push(null));
      raw.on('error', () => {});
      const s = tls.connect({ socket: noFin, servername: 'proxied.test', ca: root.cert, rejectUnauthorized: true });
      s.on('error', () => {});
      await once(s, 'secureConnect');
      s.end('bytes, then close_notify on an open socket');
      while (rec.got.length === n) await new Promise((r) => setTimeout(r, 10));
      const body = (await rec.got[n]!).toString();
      assert.match(body, /\r\nbytes, then close_notify on an open socket$/);
      raw.destroy();
    },
  );

  test('clients that leave right after their handshake (openssl s_time) mostly cost no upstream connection', async (t) => {
    const st = await startYaml(
      kongFile({
        services: [
          {
            name: 'quick',
            url: `tcp://127.0.0.1:${echo.port}`,
            routes: [{ name: 'quick', protocols: ['tls'], destinations: [{ ip: '127.0.0.1' }] }],
          },
        ],
      }),
      { listen: '127.0.0.1:0 ssl', tag: 'tls-quick' },
    );
    t.after(() => st.stop());
    const before = nativeTlsCount();
    const out = await openssl(['s_time', '-connect', `127.0.0.1:${st.ports[0]}`, '-new', '-time', '1'], '', 20_000);
    const n = Number(/(\d+) connections in/.exec(out.out)?.[1] ?? 0);
    assert.ok(n > 0, out.out);
    while (st.records.length < n) await new Promise((r) => setTimeout(r, 20));
    assert.ok(
      st.records.every((r) => r.session.status === 200 && r.session.closed_by === 'client'),
      JSON.stringify(st.records.find((r) => r.session.status !== 200 || r.session.closed_by !== 'client')),
    );
    // the close_notify usually arrives within the turn the session waits for it; a busy machine may miss some
    assert.ok(
      st.records.some((r) => r.tries.length === 0),
      'no session skipped its upstream connection',
    );
    assert.equal(nativeTlsCount() - before, NATIVE ? n : 0);
  });

  test('a TLS 1.1 client and a garbage hello are refused with 400, and the listener goes on', async () => {
    const old = await openssl(['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'native.test', '-tls1_1']);
    assert.notEqual(old.code, 0);
    const r = await recordWhere(ti, (x) => x.session.status === 400);
    assert.equal(r.session.tls?.sni, 'native.test');
    const h = await tlsClient(port, { servername: 'native.test', ca: root.cert, rejectUnauthorized: true });
    assert.equal(await echoBack(h.socket, 'still serving'), 'still serving');
    h.socket.destroy();
  });
});
