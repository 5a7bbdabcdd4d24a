// connect_timeout, read_timeout and write_timeout fire on time: within 20 % + 200 ms of their value, never early
// (issue 14). Timing assertions: each test holds the exclusive lock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { connectTo, listenServer, peerClosed, startEcho } from '../helpers/sockets.js';
import { route, service } from '../helpers/entities.js';
import { exclusive } from '../helpers/exclusive.js';
import { snapshot, startProxy } from './harness.js';
import type { ServiceEntity } from '../../src/config/types.js';

async function proxyTo(svc: ServiceEntity) {
  const h = await startProxy({ services: [svc], routes: [] });
  h.server.swap(snapshot([svc], [route({ id: 'r', service: svc.id, destinations: [{ port: h.port }] })]));
  return h;
}

function within(elapsed: number, value: number, what: string): void {
  assert.ok(elapsed >= value - 5, `${what}: closed after ${Math.round(elapsed)} ms, before its ${value} ms`);
  assert.ok(
    elapsed <= value * 1.2 + 200,
    `${what}: closed after ${Math.round(elapsed)} ms, more than 20 % + 200 ms after ${value} ms`,
  );
}

test('read_timeout: a silent upstream is cut on time', async (t) => {
  const release = await exclusive();
  const echo = await startEcho();
  const h = await proxyTo(service({ id: 'e', port: echo.port, read_timeout: 1500, write_timeout: 60000 }));
  t.after(async () => {
    await h.close();
    await echo.close();
    release();
  });
  const c = await connectTo(h.port);
  c.write('ping');
  await once(c, 'data');
  const t0 = performance.now();
  await peerClosed(c);
  within(performance.now() - t0, 1500, 'read_timeout');
  const r = await h.nextRecord();
  assert.equal(r.session.closed_by, 'proxy');
  assert.equal(r.session.status, 200);
});

test('write_timeout: an upstream that never reads is cut on time (a pending write does not delay it)', async (t) => {
  const release = await exclusive();
  const never = await listenServer(createServer({ pauseOnConnect: true }, (s) => s.on('error', () => {})));
  const h = await proxyTo(service({ id: 'n', port: never.port, read_timeout: 60000, write_timeout: 1500 }));
  t.after(async () => {
    await h.close();
    await never.close();
    release();
  });
  const c = await connectTo(h.port);
  c.on('error', () => {}); // the proxy's destroy can reach us as a reset while our writes are queued
  const closing = new Promise<void>((resolve) => c.once('close', () => resolve()));
  const chunk = Buffer.alloc(256 * 1024);
  // fill every buffer on the way; the last write the proxy took is its last progress
  let last = performance.now();
  for (let i = 0; i < 256 && !c.destroyed; i++) {
    if (c.write(chunk)) {
      last = performance.now();
      continue;
    }
    const drained = await Promise.race([
      new Promise<boolean>((resolve) => c.once('drain', () => resolve(true))),
      closing.then(() => false),
    ]);
    if (!drained) break;
    last = performance.now();
  }
  await closing;
  within(performance.now() - last, 1500, 'write_timeout');
  assert.equal((await h.nextRecord()).session.closed_by, 'proxy');
});

/**
 * A listener that never accepts, with its one-slot queue already taken: the kernel drops further SYNs, so a
 * connect to it neither succeeds nor fails (loopback only). Node always accepts, so the listener is a python3 child.
 */
async function blackHole(): Promise<{ port: number; child: ChildProcess; filler: Socket }> {
  const child = spawn(
    'python3',
    [
      '-c',
      [
        'import socket, sys, time',
        's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)',
        'print(s.getsockname()[1], flush=True)',
        'sys.stdin.read()',
      ].join('\n'),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  const port = Number(line.toString().trim());
  // take the queue's slot (and one more: the kernel admits backlog + 1)
  const filler = connect(port, '127.0.0.1');
  filler.on('error', () => {});
  await once(filler, 'connect');
  const filler2 = connect(port, '127.0.0.1');
  filler2.on('error', () => {});
  await Promise.race([once(filler2, 'connect'), new Promise((r) => setTimeout(r, 300))]);
  filler.on('close', () => filler2.destroy());
  return { port, child, filler };
}

test('connect_timeout: a connect that never completes is given up on time', async (t) => {
  const release = await exclusive();
  const hole = await blackHole();
  // is it black? a direct connect must hang
  const probe = connect(hole.port, '127.0.0.1');
  probe.on('error', () => {});
  const probed = await Promise.race([
    once(probe, 'connect').then(() => 'connected'),
    new Promise((r) => setTimeout(r, 500, 'hanging')),
  ]);
  probe.destroy();
  assert.equal(probed, 'hanging', 'the black-hole listener accepted a connection');
  const h = await proxyTo(service({ id: 'bh', port: hole.port, connect_timeout: 1500, retries: 0 }));
  t.after(async () => {
    await h.close();
    hole.filler.destroy();
    hole.child.stdin!.end();
    hole.child.kill();
    release();
  });
  const t0 = performance.now();
  const c = await connectTo(h.port);
  await peerClosed(c);
  within(performance.now() - t0, 1500, 'connect_timeout');
  const r = await h.nextRecord();
  assert.equal(r.session.status, 502);
  assert.equal(r.tries.length, 1);
  assert.equal(r.tries[0]!.state, 'timeout');
});
