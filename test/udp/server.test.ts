import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { silentLogger } from '../../src/log.js';
import { UdpServer } from '../../src/udp/server.js';
import { listenSpec } from '../helpers/entities.js';
import {
  closeSocket,
  freeUdpPort,
  sleep,
  startProxy,
  startUdpEcho,
  udpClient,
  udpSnapshot,
  type UdpClient,
} from './helpers.js';

describe('udp proxy: datagrams', () => {
  test('keeps boundaries, order and payloads from 1 to 65,507 bytes', async (t) => {
    const echo = await startUdpEcho();
    const proxy = await startProxy(udpSnapshot(echo.host, echo.port));
    const c = await udpClient(proxy.port);
    t.after(() => Promise.all([echo.close(), proxy.close(), c.close()]));

    const sizes = [1, 1400, 9000, 65_507];
    for (const [i, n] of sizes.entries()) {
      const payload = randomBytes(n);
      c.send(payload);
      const got = await c.waitFor(i + 1);
      assert.equal(got[i]!.length, n, `datagram of ${n} bytes came back whole`);
      assert.ok(got[i]!.equals(payload), `payload of ${n} bytes intact`);
    }
    // bursts of numbered datagrams come back in the order sent
    const base = c.received.length;
    for (let burst = 0; burst < 6; burst++) {
      for (let j = 0; j < 50; j++) c.send(`seq-${burst * 50 + j}`);
      await c.waitFor(base + (burst + 1) * 50);
    }
    const seqs = c.received.slice(base).map((b) => b.toString());
    assert.deepEqual(
      seqs,
      Array.from({ length: 300 }, (_, i) => `seq-${i}`),
    );
    assert.equal(new Set(echo.seen.map((s) => s.from)).size, 1, 'one upstream socket for the session');
    assert.equal(proxy.server.activeSessions, 1);
    const st = proxy.server.stats();
    assert.equal(st.datagramsIn, 304);
    assert.equal(st.datagramsOut, 304);
  });

  test('50 clients at once each keep their own session', async (t) => {
    const echo = await startUdpEcho();
    const proxy = await startProxy(udpSnapshot(echo.host, echo.port));
    const clients: UdpClient[] = await Promise.all(Array.from({ length: 50 }, () => udpClient(proxy.port)));
    t.after(() => Promise.all([echo.close(), proxy.close(), ...clients.map((c) => c.close())]));

    for (let round = 0; round < 3; round++) clients.forEach((c, i) => c.send(`c${i}-r${round}`));
    await Promise.all(clients.map((c) => c.waitFor(3)));
    clients.forEach((c, i) => {
      assert.deepEqual(
        c.received.map(String),
        [`c${i}-r0`, `c${i}-r1`, `c${i}-r2`],
        `client ${i} got only its own replies`,
      );
    });
    assert.equal(new Set(echo.seen.map((s) => s.from)).size, 50, 'upstream sees 50 distinct source ports');
    assert.equal(proxy.server.activeSessions, 50);
    assert.equal(proxy.server.stats().sessionsTotal, 50);
  });

  test('an idle session ends after read_timeout with one record of its counts', async (t) => {
    const echo = await startUdpEcho();
    const snap = udpSnapshot(echo.host, echo.port, { service: { read_timeout: 200 } });
    const proxy = await startProxy(snap);
    const c = await udpClient(proxy.port);
    t.after(() => Promise.all([echo.close(), proxy.close(), c.close()]));

    for (const n of [10, 20, 30]) c.send(Buffer.alloc(n, 1));
    await c.waitFor(3);
    const lastActivity = performance.now();
    const r = await proxy.nextRecord();
    const idle = performance.now() - lastActivity;
    assert.ok(idle >= 180, `ended after ${idle.toFixed(0)} ms idle, not before 200 ms`);
    assert.ok(idle < 1500, `ended after ${idle.toFixed(0)} ms idle`);
    assert.equal(r.protocol, 'udp');
    assert.equal(r.session.status, 200);
    assert.equal(r.session.received, 60);
    assert.equal(r.session.sent, 60);
    assert.equal(r.session.datagrams_received, 3);
    assert.equal(r.session.datagrams_sent, 3);
    assert.deepEqual(r.upstream, { received: 60, sent: 60 });
    assert.equal(r.session.server_port, proxy.port);
    assert.equal(r.client_ip, '127.0.0.1');
    assert.equal(r.client_port, c.port);
    assert.equal(r.route?.name, 'udp-route');
    assert.equal(r.tries.length, 1);
    assert.equal(r.tries[0]!.port, echo.port);
    assert.equal(proxy.server.activeSessions, 0);
    assert.equal(proxy.records.length, 1, 'exactly one record');
  });

  test('traffic keeps a session alive past read_timeout', async (t) => {
    const echo = await startUdpEcho();
    const proxy = await startProxy(udpSnapshot(echo.host, echo.port, { service: { read_timeout: 150 } }));
    const c = await udpClient(proxy.port);
    t.after(() => Promise.all([echo.close(), proxy.close(), c.close()]));
    for (let i = 0; i < 8; i++) {
      c.send(`ping-${i}`);
      await c.waitFor(i + 1);
      await sleep(50);
    }
    assert.equal(proxy.records.length, 0, 'no record while the client keeps talking (400 ms > 150 ms)');
    assert.equal(new Set(echo.seen.map((s) => s.from)).size, 1, 'one session all along');
    const r = await proxy.nextRecord();
    assert.equal(r.session.datagrams_received, 8);
  });
});

