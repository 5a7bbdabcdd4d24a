/**
 * Router parity with Kong 3 (`router_flavor = traditional_compatible`): every case of router-cases.ts is decided
 * by `route explain` (over the real loader and router) and must give Kong's winner; a sample of them is then run
 * through a real kong-ts instance with real clients (source addresses on 127.0.0.0/8, SNI, port_maps).
 */
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import tls from 'node:tls';
import { loadConfigText } from '../../src/config/load.js';
import { explainRoute } from '../../src/router/explain.js';
import type { RouterOptions } from '../../src/router/compile.js';
import { startYaml } from '../helpers/instance.js';
import { listenServer, type TestServer } from '../helpers/sockets.js';
import { ROUTER_CASES, type ParityRoute, type RouterCase } from './router-cases.js';

function yamlFor(routes: ParityRoute[], url: (r: ParityRoute) => string): string {
  return JSON.stringify({
    _format_version: '3.0',
    services: routes.map((r) => ({ name: `svc-${r.name}`, url: url(r), routes: [{ ...r }] })),
  });
}

function options(c: RouterCase): RouterOptions {
  return {
    exactSniFirst: c.options?.exactSniFirst,
    hostPorts: c.options?.hostPorts ? new Map(c.options.hostPorts) : undefined,
  };
}

describe("router parity: route explain gives Kong's winner", () => {
  for (const c of ROUTER_CASES) {
    test(c.spec, () => {
      const r = loadConfigText(
        yamlFor(c.routes, () => 'tcp://127.0.0.1:1'),
        'kong.yml',
      );
      assert.ok(r.ok, JSON.stringify(r.problems));
      const [srcIp, srcPort] = c.conn.src ?? ['192.0.2.1', 40000];
      const [dstIp, dstPort] = c.conn.dst ?? ['192.0.2.2', 40001];
      const x = explainRoute(
        r.config,
        {
          protocol: c.conn.protocol,
          srcIp,
          srcPort,
          dstIp,
          dstPort,
          ...(c.conn.sni !== undefined ? { sni: c.conn.sni } : {}),
        },
        options(c),
      );
      assert.equal(x.winner?.name ?? null, c.want);
    });
  }
});

/** A backend that greets with its name on connect. */
async function namedBackend(name: string): Promise<TestServer> {
  const srv = createServer((s) => {
    s.on('error', () => s.destroy());
    s.end(`${name}\n`);
  });
  return listenServer(srv);
}

function firstLine(s: Socket): Promise<string | null> {
  return new Promise((resolve) => {
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.includes('\n')) resolve(got.slice(0, got.indexOf('\n')));
    });
    s.on('error', () => resolve(null));
    s.on('close', () => resolve(null));
  });
}

async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** The cases a loopback client can make: sources in 127.0.0.0/8 with any port, SNIs, port_maps. */
const REAL = ROUTER_CASES.filter(
  (c) =>
    (!c.conn.src || (c.conn.src[0].startsWith('127.') && c.conn.src[1] === 40000)) &&
    (!c.conn.dst || c.options?.hostPorts) &&
    !c.routes.some((r) => r.protocols.includes('tls_passthrough')) &&
    !c.options?.exactSniFirst,
);

describe("router parity: a real connection takes Kong's winner", () => {
  const backends: TestServer[] = [];
  after(async () => {
    for (const b of backends) await b.close();
  });
  test('the sample is not empty', () => assert.ok(REAL.length >= 10, String(REAL.length)));
  for (const c of REAL) {
    test(c.spec, async () => {
      const ports = new Map<string, number>();
      for (const r of c.routes) {
        const b = await namedBackend(r.name);
        backends.push(b);
        ports.set(r.name, b.port);
      }
      const port = await freePort();
      const listen = c.conn.protocol === 'tls' ? `127.0.0.1:${port} ssl` : `127.0.0.1:${port}`;
      const settings: Record<string, string> = {};
      if (c.options?.hostPorts) settings.port_maps = c.options.hostPorts.map(([, host]) => `${host}:${port}`).join(',');
      const ti = await startYaml(
        yamlFor(c.routes, (r) => `tcp://127.0.0.1:${ports.get(r.name)}`),
        { listen, settings, tag: 'parity-router' },
      );
      try {
        const localAddress = c.conn.src?.[0] ?? '127.0.0.1';
        const s =
          c.conn.protocol === 'tls'
            ? tls.connect({
                host: '127.0.0.1',
                port,
                localAddress,
                servername: c.conn.sni ?? '',
                rejectUnauthorized: false,
              } as tls.ConnectionOptions)
            : connect({ host: '127.0.0.1', port, localAddress });
        const got = await firstLine(s).finally(() => s.destroy());
        assert.equal(got, c.want);
      } finally {
        await ti.stop();
      }
    });
  }
});
