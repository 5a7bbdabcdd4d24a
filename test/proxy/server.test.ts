import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/log.js';
import { AccessLog, formatBasic, formatTimeLocal } from '../../src/proxy/access-log.js';
import type { SessionRecord } from '../../src/proxy/record.js';
import { StreamServer } from '../../src/proxy/stream-server.js';
import { connectTo, listenServer, peerClosed, readAll, type TestServer } from '../helpers/sockets.js';
import { listenSpec, route, service } from '../helpers/entities.js';
import { snapshot, startProxy } from './harness.js';

/** Says its name on connect, then echoes. */
function named(name: string): Promise<TestServer> {
  return listenServer(
    createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => {});
      s.write(name + ':');
      s.pipe(s);
    }),
  );
}

test('swap(): open connections keep their service, new ones take the new snapshot', async (t) => {
  const a = await named('A');
  const b = await named('B');
  const services = [service({ id: 'a', port: a.port }), service({ id: 'b', port: b.port })];
  const h = await startProxy({
    services,
    routes: [route({ id: 'r', service: 'a', sources: [{ ip: '127.0.0.0/8' }] })],
  });
  t.after(async () => {
    await h.close();
    await a.close();
    await b.close();
  });
  const c1 = await connectTo(h.port);
  await once(c1, 'data');
  h.server.swap(snapshot(services, [route({ id: 'r', service: 'b', sources: [{ ip: '127.0.0.0/8' }] })]));
  assert.equal(h.server.current?.router.routes[0]?.service?.id, 'b');
  const c2 = await connectTo(h.port);
  const got2 = readAll(c2);
  c2.end('two');
  assert.equal((await got2).toString(), 'B:two');
  const got1 = readAll(c1);
  c1.end('one');
  assert.equal((await got1).toString(), 'one');
  c1.destroy();
  c2.destroy();
  const recs = [await h.nextRecord(), await h.nextRecord()].sort((x, y) => x.started_at - y.started_at);
  assert.deepEqual(recs.map((r) => r.service?.id).sort(), ['a', 'b']);
});

test('no snapshot yet: connections are closed', async (t) => {
  const s = new StreamServer({ listeners: [listenSpec()], logger: silentLogger });
  await s.listen();
  t.after(() => s.close());
  await peerClosed(await connectTo(s.addresses()[0]!.port));
  assert.equal(s.activeSessions, 0);
});

test('listen errors name the address; unsupported flags are refused', async () => {
  const busy = await listenServer(createServer());
  try {
    const s = new StreamServer({
      listeners: [listenSpec('127.0.0.1', 0), listenSpec('127.0.0.1', busy.port)],
      logger: silentLogger,
    });
    await assert.rejects(s.listen(), (e: Error) => {
      assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${busy.port}.*already in use`));
      return true;
    });
    assert.deepEqual(s.addresses(), []); // the first listener was closed again
  } finally {
    await busy.close();
  }
  const far = new StreamServer({ listeners: [listenSpec('192.0.2.1', 0)], logger: silentLogger });
  await assert.rejects(far.listen(), /192\.0\.2\.1:0.*not available/);
  // udp listeners belong to the UdpServer: the TCP server refuses them
  const spec = listenSpec('127.0.0.1', 0, { udp: true, text: '127.0.0.1:0 udp' });
  const s = new StreamServer({ listeners: [spec], logger: silentLogger });
  await assert.rejects(s.listen(), {
    message: "stream_listen '127.0.0.1:0 udp': the 'udp' flag on a TCP server is not yet supported",
  });
});

test('listen flags: backlog, reuseport, so_keepalive, ipv6only are accepted', async (t) => {
  const s = new StreamServer({
    listeners: [
      listenSpec('::1', 0, { backlog: 16, reuseport: true, ipv6only: true, soKeepalive: { enabled: true, idle: 30 } }),
    ],
    logger: silentLogger,
  });
  await s.listen();
  t.after(() => s.close());
  assert.equal(s.addresses()[0]!.host, '::1');
  assert.ok(s.addresses()[0]!.port > 0);
});

test('access log: exact basic format, one line per session', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kts-alog-'));
  const file = join(dir, 'logs', 'access.log');
  const log = AccessLog.open(file, silentLogger)!;
  const up = await named('U');
  const services = [service({ id: 'u', port: up.port })];
  const h = await startProxy({ services, routes: [], accessLog: log, record: false });
  t.after(async () => {
    await h.close();
    await up.close();
    rmSync(dir, { recursive: true, force: true });
  });
  h.server.swap(snapshot(services, [route({ id: 'r', service: 'u', sources: [{ ip: '127.0.0.1' }] })]));
  const c = await connectTo(h.port);
  const got = readAll(c);
  c.end('hello');
  assert.equal((await got).toString(), 'U:hello');
  c.destroy();
  await peerClosed(await connectTo(h.port, '127.0.0.1', '127.0.0.9')); // no route
  while (h.server.activeSessions > 0) await new Promise((r) => setTimeout(r, 5));
  await h.close();
  await log.close();
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean).sort();
  assert.equal(lines.length, 2);
  const time = String.raw`\[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\]`;
  assert.match(lines[0]!, new RegExp(String.raw`^127\.0\.0\.1 ${time} TCP 200 7 5 \d+\.\d{3}$`));
  assert.match(lines[1]!, new RegExp(String.raw`^127\.0\.0\.9 ${time} TCP 500 0 0 \d+\.\d{3}$`));
  assert.equal(AccessLog.open('off', silentLogger), undefined);
});

test('formatBasic and formatTimeLocal', () => {
  const r = {
    client_ip: '10.1.2.3',
    protocol: 'tcp',
    latencies: { kong: 1, session: 1234 },
    session: { status: 502, sent: 0, received: 17, server_port: 1 },
  } as unknown as SessionRecord;
  assert.equal(
    formatBasic(r, '26/Nov/2026:08:12:57 +0000'),
    '10.1.2.3 [26/Nov/2026:08:12:57 +0000] TCP 502 0 17 1.234\n',
  );
  const ms = Date.UTC(2026, 10, 26, 8, 12, 57);
  const s = formatTimeLocal(ms);
  assert.match(s, /^\d{2}\/[A-Z][a-z]{2}\/2026:\d{2}:\d{2}:57 [+-]\d{4}$/);
  if (new Date(ms).getTimezoneOffset() === 0) assert.equal(s, '26/Nov/2026:08:12:57 +0000');
});