describe('udp proxy: configuration', () => {
  test('swap: an existing session stays on backend A, a new client goes to B', async (t) => {
    const a = await startUdpEcho('127.0.0.1', 'A:');
    const b = await startUdpEcho('127.0.0.1', 'B:');
    const proxy = await startProxy(udpSnapshot(a.host, a.port));
    const c1 = await udpClient(proxy.port);
    const c2 = await udpClient(proxy.port);
    t.after(() => Promise.all([a.close(), b.close(), proxy.close(), c1.close(), c2.close()]));

    c1.send('one');
    await c1.waitFor(1);
    proxy.server.swap(udpSnapshot(b.host, b.port));
    c1.send('two');
    c2.send('three');
    await Promise.all([c1.waitFor(2), c2.waitFor(1)]);
    assert.deepEqual(c1.received.map(String), ['A:one', 'A:two']);
    assert.deepEqual(c2.received.map(String), ['B:three']);
  });

  test('no route: the datagram is dropped and counted, later traffic still works', async (t) => {
    const echo = await startUdpEcho();
    const noMatch = udpSnapshot(echo.host, echo.port, { route: { sources: [{ ip: '10.0.0.0/8' }] } });
    const proxy = await startProxy(noMatch);
    const c = await udpClient(proxy.port);
    t.after(() => Promise.all([echo.close(), proxy.close(), c.close()]));

    c.send('lost');
    const r = await proxy.nextRecord();
    assert.equal(r.session.status, 500);
    assert.equal(r.session.datagrams_received, 1);
    await sleep(50);
    assert.equal(c.received.length, 0);
    assert.equal(echo.seen.length, 0);
    assert.deepEqual(
      [proxy.server.stats().dropped, proxy.server.stats().noRoute, proxy.server.activeSessions],
      [1, 1, 0],
    );

    proxy.server.swap(udpSnapshot(echo.host, echo.port));
    c.send('found');
    await c.waitFor(1);
    assert.equal(c.received[0]!.toString(), 'found');
  });

  test('datagrams before any configuration are dropped and counted', async (t) => {
    const proxy = await startProxy(undefined);
    const c = await udpClient(proxy.port);
    t.after(() => Promise.all([proxy.close(), c.close()]));
    c.send('early');
    for (let i = 0; i < 50 && proxy.server.stats().dropped === 0; i++) await sleep(10);
    assert.equal(proxy.server.stats().dropped, 1);
    assert.equal(proxy.server.activeSessions, 0);
  });

  test('an upstream that refuses (ICMP port unreachable) ends the session with 502', async (t) => {
    const dead = await freeUdpPort();
    const proxy = await startProxy(udpSnapshot('127.0.0.1', dead));
    const c = await udpClient(proxy.port);
    t.after(() => Promise.all([proxy.close(), c.close()]));
    c.send('anyone?');
    await sleep(30);
    c.send('hello?');
    const r = await proxy.nextRecord();
    assert.equal(r.session.status, 502);
    assert.equal(r.session.closed_by, 'upstream');
    assert.equal(r.tries[0]!.state, 'failed');
    assert.equal(r.tries[0]!.code, 'ECONNREFUSED');
  });

  test('pickPeer chooses the upstream; null means no healthy target (503)', async (t) => {
    const echo = await startUdpEcho('127.0.0.1', 'P:');
    let peer: { ip: string; port: number } | null = { ip: echo.host, port: echo.port };
    const seenIps: string[] = [];
    // the service itself points nowhere useful: only the hook can make this work
    const proxy = await startProxy(udpSnapshot('upstream-name.invalid', 9), '127.0.0.1', {
      pickPeer: (_svc, ip) => {
        seenIps.push(ip);
        return peer;
      },
    });
    const c1 = await udpClient(proxy.port);
    const c2 = await udpClient(proxy.port);
    t.after(() => Promise.all([echo.close(), proxy.close(), c1.close(), c2.close()]));
    c1.send('x');
    await c1.waitFor(1);
    assert.equal(c1.received[0]!.toString(), 'P:x');
    assert.deepEqual(seenIps, ['127.0.0.1']);
    peer = null;
    c2.send('y');
    const r = await proxy.nextRecord();
    assert.equal(r.session.status, 503);
    assert.equal(r.client_port, c2.port);
  });

  test('a service host name is resolved once per session', async (t) => {
    const { lookup } = await import('node:dns/promises');
    const local = await lookup('localhost');
    const echo = await startUdpEcho(local.address);
    const proxy = await startProxy(udpSnapshot('localhost', echo.port));
    const c = await udpClient(proxy.port);
    t.after(() => Promise.all([echo.close(), proxy.close(), c.close()]));
    for (let i = 0; i < 5; i++) c.send(`n${i}`); // sent before the name resolves: queued in order
    await c.waitFor(5);
    assert.deepEqual(c.received.map(String), ['n0', 'n1', 'n2', 'n3', 'n4']);
  });
});

