// Native accept (src/proxy/native-accept.ts): on plain listeners the pump adopts the accepted descriptor and
// connects the upstream itself, with no net.Socket on either side. These tests hold on both paths (the suite's
// second pass runs them with KONG_TS_PUMP=js, where Node's sockets serve); where they say which path served, they
// check the one this process uses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { connectTo, listenServer, peerClosed, readAll, startEcho } from '../helpers/sockets.js';
import { listenSpec, route, service } from '../helpers/entities.js';
import { silentLogger } from '../../src/log.js';
import { addressesOf, adoptedCount } from '../../src/proxy/native-pump.js';
import type { SessionRecord } from '../../src/proxy/record.js';
import { StreamServer } from '../../src/proxy/stream-server.js';
import { snapshot, startProxy } from './harness.js';

const NATIVE = process.env.KONG_TS_PUMP !== 'js';

test('a plain client is adopted without a socket: its addresses, bytes and try are in the record', async (t) => {
  const echo = await startEcho();
  const h = await startProxy({
    services: [service({ id: 'up', port: echo.port })],
    routes: [route({ id: 'r', service: 'up', sources: [{ ip: '127.0.0.1' }] })],
  });
  t.after(async () => {
    await h.close();
    await echo.close();
  });
  const before = adoptedCount();
  const c = await connectTo(h.port);
  c.write('hello');
  assert.equal(String((await once(c, 'data'))[0]), 'hello');
  assert.equal(adoptedCount() - before, NATIVE ? 1 : 0, 'which path took the connection');
  const local = c.address() as AddressInfo;
  c.end();
  await readAll(c);
  const r = await h.nextRecord();
  assert.equal(r.client_ip, '127.0.0.1');
  assert.equal(r.client_port, local.port);
  assert.equal(r.session.server_port, h.port);
  assert.equal(r.server_ip, '127.0.0.1');
  assert.equal(r.session.status, 200);
  assert.equal(r.session.received, 5);
  assert.equal(r.session.sent, 5);
  assert.equal(r.tries.length, 1);
  assert.equal(r.tries[0]!.port, echo.port);
  assert.equal(r.tries[0]!.state, undefined);
});

test('a refused upstream is retried as often as the service says, then 502 with every try, and serving goes on', async (t) => {
  const gone = await listenServer(createServer());
  const deadPort = gone.port;
  await gone.close();
  const h = await startProxy({
    services: [service({ id: 'up', port: deadPort, retries: 2 })],
    routes: [route({ id: 'r', service: 'up', sources: [{ ip: '127.0.0.1' }] })],
  });
  t.after(() => h.close());
  for (let i = 0; i < 2; i++) {
    const c = await connectTo(h.port);
    c.on('error', () => {});
    c.write('x');
    await peerClosed(c);
    const r = await h.nextRecord();
    assert.equal(r.session.status, 502);
    assert.equal(r.session.closed_by, 'proxy');
    assert.equal(r.tries.length, 3, JSON.stringify(r.tries));
    for (const x of r.tries) {
      assert.equal(x.state, 'failed');
      assert.equal(x.code, 'ECONNREFUSED');
      assert.equal(x.port, deadPort);
    }
  }
});

test('IPv6 on both sides: addresses as Node writes them', async (t) => {
  let echo;
  try {
    echo = await startEcho('::1');
  } catch {
    t.skip('no IPv6 loopback here');
    return;
  }
  const h = await startProxy({
    services: [service({ id: 'up', host: '::1', port: echo.port })],
    routes: [route({ id: 'r', service: 'up', sources: [{ ip: '::1' }] })],
    listeners: [listenSpec('::1')],
  });
  t.after(async () => {
    await h.close();
    await echo.close();
  });
  const c = await connectTo(h.port, '::1');
  c.end('six');
  assert.equal(String(await readAll(c)), 'six');
  const r = await h.nextRecord();
  assert.equal(r.client_ip, '::1');
  assert.equal(r.server_ip, '::1');
  assert.equal(r.tries[0]!.ip, '::1');
});

test('over the descriptor budget a new connection is refused with 503 and the open one keeps working', async (t) => {
  const echo = await startEcho();
  const records: SessionRecord[] = [];
  const server = new StreamServer({
    listeners: [listenSpec()],
    logger: silentLogger,
    fdConnections: 1,
    onSessionEnd: (r) => records.push(r),
  });
  server.swap(
    snapshot(
      [service({ id: 'up', port: echo.port })],
      [route({ id: 'r', service: 'up', sources: [{ ip: '127.0.0.1' }] })],
    ),
  );
  await server.listen();
  t.after(async () => {
    await server.close();
    await echo.close();
  });
  const port = server.addresses()[0]!.port;
  const held = await connectTo(port);
  held.write('a');
  await once(held, 'data');
  const c = await connectTo(port);
  c.on('error', () => {});
  await peerClosed(c);
  assert.equal(records.length, 1);
  assert.equal(records[0]!.session.status, 503);
  held.write('b');
  assert.equal(String((await once(held, 'data'))[0]), 'b');
  held.end();
  await readAll(held);
});

test(
  'an accepted socket gives both its addresses, or only its peer when the listener says it knows its own',
  {
    skip: !NATIVE && 'the addon reads the addresses (native path)',
  },
  async (t) => {
    const accepted: Socket[] = [];
    const srv = await listenServer(createServer({ pauseOnConnect: true }, (s) => accepted.push(s)));
    const port = srv.port;
    const c = await connectTo(port);
    t.after(async () => {
      c.destroy();
      await srv.close();
    });
    while (accepted.length === 0) await new Promise((r) => setImmediate(r));
    const fd = (accepted[0] as unknown as { _handle: { fd: number } })._handle.fd;
    const mine = c.address() as AddressInfo;
    const out: [string, number, string, number] = ['', 0, '', 0];
    assert.equal(addressesOf(fd, out), true);
    assert.deepEqual(out, ['127.0.0.1', mine.port, '127.0.0.1', port]);
    const known: [string, number, string, number] = ['', 0, 'kept', 7];
    assert.equal(addressesOf(fd, known, true), true);
    assert.deepEqual(known, ['127.0.0.1', mine.port, 'kept', 7], 'peerOnly leaves the local address to the caller');
    assert.equal(addressesOf(-1, ['', 0, '', 0]), false, 'a bad descriptor is an error, not a throw');
  },
);
