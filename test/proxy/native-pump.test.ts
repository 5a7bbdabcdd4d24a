// The native byte pump (native/pump.c, src/proxy/native-pump.ts): built by `npm install` and used for every plain
// session unless KONG_TS_PUMP=js. These tests hold on both paths (the suite's second pass runs them with the
// TypeScript pipe); the first asserts which path this process uses, so a pump that failed to build fails here.
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { connectTo, listenServer, peerClosed, readAll, startEcho } from '../helpers/sockets.js';
import { route, service } from '../helpers/entities.js';
import { pumpedCount, pumpKind } from '../../src/proxy/native-pump.js';
import { startProxy } from './harness.js';

const NATIVE = process.env.KONG_TS_PUMP !== 'js';

function toPort(port: number, extra: Record<string, unknown> = {}) {
  return startProxy({
    services: [service({ id: 'up', port, ...extra })],
    routes: [route({ id: 'r', service: 'up', sources: [{ ip: '127.0.0.1' }] })],
  });
}

test('the pump in use is the one asked for, and it holds a plain session while it is open', async (t) => {
  assert.equal(pumpKind, NATIVE ? 'native' : 'js', 'the native pump was not built or did not load');
  const echo = await startEcho();
  const h = await toPort(echo.port);
  t.after(async () => {
    await h.close();
    await echo.close();
  });
  const c = await connectTo(h.port);
  c.write('ping');
  assert.equal(String((await once(c, 'data'))[0]), 'ping');
  assert.equal(pumpedCount(), NATIVE ? 1 : 0);
  // the pump's duplicates are close-on-exec: a child process (a plugin's, a worker) never holds a session open
  const fds = execFileSync('sh', ['-c', 'ls -l /proc/$$/fd'], { encoding: 'utf8' });
  const inherited = [...fds.matchAll(/ (\d+) -> socket:/g)].filter((m) => Number(m[1]) > 2); // past stdin/out/err
  assert.equal(inherited.length, 0, `a child inherited sockets:\n${fds}`);
  c.end();
  await readAll(c);
  const r = await h.nextRecord();
  assert.equal(r.session.received, 4);
  assert.equal(r.session.sent, 4);
  assert.deepEqual(r.upstream, { received: 4, sent: 4 });
  assert.equal(pumpedCount(), 0);
});

test('half-close both ways: the client ends, the upstream answers after that, then ends', async (t) => {
  const up = await listenServer(
    createServer({ allowHalfOpen: true }, (s) => {
      const got: Buffer[] = [];
      s.on('data', (d: Buffer) => got.push(d));
      s.on('end', () => {
        // answers only once the client's FIN arrived: the proxy must keep the way back open
        setTimeout(() => s.end(`got ${Buffer.concat(got).length} bytes`), 50);
      });
    }),
  );
  const h = await toPort(up.port);
  t.after(async () => {
    await h.close();
    await up.close();
  });
  const c = await connectTo(h.port);
  c.end('abcdefgh');
  const answer = String(await readAll(c));
  assert.equal(answer, 'got 8 bytes');
  const r = await h.nextRecord();
  assert.equal(r.session.closed_by, 'client');
  assert.equal(r.session.received, 8);
  assert.equal(r.session.sent, answer.length);
  assert.deepEqual(r.upstream, { received: answer.length, sent: 8 });
});

test('a slow reader gets every byte (backpressure), in order', async (t) => {
  const body = randomBytes(24 * 1024 * 1024);
  const up = await listenServer(createServer((s) => s.end(body)));
  const h = await toPort(up.port);
  t.after(async () => {
    await h.close();
    await up.close();
  });
  const c = await connectTo(h.port);
  c.pause();
  await new Promise((r) => setTimeout(r, 300)); // every buffer on the way fills
  const hash = createHash('sha256');
  let n = 0;
  c.on('data', (d: Buffer) => {
    hash.update(d);
    n += d.length;
  });
  c.resume();
  await once(c, 'end');
  c.end();
  assert.equal(n, body.length);
  assert.equal(hash.digest('hex'), createHash('sha256').update(body).digest('hex'));
  const r = await h.nextRecord();
  assert.equal(r.session.sent, body.length);
  assert.equal(r.session.closed_by, 'upstream');
});

test('an upstream reset closes the client, and the record says upstream', async (t) => {
  const up = await listenServer(
    createServer((s) => {
      s.on('error', () => {});
      s.once('data', () => s.resetAndDestroy());
    }),
  );
  const h = await toPort(up.port);
  t.after(async () => {
    await h.close();
    await up.close();
  });
  const c = await connectTo(h.port);
  c.on('error', () => {});
  c.write('hello');
  await peerClosed(c);
  const r = await h.nextRecord();
  assert.equal(r.session.closed_by, 'upstream');
  assert.equal(r.upstream.sent, 5);
});

