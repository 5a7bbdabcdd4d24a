import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tcpLog } from '../../src/plugins/bundled/tcp-log.js';
import { compilePluginChains } from '../../src/plugins/chain.js';
import { silentLogger } from '../../src/log.js';
import { entity, record, waitFor } from './helpers.js';

const available = new Map([['tcp-log', tcpLog]]);

/** A collector that parses JSON lines. */
function collector(
  server: Server = createServer(),
  event = 'connection',
): { server: Server; lines: any[]; sockets: Set<Socket> } {
  const lines: any[] = [];
  const sockets = new Set<Socket>();
  const onSocket = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
      }
    });
    s.on('error', () => {});
  };
  server.on(event, onSocket);
  return { server, lines, sockets };
}

function listen(server: Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
}

function stop(c: { server: Server; sockets: Set<Socket> }): Promise<void> {
  for (const s of c.sockets) s.destroy();
  return new Promise((resolve) => c.server.close(() => resolve()));
}

const statsOf = (chains: ReturnType<typeof compilePluginChains>) =>
  Object.values(chains.stats())[0] as Record<'sent' | 'dropped' | 'queued' | 'connect_failures', number>;

test('tcp-log sends one JSON line per session over one persistent connection', async (t) => {
  const c = collector();
  const port = await listen(c.server);
  let connections = 0;
  c.server.on('connection', () => connections++);
  const chains = compilePluginChains(
    [entity('tcp-log', { config: { host: '127.0.0.1', port } })],
    available,
    silentLogger,
  );
  t.after(async () => {
    await chains.close();
    await stop(c);
  });
  const chain = chains.forRoute();
  for (let i = 0; i < 50; i++) chain.log(record({ client_port: i }));
  await waitFor(() => c.lines.length === 50, 3000, '50 lines');
  for (let i = 50; i < 60; i++) chain.log(record({ client_port: i }));
  await waitFor(() => c.lines.length === 60, 3000, '60 lines');
  assert.deepEqual(
    c.lines.map((l) => l.client_port),
    [...Array(60).keys()],
  );
  assert.equal(connections, 1);
  assert.equal(statsOf(chains).sent, 60);
});

test('tcp-log with a dead collector: a 10,000-record burst never blocks, drops are counted, it recovers', async (t) => {
  // find a free port, then leave it closed
  const probe = createServer();
  const port = await listen(probe);
  await new Promise((r) => probe.close(r));
  const chains = compilePluginChains(
    [entity('tcp-log', { config: { host: '127.0.0.1', port, timeout: 1000 } })],
    available,
    silentLogger,
  );
  const chain = chains.forRoute();
  const rec = record();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 10_000; i++) chain.log(rec);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.ok(ms < 2000, `10,000 log calls took ${ms.toFixed(1)} ms`);
  t.diagnostic(
    `10,000 tcp-log calls with a dead collector: ${ms.toFixed(2)} ms (${((ms * 1000) / 10_000).toFixed(2)} µs each)`,
  );
  const s = statsOf(chains);
  assert.equal(s.dropped, 9000, 'everything beyond the 1000-record queue is dropped');
  assert.equal(s.queued, 1000);
  await waitFor(() => statsOf(chains).connect_failures >= 1, 3000, 'a refused connect');

  const c = collector();
  t.after(async () => {
    await chains.close();
    await stop(c);
  });
  await listen(c.server, port);
  await waitFor(() => c.lines.length === 1000, 5000, 'the queued records after the collector came back');
  chain.log(record({ client_port: 4242 }));
  await waitFor(() => c.lines.length === 1001, 3000, 'a new record');
  assert.equal(c.lines[1000].client_port, 4242);
  assert.equal(statsOf(chains).dropped, 9000);
});

test('tcp-log with a collector that stops reading: the queue stays bounded and the caller is not slowed', async (t) => {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.pause();
  });
  const port = await listen(server);
  const chains = compilePluginChains(
    [entity('tcp-log', { config: { host: '127.0.0.1', port, queue_size: 100 } })],
    available,
    silentLogger,
  );
  t.after(async () => {
    await chains.close();
    await stop({ server, sockets });
  });
  const chain = chains.forRoute();
  const big = record({
    tries: Array.from({ length: 50 }, (_, i) => ({ ip: '10.0.0.' + i, port: 80, balancer_latency: i })),
  });
  for (let round = 0; round < 40 && statsOf(chains).dropped === 0; round++) {
    for (let i = 0; i < 500; i++) chain.log(big);
    await new Promise((r) => setTimeout(r, 5));
  }
  const s = statsOf(chains);
  assert.ok(s.dropped > 0, 'records dropped once the socket and the queue are full');
  assert.ok(s.queued <= 100);
});

test('tcp-log over TLS sends tls_sni and delivers the lines', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kong-ts-tcp-log-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      '/CN=collector.test',
      '-days',
      '1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  const server = createTlsServer({
    key: readFileSync(join(dir, 'key.pem')),
    cert: readFileSync(join(dir, 'cert.pem')),
  });
  rmSync(dir, { recursive: true, force: true });
  const c = collector(server, 'secureConnection');
  const names: Array<string | false | null> = [];
  server.on('secureConnection', (s: TLSSocket) => names.push(s.servername));
  const port = await listen(server);
  const chains = compilePluginChains(
    [
      entity('tcp-log', {
        config: { host: '127.0.0.1', port, tls: true, tls_sni: 'logs.example.test' },
      }),
    ],
    available,
    silentLogger,
  );
  t.after(async () => {
    await chains.close();
    await stop(c);
  });
  for (let i = 0; i < 5; i++) chains.forRoute().log(record({ client_port: i }));
  await waitFor(() => c.lines.length === 5, 3000, '5 lines over TLS');
  assert.deepEqual(names, ['logs.example.test']);
  assert.deepEqual(
    c.lines.map((l) => l.client_port),
    [0, 1, 2, 3, 4],
  );
});
