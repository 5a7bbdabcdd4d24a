/**
 * Bad clients on an ssl listener of a running kong-ts: garbage, a truncated ClientHello, plain text and a
 * slow drip are closed with status 400 while a concurrent good session goes on intact; and a certificate
 * swapped by a reload, with an old TLS session still open on the old one.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { startYaml, type TestInstance } from '../helpers/instance.js';
import { peerClosed, startEcho, streamThrough, type TestServer } from '../helpers/sockets.js';
import type { SessionRecord } from '../../src/proxy/record.js';
import { captureHello } from '../tls/helpers.js';
import { ca, certEntity, echoBack, kongFile, leaf, servedCN, tlsClient, type CertPair } from './tls-helpers.js';

function config(echo: TestServer, cert: CertPair): string {
  return kongFile({
    certificates: [certEntity(cert, ['swap.test'])],
    services: [
      {
        name: 'echo',
        url: `tcp://127.0.0.1:${echo.port}`,
        routes: [{ name: 'r', protocols: ['tls'], destinations: [{ ip: '127.0.0.1' }] }],
      },
    ],
  });
}

/** Sends `bytes` (then ends unless `keepOpen`), resolves when the proxy closed the connection. */
async function sendAndWaitClose(port: number, bytes: Buffer, keepOpen = false): Promise<Buffer> {
  const s: Socket = connect(port, '127.0.0.1');
  const got: Buffer[] = [];
  s.on('data', (d: Buffer) => got.push(d));
  s.write(bytes);
  if (!keepOpen) s.end();
  await peerClosed(s);
  return Buffer.concat(got);
}

describe('bad clients on an ssl listener', () => {
  let root: CertPair;
  let echo: TestServer;
  let ti: TestInstance;
  let port: number;
  let hello: Buffer;

  before(async () => {
    root = ca('Abuse Root');
    echo = await startEcho();
    ti = await startYaml(config(echo, leaf(root, ['first'])), {
      listen: '127.0.0.1:0 ssl',
      settings: { stream_preread_timeout: '300' },
    });
    port = ti.ports[0]!;
    hello = await captureHello((p) => {
      const c = tls.connect({ host: '127.0.0.1', port: p, servername: 'swap.test', rejectUnauthorized: false });
      c.on('error', () => {});
    });
  });
  after(async () => {
    await ti?.stop();
    await echo?.close();
  });

  async function recordsUntil(n: number): Promise<SessionRecord[]> {
    const out: SessionRecord[] = [];
    while (out.length < n) out.push(await ti.nextRecord());
    return out;
  }

  test('garbage, a truncated ClientHello and plain text: closed with 400 while a good session stays intact', async () => {
    const good = await tlsClient(port, { servername: 'swap.test' });
    const goodRun = streamThrough(good.socket, 4 * 1024 * 1024, 16 * 1024);
    const bad = await Promise.all([
      sendAndWaitClose(port, Buffer.from('\x16\x03\x01\xff\xff garbage that claims a huge record', 'latin1')),
      sendAndWaitClose(port, Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x02, 0, 0, 1, 0])), // a ServerHello
      sendAndWaitClose(port, hello.subarray(0, Math.floor(hello.length / 2))), // truncated, then EOF
      sendAndWaitClose(port, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')),
      sendAndWaitClose(port, Buffer.from('PING\r\n'), true), // plain text, the client keeps waiting
    ]);
    for (const b of bad) assert.equal(b.length, 0); // nothing is ever sent back to a bad client
    const r = await goodRun;
    assert.equal(r.received, r.sent);
    assert.equal(r.receivedSha256, r.sentSha256);
    good.socket.destroy();
    const recs = await recordsUntil(6);
    const statuses = recs.map((x) => x.session.status).sort();
    assert.deepEqual(statuses, [200, 400, 400, 400, 400, 400]);
    for (const x of recs.filter((y) => y.session.status === 400)) {
      assert.equal(x.route, undefined);
      assert.equal(x.upstream.sent, 0);
    }
  });

  test('a ClientHello dripped one byte per 100 ms is cut at stream_preread_timeout (300 ms)', async () => {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    const t0 = Date.now();
    let closedAt = 0;
    s.on('close', () => (closedAt = Date.now()));
    for (let i = 0; i < 20 && !closedAt; i++) {
      if (!s.destroyed) s.write(hello.subarray(i, i + 1));
      await sleep(100);
    }
    assert.ok(closedAt > 0, 'the proxy closed the slow client');
    const took = closedAt - t0;
    assert.ok(took >= 280 && took < 900, `cut after ${took} ms`);
    const r = await ti.nextRecord();
    assert.equal(r.session.status, 400);
    assert.ok(r.session.received <= 10);
  });

  test('a complete ClientHello then silence is cut by the handshake timeout, not kept forever', async () => {
    const t0 = Date.now();
    await sendAndWaitClose(port, hello, true);
    assert.ok(Date.now() - t0 < 2000);
    assert.equal((await ti.nextRecord()).session.status, 400);
  });

  test('a reload swaps the certificate: the old session keeps echoing, new handshakes get the new one', async () => {
    const old = await tlsClient(port, { servername: 'swap.test' });
    assert.equal(old.cn, 'first');
    assert.equal(await echoBack(old.socket, 'before'), 'before');
    assert.equal(await ti.reload(config(echo, leaf(root, ['second']))), 'loaded');
    assert.equal(await servedCN(port, 'swap.test'), 'second');
    assert.equal(await echoBack(old.socket, 'after the reload'), 'after the reload');
    assert.equal(old.socket.getPeerCertificate().subject.CN, 'first');
    old.socket.end();
    await peerClosed(old.socket);
  });
});
