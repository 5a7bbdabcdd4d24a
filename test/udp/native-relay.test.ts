// The native UDP relay (native/udp.c, src/udp/native.ts): built by `npm install` and used for every plain udp
// listener unless KONG_TS_PUMP=js. These tests hold on both paths (the suite's second pass runs test/udp with the
// TypeScript path); the first asserts which path this process uses, so a relay that failed to build fails here.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { test } from 'node:test';
import { udpRelayKind } from '../../src/udp/native.js';
import { closeSocket, sleep, startProxy, startUdpEcho, udpClient, udpSnapshot } from './helpers.js';

const NATIVE = process.env.KONG_TS_PUMP !== 'js';

test('the relay in use is the one asked for; 600 datagrams each way keep their order, sizes and counts', async (t) => {
  assert.equal(udpRelayKind, NATIVE ? 'native' : 'js', 'the native relay was not built or did not load');
  const echo = await startUdpEcho('127.0.0.1', 'E');
  const proxy = await startProxy(udpSnapshot(echo.host, echo.port));
  const c = await udpClient(proxy.port);
  t.after(() => Promise.all([echo.close(), proxy.close(), c.close()]));
  const sizes = Array.from({ length: 600 }, (_, i) => 1 + ((i * 37) % 1400));
  let bytes = 0;
  for (let i = 0; i < sizes.length; i++) {
    const payload = Buffer.alloc(sizes[i]!, i % 251);
    if (payload.length >= 2) payload.writeUInt16BE(i, 0);
    bytes += payload.length;
    c.send(payload);
    if (i % 50 === 49) await c.waitFor(i + 1); // in steps: loopback buffers never overflow
  }
  await c.waitFor(sizes.length);
  for (let i = 0; i < sizes.length; i++) {
    const got = c.received[i]!;
    assert.equal(got.length, sizes[i]! + 1, `reply ${i} has the tag and the datagram`);
    assert.equal(got[0], 'E'.charCodeAt(0));
    if (sizes[i]! >= 2) assert.equal(got.readUInt16BE(1), i, `reply ${i} in order`);
  }
  // one upstream socket for the whole session
  assert.equal(new Set(echo.seen.map((s) => s.from)).size, 1);
  const st = proxy.server.stats();
  assert.equal(st.datagramsIn, 600);
  assert.equal(st.datagramsOut, 600);
  assert.equal(st.dropped, 0);
  await proxy.close();
  const r = await proxy.nextRecord();
  assert.equal(r.session.closed_by, 'proxy');
  assert.equal(r.session.received, bytes);
  assert.equal(r.session.sent, bytes + 600);
  assert.equal(r.upstream.sent, bytes);
  assert.equal(r.upstream.received, bytes + 600);
  assert.equal(r.session.datagrams_received, 600);
  assert.equal(r.session.datagrams_sent, 600);
});

test('closing the server frees its port at once, with a session open (the relay lets go of the socket too)', async (t) => {
  const echo = await startUdpEcho();
  const proxy = await startProxy(udpSnapshot(echo.host, echo.port));
  const c = await udpClient(proxy.port);
  t.after(() => Promise.all([echo.close(), c.close()]));
  c.send('one');
  c.send('two');
  await c.waitFor(2);
  await proxy.close();
  assert.equal((await proxy.nextRecord()).session.received, 6);
  const again = createSocket('udp4');
  again.bind(proxy.port, '127.0.0.1');
  await once(again, 'listening'); // EADDRINUSE would be an 'error' event and fail the test
  const got = once(again, 'message');
  c.send('three');
  assert.equal(String((await got)[0]), 'three', 'the new socket gets what the proxy would have');
  await closeSocket(again);
});

test('an idle relayed session ends after read_timeout; a busy one outlives it', async (t) => {
  const echo = await startUdpEcho();
  const proxy = await startProxy(udpSnapshot(echo.host, echo.port, { service: { read_timeout: 300 } }));
  const idle = await udpClient(proxy.port);
  const busy = await udpClient(proxy.port);
  t.after(() => Promise.all([echo.close(), proxy.close(), idle.close(), busy.close()]));
  idle.send('x');
  busy.send('0');
  await Promise.all([idle.waitFor(1), busy.waitFor(1)]);
  for (let i = 1; i <= 8; i++) {
    await sleep(100);
    busy.send(String(i));
  }
  await busy.waitFor(9);
  const first = await proxy.nextRecord();
  assert.equal(first.client_port, idle.port, 'the idle session ended first');
  assert.equal(proxy.server.activeSessions, 1, 'the busy one is still open after 800 ms of 300 ms read_timeout');
});
