import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer as createHttpServer, request, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type AddressInfo, type Server } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { generateSelfSigned } from '../../src/tls/default-cert.js';
import { refreshTargetHealth } from '../../src/runtime/target-health.js';
import { count, poolYaml, startLb, waitFor, type LbInstance } from './balancer-helpers.js';

// Active http and tcp send/expect probes against real servers through a running instance.

/** An HTTP server that is both the proxied backend (any path: its name) and its own health endpoint (/health). */
class HttpBackend {
  status = 200;
  healthHits = 0;
  lastHeaders: Record<string, unknown> = {};
  server: HttpServer;
  port = 0;
  constructor(readonly name: string) {
    this.server = createHttpServer((req, res) => {
      if (req.url === '/health') {
        this.healthHits++;
        this.lastHeaders = req.headers;
        res.writeHead(this.status).end();
        return;
      }
      res.writeHead(200, { connection: 'close' }).end(this.name);
    });
  }
  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }
  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

async function getMany(port: number, n: number): Promise<Record<string, number>> {
  const names: string[] = [];
  for (let i = 0; i < n; i++) names.push(await get(port));
  return count(names);
}

function healthOf(lb: LbInstance, port: number): string {
  return lb.health().find((h) => h.target.endsWith(`:${port}`))?.health ?? 'missing';
}

test('http probe: a health endpoint that turns 500 marks its target UNHEALTHY, traffic avoids it, 200 brings it back', async (t) => {
  const a = await new HttpBackend('a').start();
  const b = await new HttpBackend('b').start();
  t.after(() => Promise.all([a.stop(), b.stop()]));
  const upstream = {
    healthchecks: {
      active: {
        type: 'http',
        http_path: '/health',
        timeout: 2,
        headers: { 'x-probe': ['kong-ts'] },
        healthy: { interval: 0.2, successes: 2 },
        unhealthy: { interval: 0.2, http_failures: 2 },
      },
    },
  };
  const yaml = poolYaml(
    [
      [`127.0.0.1:${a.port}`, 100],
      [`127.0.0.1:${b.port}`, 100],
    ],
    upstream,
  );
  const lb = await startLb(yaml);
  t.after(() => lb.stop());
  await waitFor(() => a.healthHits >= 2 && b.healthHits >= 2, 10_000, 'probes');
  assert.equal(a.lastHeaders['x-probe'], 'kong-ts');
  assert.equal(a.lastHeaders['host'], '127.0.0.1');
  assert.deepEqual(Object.keys(await getMany(lb.port, 6)).sort(), ['a', 'b']);

  a.status = 500;
  const down = await waitFor(() => healthOf(lb, a.port) === 'UNHEALTHY', 10_000, 'a unhealthy');
  assert.equal(healthOf(lb, b.port), 'HEALTHY');
  assert.deepEqual(await getMany(lb.port, 10), { b: 10 });

  // a reload that keeps the target keeps its state
  assert.equal(
    await lb.reload(
      poolYaml(
        [
          [`127.0.0.1:${a.port}`, 50],
          [`127.0.0.1:${b.port}`, 100],
        ],
        upstream,
      ),
    ),
    'loaded',
  );
  assert.equal(healthOf(lb, a.port), 'UNHEALTHY');

  // a status in neither list (418) counts neither way: a stays unhealthy
  a.status = 418;
  const hits = a.healthHits;
  await waitFor(() => a.healthHits >= hits + 3, 10_000, 'probes of 418');
  assert.equal(healthOf(lb, a.port), 'UNHEALTHY');

  a.status = 200;
  const up = await waitFor(() => healthOf(lb, a.port) === 'HEALTHY', 10_000, 'a healthy');
  assert.ok(Object.keys(await getMany(lb.port, 12)).includes('a'));
  t.diagnostic(`unhealthy after ${down} ms, healthy again after ${up} ms (interval 200 ms, 2 results)`);
});

