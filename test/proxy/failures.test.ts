import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { connectTo, listenServer, peerClosed, startEcho } from '../helpers/sockets.js';
import { route, service } from '../helpers/entities.js';
import { snapshot, startProxy } from './harness.js';
import type { ServiceEntity } from '../../src/config/types.js';

/** A proxy whose single route sends everything arriving on its port to `svc`. */
async function proxyTo(svc: ServiceEntity) {
  const h = await startProxy({ services: [svc], routes: [] });
  h.server.swap(snapshot([svc], [route({ id: 'r', service: svc.id, destinations: [{ port: h.port }] })]));
  return h;
}

async function freePort(): Promise<number> {
  const s = await listenServer(createServer());
  const port = s.port;
  await s.close();
  return port;
}

test('upstream refused: every try recorded, 502, client closed, proxy still serving', async (t) => {
  const port = await freePort();
  const h = await proxyTo(service({ id: 'dead', port, retries: 2 }));
  t.after(() => h.close());
  const c = await connectTo(h.port);
  await peerClosed(c);
  const r = await h.nextRecord();
  assert.equal(r.session.status, 502);
  assert.equal(r.tries.length, 3);
  for (const tr of r.tries) {
    assert.equal(tr.state, 'failed');
    assert.equal(tr.code, 'ECONNREFUSED');
    assert.equal(tr.port, port);
  }
  assert.equal(h.server.activeSessions, 0);
  // and again: the listener is alive
  const c2 = await connectTo(h.port);
  await peerClosed(c2);
  assert.equal((await h.nextRecord()).tries.length, 3);
});

test('retries 0 means one try', async (t) => {
  const h = await proxyTo(service({ id: 'dead', port: await freePort(), retries: 0 }));
  t.after(() => h.close());
  await peerClosed(await connectTo(h.port));
  assert.equal((await h.nextRecord()).tries.length, 1);
});

test('read_timeout: a silent upstream and an idle client are closed by the proxy', async (t) => {
  const echo = await startEcho();
  const h = await proxyTo(service({ id: 'e', port: echo.port, read_timeout: 200, write_timeout: 200 }));
  t.after(async () => {
    await h.close();
    await echo.close();
  });
  const c = await connectTo(h.port);
  const t0 = performance.now();
  await peerClosed(c);
  const elapsed = performance.now() - t0;
  assert.ok(elapsed >= 150 && elapsed < 2000, `closed after ${elapsed} ms`);
  const r = await h.nextRecord();
  assert.equal(r.session.closed_by, 'proxy');
  assert.equal(r.session.status, 200);
});

test('write_timeout shorter than read_timeout: idle waits for read_timeout, a stuck write for write_timeout', async (t) => {
  const echo = await startEcho();
  const never = await listenServer(createServer({ pauseOnConnect: true }, (s) => s.on('error', () => {})));
  const h1 = await proxyTo(service({ id: 'e', port: echo.port, read_timeout: 600, write_timeout: 100 }));
  const h2 = await proxyTo(service({ id: 'n', port: never.port, read_timeout: 10000, write_timeout: 150 }));
  t.after(async () => {
    await h1.close();
    await h2.close();
    await echo.close();
    await never.close();
  });

  const idle = await connectTo(h1.port);
  let t0 = performance.now();
  await peerClosed(idle);
  let elapsed = performance.now() - t0;
  assert.ok(elapsed >= 500, `idle connection closed after ${elapsed} ms, before read_timeout`);

  const stuck = await connectTo(h2.port);
  stuck.on('error', () => {});
  const chunk = Buffer.alloc(1024 * 1024);
  t0 = performance.now();
  const closing = peerClosed(stuck);
  // fill every buffer on the way to an upstream that never reads
  for (let i = 0; i < 64 && !stuck.destroyed; i++) {
    if (!stuck.write(chunk))
      await new Promise((resolve) => {
        stuck.once('drain', resolve);
        stuck.once('close', resolve);
      });
  }
  await closing;
  elapsed = performance.now() - t0;
  assert.ok(elapsed < 5000, `stuck write closed after ${elapsed} ms, expected about write_timeout`);
  assert.equal((await h2.nextRecord()).session.closed_by, 'proxy');
});

test('an upstream reset ends the pair cleanly', async (t) => {
  const rst = await listenServer(
    createServer((s) => {
      s.on('error', () => {});
      s.once('data', () => s.resetAndDestroy());
    }),
  );
  const h = await proxyTo(service({ id: 'rst', port: rst.port }));
  t.after(async () => {
    await h.close();
    await rst.close();
  });
  const c = await connectTo(h.port);
  c.write('boom');
  await peerClosed(c);
  const r = await h.nextRecord();
  assert.equal(r.session.closed_by, 'upstream');
  assert.equal(h.server.activeSessions, 0);
});

test('close() destroys open sessions', async () => {
  const echo = await startEcho();
  const h = await proxyTo(service({ id: 'e', port: echo.port }));
  const c = await connectTo(h.port);
  c.write('x');
  await once(c, 'data');
  assert.equal(h.server.activeSessions, 1);
  const gone = peerClosed(c);
  await h.close();
  await gone;
  assert.equal(h.server.activeSessions, 0);
  await echo.close();
});

test('a service named by host name is resolved (localhost)', async (t) => {
  const echo = await startEcho();
  const h = await proxyTo(service({ id: 'e', host: 'localhost', port: echo.port }));
  t.after(async () => {
    await h.close();
    await echo.close();
  });
  const c = await connectTo(h.port);
  c.end('ping');
  const chunks: Buffer[] = [];
  c.on('data', (d: Buffer) => chunks.push(d));
  await once(c, 'end');
  c.destroy();
  // localhost may resolve to ::1 first while the echo listens on 127.0.0.1: then retries fail with 502
  const r = await h.nextRecord();
  if (r.session.status === 200) assert.equal(Buffer.concat(chunks).toString(), 'ping');
  else assert.equal(r.session.status, 502);
  assert.ok(r.tries.length >= 1);
});
