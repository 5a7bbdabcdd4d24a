import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { encodeProxyV2 } from '../../src/proxy-protocol/encode.js';
import { readProxyHeader, type ReadResult } from '../../src/proxy-protocol/read.js';

const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

/** A paused-accept server (as the stream listeners) that reads a header and reports the result and the socket. */
async function reader(opts: { timeoutMs: number; maxBytes?: number }) {
  const results: { r: ReadResult; s: Socket; ms: number }[] = [];
  const srv = createServer({ pauseOnConnect: true }, (s) => {
    s.on('error', () => {});
    const t0 = Date.now();
    void readProxyHeader(s, opts).then((r) => results.push({ r, s, ms: Date.now() - t0 }));
  });
  servers.push(srv);
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  const next = async (n: number) => {
    const t0 = Date.now();
    while (results.length < n && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 5));
    return results[n - 1]!;
  };
  return { port, next };
}

async function client(port: number): Promise<Socket> {
  const c = connect(port, '127.0.0.1');
  c.on('error', () => {});
  await once(c, 'connect');
  return c;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a header split over several writes, with stream bytes after it', async (t) => {
  const { port, next } = await reader({ timeoutMs: 2000 });
  const c = await client(port);
  t.after(() => c.destroy());
  const h = encodeProxyV2({ ip: '198.51.100.9', port: 1234 }, { ip: '10.0.0.1', port: 443 }, { authority: 'x.test' });
  c.write(h.subarray(0, 5));
  await wait(20);
  c.write(h.subarray(5, 20));
  await wait(20);
  c.write(Buffer.concat([h.subarray(20), Buffer.from('first bytes')]));
  const { r, s } = await next(1);
  assert.equal(r.error, undefined);
  assert.deepEqual(r.header!.source, { ip: '198.51.100.9', port: 1234 });
  assert.equal(r.header!.authority, 'x.test');
  assert.equal(r.rest.toString(), 'first bytes');
  assert.equal(s.isPaused(), true, 'left paused for the data path');
  assert.equal(s.listenerCount('data'), 0, 'no listener of the reader is left behind');
  // the stream continues where the header ended: put the rest back and read on
  s.unshift(r.rest);
  c.write(' and more');
  let got = '';
  s.on('data', (d) => (got += String(d)));
  s.resume();
  while (!got.endsWith('more')) await wait(5);
  assert.equal(got, 'first bytes and more');
});

test('garbage is refused at once, with what was read', async (t) => {
  const { port, next } = await reader({ timeoutMs: 2000 });
  const c = await client(port);
  t.after(() => c.destroy());
  c.write('GET / HTTP/1.1\r\n\r\n');
  const { r, ms } = await next(1);
  assert.match(r.error!, /not a PROXY/);
  assert.equal(r.rest.toString().startsWith('GET'), true);
  assert.ok(ms < 1000);
});

test('slow drip (1 byte per 100 ms) is cut by the overall timeout, not reset by each byte', async (t) => {
  const { port, next } = await reader({ timeoutMs: 300 });
  const c = await client(port);
  t.after(() => c.destroy());
  const line = Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n');
  let i = 0;
  const drip = setInterval(() => {
    if (i < line.length && !c.destroyed) c.write(line.subarray(i, ++i));
  }, 100);
  t.after(() => clearInterval(drip));
  const { r, ms } = await next(1);
  assert.match(r.error!, /timeout/);
  assert.ok(ms >= 280 && ms < 1000, `timed out after ${ms} ms`);
  assert.ok(r.rest.length >= 1 && r.rest.length < line.length);
});

test('oversized and endless headers stop at maxBytes', async (t) => {
  const { port, next } = await reader({ timeoutMs: 2000, maxBytes: 64 });
  const c1 = await client(port);
  t.after(() => c1.destroy());
  const big = encodeProxyV2({ ip: '1.2.3.4', port: 1 }, { ip: '5.6.7.8', port: 2 }, { authority: 'a'.repeat(200) });
  c1.write(big);
  assert.match((await next(1)).r.error!, /more than the 48 allowed/);
  // a v1 line that never ends
  const { port: p2, next: next2 } = await reader({ timeoutMs: 2000 });
  const c2 = await client(p2);
  t.after(() => c2.destroy());
  c2.write('PROXY ' + 'x'.repeat(50));
  await wait(20);
  c2.write('y'.repeat(100));
  assert.match((await next2(1)).r.error!, /107/);
});

test('truncated: the peer closes (or resets) before the end of the header', async () => {
  const { port, next } = await reader({ timeoutMs: 2000 });
  const c = await client(port);
  c.end('PROXY TCP4 1.2.3.4');
  assert.match((await next(1)).r.error!, /closed before/);
  const c2 = await client(port);
  c2.write('PROXY TCP4');
  await wait(20);
  c2.resetAndDestroy();
  assert.match((await next(2)).r.error!, /before the PROXY header/);
});
