/**
 * SNI routing through a running kong-ts: SNIs combined with sources and destinations under Kong 3's priorities,
 * an exact SNI beating a wildcard, tls routes never taken on a plain listener with `stream_tls_detect = off` (Kong 3),
 * status 500 when nothing matches, and a plain listener that never waits for the client's first bytes (a server-first
 * backend works).
 */
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { startYaml, type TestInstance } from '../helpers/instance.js';
import { listenServer, peerClosed, type TestServer } from '../helpers/sockets.js';
import type { SessionRecord } from '../../src/proxy/record.js';
import { kongFile } from './tls-helpers.js';

/** A backend that greets with its name on connect (server-first), then echoes. */
async function namedBackend(name: string): Promise<TestServer> {
  const srv = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => s.destroy());
    s.write(`${name}\n`);
    s.pipe(s);
  });
  return listenServer(srv);
}

/** Reads the first line sent to the client; undefined when the connection closed first. */
function firstLine(s: Socket): Promise<string | undefined> {
  return new Promise((resolve) => {
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString();
      const nl = got.indexOf('\n');
      if (nl >= 0) resolve(got.slice(0, nl));
    });
    s.on('error', () => resolve(undefined));
    s.on('close', () => resolve(undefined));
  });
}

/** A TLS client from `localAddress`, with an SNI or none; resolves with the backend's name (undefined: closed). */
function tlsBackendName(port: number, localAddress: string, servername?: string): Promise<string | undefined> {
  // localAddress reaches net.connect at run time; the typings of tls.connect leave it out
  const opts = { host: '127.0.0.1', port, localAddress, servername: servername ?? '', rejectUnauthorized: false };
  const c = tls.connect(opts);
  return firstLine(c).finally(() => c.destroy());
}

async function recordWhere(ti: TestInstance, pred: (r: SessionRecord) => boolean): Promise<SessionRecord> {
  for (;;) {
    const r = await ti.nextRecord();
    if (pred(r)) return r;
  }
}

describe('SNI routing with sources, destinations and priorities', () => {
  const names = ['exact', 'wild', 'wild-src', 'src-only', 'src-dst', 'plain-tcp'] as const;
  const backends = new Map<string, TestServer>();
  let ti: TestInstance;
  let plain: number;
  let ssl: number;

  before(async () => {
    for (const n of names) backends.set(n, await namedBackend(n));
    const svc = (name: string, route: Record<string, unknown>) => ({
      name,
      url: `tcp://127.0.0.1:${backends.get(name)!.port}`,
      routes: [{ name, ...route }],
    });
    ti = await startYaml(
      kongFile({
        services: [
          svc('exact', { protocols: ['tls'], snis: ['api.example.test'] }),
          svc('wild', { protocols: ['tls'], snis: ['*.example.test'] }),
          svc('wild-src', { protocols: ['tls'], snis: ['*.example.test'], sources: [{ ip: '127.0.0.2' }] }),
          svc('src-only', { protocols: ['tls'], sources: [{ ip: '127.0.0.1' }] }),
          svc('src-dst', { protocols: ['tls'], sources: [{ ip: '127.0.0.3' }], destinations: [{ ip: '127.0.0.1' }] }),
          svc('plain-tcp', { protocols: ['tcp'], sources: [{ ip: '127.0.0.5' }] }),
        ],
        // Kong 3's behaviour (tls routes only on ssl listeners); stream_tls_detect = auto is tested in tls-detect.test.ts
      }),
      { listen: '127.0.0.1:0, 127.0.0.1:0 ssl', settings: { stream_tls_detect: 'off' } },
    );
    [plain, ssl] = ti.ports as [number, number];
  });
  after(async () => {
    await ti?.stop();
    for (const b of backends.values()) await b.close();
  });

  test('exact and wildcard SNI weigh the same (the larger route id wins, as Kong); *.x matches deeper names', async () => {
    const ids = Object.fromEntries(ti.inst.manager.current!.config.routes.map((r) => [r.name, r.id]));
    assert.equal(await tlsBackendName(ssl, '127.0.0.1', 'api.example.test'), ids.exact! > ids.wild! ? 'exact' : 'wild');
    assert.equal(await tlsBackendName(ssl, '127.0.0.1', 'www.example.test'), 'wild');
    assert.equal(await tlsBackendName(ssl, '127.0.0.1', 'a.b.example.test'), 'wild');
  });

  test('Kong 3 priorities: an SNI with a source outranks an exact SNI; sources+destinations outrank SNI alone', async () => {
    assert.equal(await tlsBackendName(ssl, '127.0.0.2', 'www.example.test'), 'wild-src');
    assert.equal(await tlsBackendName(ssl, '127.0.0.2', 'api.example.test'), 'wild-src');
    assert.equal(await tlsBackendName(ssl, '127.0.0.3', 'api.example.test'), 'src-dst');
    assert.equal(await tlsBackendName(ssl, '127.0.0.3'), 'src-dst');
  });

  test('no SNI or an unknown SNI falls to routes without snis', async () => {
    assert.equal(await tlsBackendName(ssl, '127.0.0.1'), 'src-only');
    assert.equal(await tlsBackendName(ssl, '127.0.0.1', 'other.test'), 'src-only');
    // a route with snis never matches a connection that sent none
    assert.equal(await tlsBackendName(ssl, '127.0.0.2'), undefined);
  });

  test('no matching route on the ssl listener: closed, status 500', async () => {
    assert.equal(await tlsBackendName(ssl, '127.0.0.4', 'other.test'), undefined);
    const r = await recordWhere(ti, (x) => x.client_ip === '127.0.0.4');
    assert.equal(r.session.status, 500);
    assert.equal(r.route, undefined);
  });

  test('tls routes are never matched on a plain listener, whatever the client sends', async () => {
    assert.equal(await tlsBackendName(plain, '127.0.0.1', 'api.example.test'), undefined);
    const r = await recordWhere(ti, (x) => x.session.server_port === plain);
    assert.equal(r.session.status, 500);
    assert.equal(r.protocol, 'tcp');
    assert.equal(r.route, undefined);
    assert.equal(r.session.tls, undefined);
  });

  test('a plain listener does not wait for the client: a server-first backend greets a client that only reads', async () => {
    const c = connect({ host: '127.0.0.1', port: plain, localAddress: '127.0.0.5' });
    const t0 = Date.now();
    assert.equal(await firstLine(c), 'plain-tcp');
    assert.ok(Date.now() - t0 < 1000);
    c.end();
    await peerClosed(c);
    const r = await recordWhere(ti, (x) => x.client_ip === '127.0.0.5');
    assert.equal(r.session.status, 200);
    assert.equal(r.session.received, 0);
    assert.equal(r.session.sent, 'plain-tcp\n'.length);
  });

  test('the same server-first backend behind an ssl listener: the greeting arrives after the handshake', async () => {
    assert.equal(await tlsBackendName(ssl, '127.0.0.3', 'x.example.test'), 'src-dst');
  });
});
