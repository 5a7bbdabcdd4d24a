import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { connectTo, listenServer, peerClosed, readAll, type TestServer } from '../helpers/sockets.js';
import { listenSpec, route, service } from '../helpers/entities.js';
import { snapshot, startProxy, type Harness } from './harness.js';

// Each upstream answers with its own name, so a reply tells which service the proxy chose.
async function named(name: string, host = '127.0.0.1'): Promise<TestServer> {
  return listenServer(
    createServer((s) => {
      s.on('error', () => {});
      s.end(name);
    }),
    host,
  );
}

const ups: Record<string, TestServer> = {};
let proxy: Harness;
let proxy6: Harness | undefined;

before(async () => {
  for (const n of ['byport', 'byip2', 'byip3', 'bysrc', 'v6']) ups[n] = await named(n);
  const services = Object.entries(ups).map(([n, u]) => service({ id: n, name: n, port: u.port }));
  proxy = await startProxy({
    services,
    listeners: [listenSpec('127.0.0.1'), listenSpec('127.0.0.1'), listenSpec('127.0.0.2'), listenSpec('127.0.0.3')],
    routes: [],
  });
  const [p0, p1, , p3] = proxy.ports as [number, number, number, number];
  // the routes need the listeners' ports: swap in the real configuration now
  proxy.server.swap(
    snapshot(services, [
      route({ id: 'r-port', service: 'byport', destinations: [{ port: p1 }] }),
      route({ id: 'r-ip2', service: 'byip2', destinations: [{ ip: '127.0.0.2' }] }),
      route({ id: 'r-ip3', service: 'byip3', destinations: [{ ip: '127.0.0.3', port: p3 }] }),
      route({ id: 'r-src', service: 'bysrc', sources: [{ ip: '127.0.0.5' }], destinations: [{ port: p0 }] }),
    ]),
  );
  proxy6 = await startProxy({
    services,
    listeners: [listenSpec('::1')],
    routes: [route({ id: 'r-v6', service: 'v6', sources: [{ ip: '::1/128' }] })],
  });
});

after(async () => {
  await proxy?.close();
  await proxy6?.close();
  for (const u of Object.values(ups)) await u.close();
});

async function ask(port: number, host = '127.0.0.1', localAddress?: string): Promise<string> {
  const c = await connectTo(port, host, localAddress);
  c.end();
  return (await readAll(c)).toString();
}

test('routes by destination port', async () => {
  assert.equal(await ask(proxy.ports[1]!), 'byport');
});

test('routes by destination ip (listeners on 127.0.0.2 and 127.0.0.3)', async () => {
  assert.equal(await ask(proxy.ports[2]!, '127.0.0.2'), 'byip2');
  assert.equal(await ask(proxy.ports[3]!, '127.0.0.3'), 'byip3');
});

test('routes by source ip', async () => {
  assert.equal(await ask(proxy.ports[0]!, '127.0.0.1', '127.0.0.5'), 'bysrc');
});

test('routes IPv6 ::1', async () => {
  assert.equal(await ask(proxy6!.port, '::1'), 'v6');
  const r = await proxy6!.nextRecord();
  assert.equal(r.client_ip, '::1');
  assert.equal(r.service?.id, 'v6');
});

test('no route: closed, record with status 500, listener keeps serving', async () => {
  proxy.records.length = 0;
  const c = await connectTo(proxy.ports[0]!, '127.0.0.1', '127.0.0.6');
  await peerClosed(c);
  const r = await proxy.nextRecord();
  assert.equal(r.session.status, 500);
  assert.equal(r.client_ip, '127.0.0.6');
  assert.equal(r.route, undefined);
  assert.equal(await ask(proxy.ports[1]!), 'byport');
});

test('route without a service: closed with 500', async () => {
  const h = await startProxy({ services: [], routes: [route({ id: 'lonely', destinations: [{ port: 1 }] })] });
  try {
    h.server.swap(snapshot([], [route({ id: 'lonely', destinations: [{ port: h.port }] })]));
    const c = await connectTo(h.port);
    await peerClosed(c);
    const r = await h.nextRecord();
    assert.equal(r.session.status, 500);
    assert.equal(r.route?.id, 'lonely');
  } finally {
    await h.close();
  }
});
