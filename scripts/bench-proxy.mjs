#!/usr/bin/env node
// Micro bench of the plain-TCP data path: single-stream throughput and short-connection rate.
// The proxy runs in a child process (one core), the load generator and upstreams in this one.
// Usage: node scripts/bench-proxy.mjs [buildDir=dist] [GB=2] [connections=20000] [concurrency=50]
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [buildDir = 'dist', gbArg = '2', connArg = '20000', concArg = '50'] = process.argv.slice(2);

if (process.env.BENCH_PROXY_CHILD) {
  const base = pathToFileURL(resolve(buildDir, 'src')).href;
  const { StreamServer } = await import(`${base}/proxy/stream-server.js`);
  const { compileRouter, compileService } = await import(`${base}/router/compile.js`);
  const { silentLogger } = await import(`${base}/log.js`);
  const [sinkPort, echoPort] = JSON.parse(process.env.BENCH_PROXY_CHILD);
  const svc = (id, port) =>
    compileService({
      id,
      protocol: 'tcp',
      host: '127.0.0.1',
      port,
      retries: 0,
      connect_timeout: 5000,
      read_timeout: 60000,
      write_timeout: 60000,
      enabled: true,
      tags: [],
    });
  const services = new Map([
    ['sink', svc('sink', sinkPort)],
    ['echo', svc('echo', echoPort)],
  ]);
  const spec = (text) => ({
    host: '127.0.0.1',
    port: 0,
    ssl: false,
    proxyProtocol: false,
    udp: false,
    reuseport: false,
    bind: false,
    backlog: 4096,
    text,
  });
  const server = new StreamServer({ listeners: [spec('sink'), spec('echo')], logger: silentLogger });
  server.swap({ generation: 1, router: compileRouter([], services) });
  await server.listen();
  const [p1, p2] = server.addresses().map((a) => a.port);
  server.swap({
    generation: 2,
    router: compileRouter(
      [
        { id: 'r1', protocols: ['tcp'], destinations: [{ port: p1 }], service: 'sink', tags: [] },
        { id: 'r2', protocols: ['tcp'], destinations: [{ port: p2 }], service: 'echo', tags: [] },
      ],
      services,
    ),
  });
  process.send({ ports: [p1, p2] });
  process.on('message', (m) => {
    if (m === 'mem') process.send({ rss: process.memoryUsage().rss, active: server.activeSessions });
    if (m === 'quit') server.close().then(() => process.exit(0));
  });
} else {
  let sunk = 0;
  const sink = createServer((s) => {
    s.on('data', (d) => {
      sunk += d.length;
    });
    s.on('end', () => s.end());
    s.on('error', () => {});
  });
  const echo = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  sink.listen(0, '127.0.0.1');
  echo.listen(0, '127.0.0.1');
  await Promise.all([once(sink, 'listening'), once(echo, 'listening')]);
  const child = fork(new URL(import.meta.url), process.argv.slice(2), {
    env: { ...process.env, BENCH_PROXY_CHILD: JSON.stringify([sink.address().port, echo.address().port]) },
  });
  const [
    {
      ports: [sinkProxy, echoProxy],
    },
  ] = await once(child, 'message');

  // throughput: one stream of GB gigabytes to a discarding upstream
  const total = Number(gbArg) * 1024 ** 3;
  const chunk = Buffer.alloc(256 * 1024, 7);
  const c = connect({ port: sinkProxy, host: '127.0.0.1' });
  await once(c, 'connect');
  let t0 = performance.now();
  for (let sent = 0; sent < total; sent += chunk.length) if (!c.write(chunk)) await once(c, 'drain');
  c.end();
  await once(c, 'close');
  let secs = (performance.now() - t0) / 1000;
  console.log(
    `throughput: ${(total / 1024 ** 3).toFixed(1)} GiB in ${secs.toFixed(2)} s = ${((total * 8) / secs / 1e9).toFixed(2)} Gbit/s (sink got ${sunk} bytes)`,
  );

  // connection rate: N short connections (connect, 1 byte there, 1 byte back, close), C at a time
  const n = Number(connArg);
  const conc = Number(concArg);
  let started = 0;
  let failed = 0;
  const one = () =>
    new Promise((res) => {
      const s = connect({ port: echoProxy, host: '127.0.0.1' });
      s.on('error', () => {
        failed++;
        res();
      });
      s.on('connect', () => s.end('x'));
      s.on('data', () => {});
      s.on('close', res);
    });
  const worker = async () => {
    while (started < n) {
      started++;
      await one();
    }
  };
  t0 = performance.now();
  await Promise.all(Array.from({ length: conc }, worker));
  secs = (performance.now() - t0) / 1000;
  console.log(`connections: ${n} in ${secs.toFixed(2)} s = ${Math.round(n / secs)} conn/s, ${failed} failed`);

  // idle memory: K idle proxied connections
  const K = 2000;
  child.send('mem');
  const [{ rss: before }] = await once(child, 'message');
  const idle = [];
  for (let i = 0; i < K; i++) {
    const s = connect({ port: echoProxy, host: '127.0.0.1' });
    s.on('error', () => {});
    idle.push(s);
    if (i % 100 === 99) await once(s, 'connect');
  }
  await new Promise((r) => setTimeout(r, 500));
  for (const s of idle) s.write('x');
  await new Promise((r) => setTimeout(r, 500));
  child.send('mem');
  const [{ rss: afterRss, active }] = await once(child, 'message');
  console.log(
    `idle: ${active} sessions, ${((afterRss - before) / active / 1024).toFixed(1)} KiB RSS per proxied connection`,
  );
  for (const s of idle) s.destroy();
  child.send('quit');
  await once(child, 'exit');
  sink.close();
  echo.close();
}