/** A free loopback port (closed again). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function startRedis(): Promise<{ port: number; proc: ChildProcess }> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const proc = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    const ok = await new Promise<boolean>((resolve) => {
      proc.once('exit', () => resolve(false));
      const timer = setInterval(() => {
        if (out.includes('Ready to accept connections')) {
          clearInterval(timer);
          resolve(true);
        }
      }, 20);
    });
    if (ok) return { port, proc };
    if (attempt >= 3) throw new Error(`redis-server did not start: ${out}`);
  }
}

test('tcp send/expect probe: a real redis-server answering PING with +PONG is HEALTHY, a server that accepts but answers otherwise is not', async (t) => {
  const redis = await startRedis();
  t.after(() => {
    redis.proc.kill('SIGCONT');
    redis.proc.kill('SIGKILL');
  });
  // accepts the connection (a bare connect check would pass) but answers an error
  const liar: Server = createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => s.end('-ERR unknown command\r\n'));
  });
  await new Promise<void>((r) => liar.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => liar.close(() => r())));
  const liarPort = (liar.address() as AddressInfo).port;
  const yaml = poolYaml(
    [
      [`127.0.0.1:${redis.port}`, 100],
      [`127.0.0.1:${liarPort}`, 100],
    ],
    {
      tags: ['kong-ts.healthcheck.send=PING\\r\\n', 'kong-ts.healthcheck.expect=+PONG'],
      healthchecks: {
        active: {
          type: 'tcp',
          timeout: 0.5,
          healthy: { interval: 0.2, successes: 1 },
          unhealthy: { interval: 0.2, tcp_failures: 1, timeouts: 2 },
        },
      },
    },
  );
  const lb = await startLb(yaml);
  t.after(() => lb.stop());
  await waitFor(() => healthOf(lb, liarPort) === 'UNHEALTHY', 10_000, 'the liar unhealthy');
  assert.equal(healthOf(lb, redis.port), 'HEALTHY');

  // a redis that stops answering (SIGSTOP: connects still succeed, in the kernel's backlog) times out
  redis.proc.kill('SIGSTOP');
  await waitFor(() => healthOf(lb, redis.port) === 'UNHEALTHY', 15_000, 'stopped redis unhealthy');
  redis.proc.kill('SIGCONT');
  await waitFor(() => healthOf(lb, redis.port) === 'HEALTHY', 15_000, 'redis healthy again');
  assert.equal(healthOf(lb, liarPort), 'UNHEALTHY');
  // the metric a scrape of /metrics shows
  refreshTargetHealth(lb.inst.runtime, lb.inst.manager.current);
  const text = await lb.inst.runtime.metrics.metricsText();
  assert.ok(
    text.includes(`kong_upstream_target_health{upstream="pool",target="127.0.0.1:${liarPort}",state="unhealthy"} 1`),
    text,
  );
  assert.ok(
    text.includes(`kong_upstream_target_health{upstream="pool",target="127.0.0.1:${redis.port}",state="healthy"} 1`),
  );
  const stopped = lb.logs.find((l) => l.msg === 'target address is unhealthy' && l.reason === 'timeout');
  assert.ok(stopped, 'the stop was counted as timeouts');
});

test('https probe: sends https_sni, and https_verify_certificate decides whether a self-signed target is healthy', async (t) => {
  const pair = generateSelfSigned({ commonName: 'health.test', altNames: ['health.test'] });
  const snis: (string | false)[] = [];
  const srv = createHttpsServer({ cert: pair.cert, key: pair.key }, (req, res) => {
    snis.push((req.socket as TLSSocket).servername ?? false);
    res.writeHead(req.url === '/ok' ? 200 : 404).end();
  });
  srv.on('tlsClientError', () => {});
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => {
    srv.closeAllConnections();
    return new Promise<void>((r) => srv.close(() => r()));
  });
  const port = (srv.address() as AddressInfo).port;
  const active = (verify: boolean) => ({
    healthchecks: {
      active: {
        type: 'https',
        http_path: '/ok',
        https_sni: 'health.test',
        https_verify_certificate: verify,
        timeout: 2,
        healthy: { interval: 0.2, successes: 1 },
        unhealthy: { interval: 0.2, tcp_failures: 1, http_failures: 1 },
      },
    },
  });
  const lb = await startLb(poolYaml([[`127.0.0.1:${port}`, 100]], active(true)));
  t.after(() => lb.stop());
  // the system store does not trust it: the handshake fails, a tcp_failure
  await waitFor(() => healthOf(lb, port) === 'UNHEALTHY', 10_000, 'unverified target unhealthy');
  assert.equal(await lb.reload(poolYaml([[`127.0.0.1:${port}`, 100]], active(false))), 'loaded');
  await waitFor(() => healthOf(lb, port) === 'HEALTHY', 10_000, 'unverified target healthy without verification');
  assert.ok(snis.includes('health.test'), `SNI sent: ${JSON.stringify(snis)}`);
});
