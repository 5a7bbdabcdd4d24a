/**
 * PROXY protocol end to end, both directions, through a real kong-ts:
 * - in: a `proxy_protocol` listener takes v1/v2 headers from trusted_ips only (raw clients and a real HAProxy),
 *   routes and logs by the address inside the header, and closes untrusted peers and bad or slow headers (400);
 * - out: the service tag `kong-ts.proxy_protocol=v1|v2` sends a header to the upstream, v2 with the SNI as
 *   authority TLV on passthrough and terminated TLS routes, and before the TLS handshake for `protocol: tls`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { encodeProxyV2 } from '../../src/proxy-protocol/encode.js';
import { generateSelfSigned } from '../../src/tls/default-cert.js';
import { freePort, tempDir } from '../helpers/cli.js';
import { startHAProxy, type HAProxy } from '../ops/haproxy.js';
import {
  delay,
  echoBackend,
  exchange,
  proxyReadingBackend,
  startLogged,
  type Backend,
  type LoggedInstance,
} from './ops-helpers.js';

describe('PROXY protocol from clients (proxy_protocol listener)', { timeout: 30_000 }, () => {
  let ti: LoggedInstance;
  let a: Backend, b: Backend;
  let haproxy: HAProxy | undefined;
  const hp: Record<string, number> = {};

  before(async () => {
    [a, b] = await Promise.all([echoBackend('A:'), echoBackend('B:')]);
    ti = await startLogged(
      `_format_version: "3.0"
services:
  - name: svc-a
    url: tcp://127.0.0.1:${a.port}
    routes:
      - name: r-src
        protocols: [tcp]
        sources: [{ ip: 10.9.8.7 }]
  - name: svc-b
    url: tcp://127.0.0.1:${b.port}
    routes:
      - name: r-any
        protocols: [tcp]
        sources: [{ ip: 0.0.0.0/0 }, { ip: "::/0" }]
`,
      {
        listen: '127.0.0.1:0 proxy_protocol, [::1]:0 proxy_protocol',
        settings: { trusted_ips: '127.0.0.1', stream_preread_timeout: '300' },
      },
    );
    hp.v1 = await freePort();
    hp.v2 = await freePort();
    haproxy = await startHAProxy(
      tempDir('opse2e-hap'),
      `
defaults
  mode tcp
  timeout connect 2s
  timeout client 5s
  timeout server 5s
listen v1
  bind 127.0.0.1:${hp.v1}
  server k 127.0.0.1:${ti.ports[0]} send-proxy
listen v2
  bind 127.0.0.1:${hp.v2}
  server k 127.0.0.1:${ti.ports[0]} send-proxy-v2
`,
      [hp.v1, hp.v2],
    );
    // the readiness probes of startHAProxy went through kong-ts too (HAProxy forwards them with a PROXY header a moment
    // later): let their sessions end and drop their records
    await new Promise((r) => setTimeout(r, 300));
    const end = Date.now() + 3000;
    while (ti.inst.stream.activeSessions > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    ti.records.length = 0;
  });
  after(async () => {
    await haproxy?.stop();
    await ti?.stop();
    await Promise.all([a?.close(), b?.close()]);
  });

  test('a v1 header: routed and logged by the address inside it', async () => {
    const r = await exchange(ti.ports[0]!, 'PROXY TCP4 10.9.8.7 127.0.0.1 5555 80\r\nhello');
    assert.equal(r.data.toString(), 'A:hello');
    const rec = await ti.nextRecord();
    assert.equal(rec.client_ip, '10.9.8.7');
    assert.equal(rec.client_port, 5555);
    assert.equal(rec.route?.name, 'r-src');
    assert.equal(rec.session.status, 200);
  });

  test('a v2 header (binary, IPv4 and IPv6), the payload in the same segment', async () => {
    const h = encodeProxyV2({ ip: '10.9.8.7', port: 6666 }, { ip: '127.0.0.1', port: 80 });
    const r = await exchange(ti.ports[0]!, Buffer.concat([h, Buffer.from('v2 data')]));
    assert.equal(r.data.toString(), 'A:v2 data');
    const rec = await ti.nextRecord();
    assert.equal(rec.client_ip, '10.9.8.7');
    assert.equal(rec.client_port, 6666);
    const h6 = encodeProxyV2({ ip: '2001:db8::5', port: 7777 }, { ip: '2001:db8::1', port: 80 });
    const r6 = await exchange(ti.ports[0]!, Buffer.concat([h6, Buffer.from('six')]));
    assert.equal(r6.data.toString(), 'B:six', 'another client address, another route');
    assert.equal((await ti.nextRecord()).client_ip, '2001:db8::5');
  });

  test('a header split across segments, the stream after it intact', async () => {
    const s = connect(ti.ports[0]!, '127.0.0.1');
    const got: Buffer[] = [];
    s.on('data', (d) => got.push(d));
    await new Promise((r) => s.once('connect', r));
    s.write('PROXY TCP4 10.1.2');
    await delay(30);
    s.write('.3 127.0.0.1 4000 80\r');
    await delay(30);
    s.end('\nafter');
    await new Promise((r) => s.once('close', r));
    assert.equal(Buffer.concat(got).toString(), 'B:after');
    const rec = await ti.nextRecord();
    assert.equal(rec.client_ip, '10.1.2.3');
    assert.equal(rec.route?.name, 'r-any');
  });

  test('a peer not in trusted_ips is closed with 400, even with a valid header', async () => {
    const r = await exchange(ti.ports[1]!, 'PROXY TCP4 10.9.8.7 127.0.0.1 5555 80\r\nhello', { host: '::1' });
    assert.equal(r.data.length, 0, 'nothing proxied');
    const rec = await ti.nextRecord();
    assert.equal(rec.session.status, 400);
    assert.equal(rec.client_ip, '::1', 'logged with the real peer address, not the claimed one');
    assert.ok(ti.logs.some((l) => /not in trusted_ips/.test(l.msg)));
  });

  test('a bad header and a slow header are closed with 400', async () => {
    const bad = await exchange(ti.ports[0]!, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(bad.data.length, 0);
    assert.equal((await ti.nextRecord()).session.status, 400);
    // one byte per 100 ms: the whole header is bounded by stream_preread_timeout (300 ms), not each byte
    const t0 = Date.now();
    const s = connect(ti.ports[0]!, '127.0.0.1');
    s.on('error', () => {});
    const text = 'PROXY TCP4 10.9.8.7 127.0.0.1 5555 80\r\n';
    let i = 0;
    const drip = setInterval(() => {
      if (!s.destroyed && i < text.length) s.write(text[i++]!);
    }, 100);
    await new Promise((r) => s.once('close', r));
    clearInterval(drip);
    const ms = Date.now() - t0;
    assert.ok(ms < 1500, `closed after ${ms} ms`);
    assert.ok(i < text.length, 'closed before the header was complete');
    assert.equal((await ti.nextRecord()).session.status, 400);
  });

  test('HAProxy send-proxy and send-proxy-v2 in front: the real client port reaches the record', async () => {
    for (const port of [hp.v1!, hp.v2!]) {
      const r = await exchange(port, 'through haproxy');
      assert.equal(r.data.toString(), 'B:through haproxy');
      const rec = await ti.nextRecord();
      assert.equal(rec.client_ip, '127.0.0.1');
      assert.equal(rec.client_port, r.local, "the port of our client, not of HAProxy's connection");
      assert.equal(rec.route?.name, 'r-any');
    }
  });
});

describe('PROXY protocol to upstreams (kong-ts.proxy_protocol tag)', { timeout: 30_000 }, () => {
  let ti: LoggedInstance;
  let plain: Awaited<ReturnType<typeof proxyReadingBackend>>;
  let tlsUp: Awaited<ReturnType<typeof proxyReadingBackend>>;

  before(async () => {
    const pair = generateSelfSigned({ commonName: 'backend.test', altNames: ['backend.test'] });
    plain = await proxyReadingBackend();
    tlsUp = await proxyReadingBackend({ tls: pair });
    const svc = (name: string, proto: string, port: number, tag: string, route: string) => `
  - name: ${name}
    protocol: ${proto}
    host: 127.0.0.1
    port: ${port}
    tags: [kong-ts.proxy_protocol=${tag}]
    routes:
${route}`;
    ti = await startLogged(
      `_format_version: "3.0"
services:${svc('v1', 'tcp', plain.port, 'v1', `      - { name: r-v1, protocols: [tcp], sources: [{ ip: 127.0.0.2 }] }`)}
${svc('v2', 'tcp', plain.port, 'v2', `      - { name: r-v2, protocols: [tcp], sources: [{ ip: 127.0.0.3 }] }`)}
${svc('tlsup-v1', 'tls', tlsUp.port, 'v1', `      - { name: r-tlsup-v1, protocols: [tcp], sources: [{ ip: 127.0.0.4 }] }`)}
${svc('pass', 'tcp', tlsUp.port, 'v2', `      - { name: r-pass, protocols: [tls_passthrough], snis: [pass.test] }`)}
${svc('term', 'tcp', plain.port, 'v2', `      - { name: r-term, protocols: [tls], snis: [term.test] }`)}
${svc('reenc', 'tls', tlsUp.port, 'v2', `      - { name: r-reenc, protocols: [tls], snis: [reenc.test] }`)}
`,
      { listen: '127.0.0.1:0, 127.0.0.1:0 ssl' },
    );
  });
  after(async () => {
    await ti?.stop();
    await Promise.all([plain?.close(), tlsUp?.close()]);
  });

  async function plainFrom(localAddress: string, payload: string) {
    return new Promise<{ data: string; local: number }>((resolve, reject) => {
      const s = connect({ port: ti.ports[0]!, host: '127.0.0.1', localAddress, allowHalfOpen: true });
      let d = '';
      s.on('connect', () => s.end(payload));
      s.on('data', (x) => (d += String(x)));
      s.on('error', reject);
      s.on('end', () => resolve({ data: d, local: s.localPort! }));
    });
  }

  async function tlsThrough(servername: string, payload: string) {
    return new Promise<{ data: string; local: number }>((resolve, reject) => {
      const c = tlsConnect({ port: ti.ports[1]!, host: '127.0.0.1', servername, rejectUnauthorized: false }, () =>
        c.write(payload),
      );
      let d = '';
      c.on('data', (x) => {
        d += x;
        if (d.length >= payload.length) {
          const local = c.localPort!;
          c.destroy();
          resolve({ data: d, local });
        }
      });
      c.on('error', reject);
    });
  }

  test('v1 and v2 on a plain route: the upstream sees the client address first, then the stream', async () => {
    const r1 = await plainFrom('127.0.0.2', 'one');
    assert.equal(r1.data, 'one');
    const h1 = await plain.next();
    assert.equal(h1.header?.version, 1);
    assert.deepEqual(h1.header?.source, { ip: '127.0.0.2', port: r1.local });
    assert.equal(h1.header?.destination?.port, ti.ports[0]);
    const r2 = await plainFrom('127.0.0.3', 'two');
    assert.equal(r2.data, 'two');
    const h2 = await plain.next();
    assert.equal(h2.header?.version, 2);
    assert.deepEqual(h2.header?.source, { ip: '127.0.0.3', port: r2.local });
    assert.equal(h2.header?.authority, undefined, 'no SNI on a plain connection');
  });

  test('v2 carries the SNI in the authority TLV: tls_passthrough and terminated TLS', async () => {
    const p = await tlsThrough('pass.test', 'passthrough bytes');
    assert.equal(p.data, 'passthrough bytes', 'the client handshake went through to the upstream');
    const hp = await tlsUp.next();
    assert.equal(hp.header?.authority, 'pass.test');
    assert.equal(hp.header?.source?.port, p.local);
    const t = await tlsThrough('term.test', 'terminated bytes');
    assert.equal(t.data, 'terminated bytes');
    const ht = await plain.next();
    assert.equal(ht.header?.version, 2);
    assert.equal(ht.header?.authority, 'term.test');
    assert.equal(ht.header?.source?.port, t.local);
  });

  test('protocol: tls services: the header precedes the upstream TLS handshake (v1 and v2)', async () => {
    const r = await plainFrom('127.0.0.4', 'over tls v1');
    assert.equal(r.data, 'over tls v1');
    const h = await tlsUp.next();
    assert.equal(h.header?.version, 1);
    assert.deepEqual(h.header?.source, { ip: '127.0.0.4', port: r.local });
    const e = await tlsThrough('reenc.test', 're-encrypted');
    assert.equal(e.data, 're-encrypted');
    const h2 = await tlsUp.next();
    assert.equal(h2.header?.version, 2);
    assert.equal(h2.header?.authority, 'reenc.test');
  });
});