test('read_timeout cuts an idle pumped pair; shutdown cuts the others', async (t) => {
  const echo = await startEcho();
  const h = await toPort(echo.port, { read_timeout: 400 });
  let closedH = false;
  t.after(async () => {
    if (!closedH) await h.close();
    await echo.close();
  });
  const idle = await connectTo(h.port);
  idle.write('x');
  await once(idle, 'data');
  await peerClosed(idle); // nothing more is sent: read_timeout (no upper bound asserted: the machine may be busy)
  const r1 = await h.nextRecord();
  assert.equal(r1.session.closed_by, 'proxy');
  assert.equal(r1.session.status, 200);

  const busy: Socket[] = [];
  for (let i = 0; i < 20; i++) {
    const c = await connectTo(h.port);
    c.on('error', () => {});
    c.write('y');
    await once(c, 'data');
    busy.push(c);
  }
  assert.equal(pumpedCount(), NATIVE ? 20 : 0);
  const gone = Promise.all(busy.map((c) => peerClosed(c)));
  closedH = true;
  await h.server.close(0); // no grace: every open session is cut now
  await gone;
  for (let i = 0; i < 20; i++) assert.equal((await h.nextRecord()).session.closed_by, 'proxy');
  assert.equal(pumpedCount(), 0);
});

test('200 sessions at once, each with its own bytes back', async (t) => {
  const echo = await startEcho();
  const h = await toPort(echo.port);
  t.after(async () => {
    await h.close();
    await echo.close();
  });
  const one = async (i: number): Promise<void> => {
    const c = await connectTo(h.port);
    const msg = `session ${i} `.repeat(50 + i);
    c.end(msg);
    assert.equal(String(await readAll(c)), msg);
  };
  await Promise.all(Array.from({ length: 200 }, (_, i) => one(i)));
  for (let i = 0; i < 200; i++) await h.nextRecord();
  assert.equal(pumpedCount(), 0);
});

// The echo server and the client run on a worker thread of their own, so that only the proxy waits while the main
// thread is held; pings keep coming back meanwhile when the pump's own thread moves the bytes.
const PINGER = `
const { parentPort } = require('node:worker_threads');
const net = require('node:net');
const echo = net.createServer((s) => s.pipe(s)).listen(0, '127.0.0.1', () => parentPort.postMessage(echo.address().port));
const done = [];
parentPort.on('message', (m) => {
  if (m === 'report') return parentPort.postMessage(done);
  const c = net.connect(m, '127.0.0.1', () => c.write('p'));
  c.on('data', () => {
    done.push(performance.timeOrigin + performance.now());
    if (done.length === 1) parentPort.postMessage('ready');
    setImmediate(() => c.write('p'));
  });
});
`;

test(
  'pumped bytes keep flowing while the main thread is held (a reload, a collection)',
  { skip: !NATIVE },
  async (t) => {
    const { Worker } = await import('node:worker_threads');
    const w = new Worker(PINGER, { eval: true });
    t.after(() => w.terminate());
    const [echoPort] = (await once(w, 'message')) as [number];
    const h = await toPort(echoPort);
    t.after(() => h.close());
    w.postMessage(h.port);
    assert.equal((await once(w, 'message'))[0], 'ready');
    const from = performance.timeOrigin + performance.now();
    while (performance.timeOrigin + performance.now() < from + 800); // the main thread does nothing else for 800 ms
    const to = performance.timeOrigin + performance.now();
    w.postMessage('report');
    const [times] = (await once(w, 'message')) as [number[]];
    const during = times.filter((x) => x > from + 100 && x < to - 100).length;
    // on Node's loop no ping could come back while the main thread was held; with the pump's thread, hundreds do
    assert.ok(during >= 5, `${during} round trips while the main thread was held for 800 ms`);
  },
);

test('a pair busy for many sweeps is never taken for idle (short read_timeout, bytes all along)', async (t) => {
  // the upstream streams for 1.5 s; with read_timeout 300 ms the pump sweeps every 50 ms, about 30 times meanwhile,
  // while the pair's last progress keeps moving (a sweep that read the clock before a newer progress ended it)
  const chunk = Buffer.alloc(64 * 1024, 7);
  let written = 0;
  const up = await listenServer(
    createServer((s) => {
      s.on('error', () => {});
      const until = Date.now() + 1500;
      const more = (): void => {
        while (Date.now() < until) {
          written += chunk.length;
          if (!s.write(chunk)) return void s.once('drain', more);
        }
        s.end();
      };
      more();
    }),
  );
  const h = await toPort(up.port, { read_timeout: 300 });
  t.after(async () => {
    await h.close();
    await up.close();
  });
  const c = await connectTo(h.port);
  let got = 0;
  let failed: Error | null = null;
  c.on('data', (d: Buffer) => (got += d.length));
  c.on('error', (e) => (failed = e));
  await peerClosed(c);
  assert.equal(failed, null);
  assert.equal(got, written);
  const r = await h.nextRecord();
  assert.equal(r.session.closed_by, 'upstream');
  assert.equal(r.session.sent, written);
});