describe('udp proxy: limits', () => {
  test('the session cap evicts the least recently active session', async (t) => {
    const echo = await startUdpEcho();
    const proxy = await startProxy(udpSnapshot(echo.host, echo.port), '127.0.0.1', {
      maxSessions: 3,
      maxSessionsPerSource: 10,
    });
    const cs = await Promise.all([0, 1, 2, 3].map(() => udpClient(proxy.port)));
    t.after(() => Promise.all([echo.close(), proxy.close(), ...cs.map((c) => c.close())]));
    const [c1, c2, c3, c4] = cs as [UdpClient, UdpClient, UdpClient, UdpClient];

    for (const c of [c1, c2, c3]) {
      c.send('hi');
      await c.waitFor(1);
    }
    c1.send('again'); // c2 is now the least recently active
    await c1.waitFor(2);
    c4.send('new');
    await c4.waitFor(1);
    const r = await proxy.nextRecord();
    assert.equal(r.client_port, c2.port);
    assert.equal(r.session.closed_by, 'evicted');
    assert.equal(proxy.server.stats().evicted, 1);
    assert.equal(proxy.server.activeSessions, 3);
    // c1 keeps its upstream socket
    c1.send('still');
    await c1.waitFor(3);
    // echo saw: c1 hi, c2 hi, c3 hi, c1 again, c4 new, c1 still
    assert.deepEqual(
      echo.seen.map((s) => s.data.toString()),
      ['hi', 'hi', 'hi', 'again', 'new', 'still'],
    );
    assert.equal(echo.seen[3]!.from, echo.seen[0]!.from);
    assert.equal(echo.seen[5]!.from, echo.seen[0]!.from);
  });

  test('one source flooding from many ports only evicts its own sessions', async (t) => {
    const echo = await startUdpEcho();
    const proxy = await startProxy(udpSnapshot(echo.host, echo.port), '127.0.0.1', {
      maxSessions: 100,
      maxSessionsPerSource: 2,
    });
    const other = await udpClient(proxy.port, '127.0.0.1', '127.0.0.2');
    const flood = await Promise.all(Array.from({ length: 6 }, () => udpClient(proxy.port)));
    t.after(() => Promise.all([echo.close(), proxy.close(), other.close(), ...flood.map((c) => c.close())]));
    other.send('me');
    await other.waitFor(1);
    for (const c of flood) {
      c.send('flood');
      await c.waitFor(1);
    }
    assert.equal(proxy.server.activeSessions, 3);
    assert.equal(proxy.server.stats().evicted, 4);
    assert.ok(!proxy.records.some((r) => r.client_ip === '127.0.0.2'), 'the other source kept its session');
    other.send('still here');
    await other.waitFor(2);
  });

  test('IPv6: listener, client and upstream on ::1', async (t) => {
    const echo = await startUdpEcho('::1');
    const proxy = await startProxy(udpSnapshot('::1', echo.port), '::1');
    const c = await udpClient(proxy.port, '::1');
    t.after(() => Promise.all([echo.close(), proxy.close(), c.close()]));
    const big = randomBytes(9000);
    c.send('v6');
    c.send(big);
    await c.waitFor(2);
    assert.equal(c.received[0]!.toString(), 'v6');
    assert.ok(c.received[1]!.equals(big));
    assert.equal(proxy.server.addresses()[0]!.host, '::1');
    await proxy.close();
    const r = await proxy.nextRecord();
    assert.equal(r.client_ip, '::1');
    assert.equal(r.session.datagrams_sent, 2);
  });

  test('listen() rejects with the address when the port is taken; other specs are ignored', async (t) => {
    const taken = createSocket('udp4');
    taken.bind(0, '127.0.0.1');
    await once(taken, 'listening');
    t.after(() => closeSocket(taken));
    const port = taken.address().port;
    const srv = new UdpServer({
      listeners: [
        listenSpec('127.0.0.1', port),
        listenSpec('127.0.0.1', port, { udp: true, text: `127.0.0.1:${port} udp` }),
      ],
      logger: silentLogger,
    });
    await assert.rejects(srv.listen(), (err: Error) => {
      assert.match(err.message, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}.*address already in use`));
      return true;
    });
    assert.deepEqual(srv.addresses(), []);
    await srv.close();
  });
});
