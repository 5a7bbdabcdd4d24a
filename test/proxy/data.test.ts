import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import {
  connectTo,
  listenServer,
  readAll,
  sha256,
  startEcho,
  startSink,
  streamThrough,
  type TestServer,
} from '../helpers/sockets.js';
import { route, service } from '../helpers/entities.js';
import { snapshot, startProxy, type Harness } from './harness.js';

const MB = 1024 * 1024;
const reply = randomBytes(MB);
let echo: TestServer;
let sink: Awaited<ReturnType<typeof startSink>>;
let proxy: Harness;

before(async () => {
  echo = await startEcho();
  sink = await startSink({ reply });
  proxy = await startProxy({
    services: [service({ id: 'echo', port: echo.port }), service({ id: 'sink', port: sink.port })],
    routes: [
      route({ id: 'to-echo', service: 'echo', sources: [{ ip: '127.0.0.1' }] }),
      route({ id: 'to-sink', service: 'sink', sources: [{ ip: '127.0.0.7' }] }),
    ],
  });
});

after(async () => {
  await proxy.close();
  await echo.close();
  await sink.close();
});

test('50 MB through an echo upstream: every byte back, in order', async () => {
  const c = await connectTo(proxy.port);
  const r = await streamThrough(c, 50 * MB);
  c.destroy();
  assert.equal(r.received, r.sent);
  assert.equal(r.receivedSha256, r.sentSha256);
  const rec = await proxy.nextRecord();
  assert.equal(rec.session.status, 200);
  assert.equal(rec.session.received, 50 * MB);
  assert.equal(rec.session.sent, 50 * MB);
  assert.equal(rec.upstream.sent, 50 * MB);
  assert.equal(rec.tries.length, 1);
  assert.equal(rec.route?.id, 'to-echo');
});

test('half-close: the client ends its side, the 1 MB reply sent afterwards arrives whole', async () => {
  const c = await connectTo(proxy.port, '127.0.0.1', '127.0.0.7');
  const got = readAll(c);
  const body = randomBytes(100 * 1024);
  c.end(body);
  const seen = await sink.next();
  assert.equal(seen.bytes, body.length);
  assert.equal(seen.sha256, sha256(body));
  const back = await got;
  assert.equal(back.length, reply.length);
  assert.equal(sha256(back), sha256(reply));
  c.destroy();
  const rec = await proxy.nextRecord();
  assert.equal(rec.session.closed_by, 'client');
  assert.equal(rec.session.sent, MB);
  assert.equal(rec.session.received, body.length);
});

test('backpressure: 200 MB offered to a stalled upstream stay out of the proxy, then arrive intact', async () => {
  const stalled: Socket[] = [];
  const waiting: (() => void)[] = [];
  const slow = await listenServer(
    createServer({ pauseOnConnect: true }, (s) => {
      stalled.push(s);
      waiting.shift()?.();
    }),
  );
  const h = await startProxy({
    services: [service({ id: 'slow', port: slow.port })],
    routes: [route({ id: 'r', service: 'slow', destinations: [{ port: 0 }] })],
  });
  try {
    h.server.swap(
      snapshot(
        [service({ id: 'slow', port: slow.port })],
        [route({ id: 'r', service: 'slow', destinations: [{ port: h.port }] })],
      ),
    );
    const base = process.memoryUsage().arrayBuffers;
    const c = await connectTo(h.port);
    if (stalled.length === 0) await new Promise<void>((resolve) => waiting.push(resolve));
    const up = stalled[0]!;
    const done = streamThrough(c, 200 * MB);
    // let the pipeline fill up while nobody reads at the far end
    let last = -1;
    for (let i = 0; i < 50 && c.bytesWritten !== last; i++) {
      last = c.bytesWritten;
      await new Promise((r) => setTimeout(r, 100));
    }
    const held = process.memoryUsage().arrayBuffers - base;
    const offered = c.bytesWritten;
    assert.ok(offered < 100 * MB, `the client got ${offered} bytes in although the upstream reads nothing`);
    assert.ok(held < 48 * MB, `buffers grew by ${held} bytes`);
    // now read: everything arrives, in order
    const hash = createHash('sha256');
    let n = 0;
    up.on('data', (d: Buffer) => {
      hash.update(d);
      n += d.length;
    });
    up.on('end', () => up.end());
    up.resume();
    const r = await done;
    assert.equal(n, 200 * MB);
    assert.equal(hash.digest('hex'), r.sentSha256);
    c.destroy();
  } finally {
    await h.close();
    await slow.close();
  }
});

test("the client's first bytes, sent before the upstream connects, are not lost", async () => {
  const c = await connectTo(proxy.port);
  const got = readAll(c);
  c.write('hello ');
  c.end('world');
  assert.equal((await got).toString(), 'hello world');
  c.destroy();
  await once(c, 'close');
});

test('backpressure the other way: a client that reads nothing does not make the proxy buffer the upstream', async () => {
  const total = 150 * MB;
  let upstreamSent = 0;
  const sentHash = createHash('sha256');
  const talker = await listenServer(
    // eslint-disable-next-line @typescript-eslint/no-misused-promises -- the writer loop runs on its own; the hash check fails the test if it stops
    createServer(async (s) => {
      s.on('error', () => {});
      while (upstreamSent < total) {
        const b = randomFillSync(Buffer.allocUnsafe(64 * 1024));
        sentHash.update(b);
        upstreamSent += b.length;
        if (!s.write(b)) await once(s, 'drain');
      }
      s.end();
    }),
  );
  const services = [service({ id: 't', port: talker.port })];
  const h = await startProxy({ services, routes: [] });
  try {
    h.server.swap(snapshot(services, [route({ id: 'r', service: 't', destinations: [{ port: h.port }] })]));
    const base = process.memoryUsage().arrayBuffers;
    const c = await connectTo(h.port);
    c.pause();
    let last = -1;
    for (let i = 0; i < 50 && upstreamSent !== last; i++) {
      last = upstreamSent;
      await new Promise((r) => setTimeout(r, 100));
    }
    const held = process.memoryUsage().arrayBuffers - base;
    assert.ok(upstreamSent < 100 * MB, `the upstream pushed ${upstreamSent} bytes to a client that reads nothing`);
    assert.ok(held < 48 * MB, `buffers grew by ${held} bytes`);
    const hash = createHash('sha256');
    let n = 0;
    c.on('data', (d: Buffer) => {
      hash.update(d);
      n += d.length;
    });
    c.resume();
    await once(c, 'end');
    c.end();
    assert.equal(n, total);
    assert.equal(hash.digest('hex'), sentHash.digest('hex'));
    const rec = await h.nextRecord();
    assert.equal(rec.session.sent, total);
    assert.equal(rec.session.closed_by, 'upstream');
  } finally {
    await h.close();
    await talker.close();
  }
});
