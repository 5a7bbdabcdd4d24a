/**
 * `stream_tls_detect`: TLS recognised on stream listeners without `ssl`, as Kong 1.x's stream mode did. The seed's
 * own example as written (format 1.1, a route without a name, a plain listener) through `openssl s_client`, a
 * tls_passthrough route on a plain listener, a server-first backend on a listener no TLS route applies to (it never
 * waits), the documented trade-off where one applies, and `off` (Kong 3: no route, refused).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import { exclusive } from '../helpers/exclusive.js';
import { startYaml } from '../helpers/instance.js';
import { listenServer, startEcho, type TestServer } from '../helpers/sockets.js';
import { ca, kongFile, leaf, tlsEchoServer } from './tls-helpers.js';

/** The Kong 1.0 TLS example, as its users wrote it (the service is the echo backend). */
function seedExample(echoPort: number): string {
  return `_format_version: "1.1"
services:
- name: tlsbin
  url: tcp://127.0.0.1:${echoPort}
  routes:
  - protocols: [tls]
    snis: [tlsbin-example]
`;
}

/**
 * `openssl s_client -connect 127.0.0.1:PORT -servername NAME`, sending `line`: resolves with s_client's output once
 * the line came back (the process is then stopped), or when s_client ended on its own (the proxy closed).
 */
function sClient(
  port: number,
  servername: string,
  line: string,
  timeoutMs = 10_000,
): Promise<{ echoed: boolean; out: string }> {
  return new Promise((resolve) => {
    const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', servername], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let done = false;
    const finish = (echoed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      p.kill('SIGKILL');
      resolve({ echoed, out });
    };
    const onOut = (d: Buffer): void => {
      out += d.toString();
      // the line comes back on a line of its own (s_client also prints what it read of the session)
      if (out.split('\n').some((l) => l.trim() === line)) finish(true);
    };
    p.stdout.on('data', onOut);
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('close', () => finish(false));
    p.stdin.on('error', () => {});
    p.stdin.write(line + '\n');
    const timer = setTimeout(() => finish(false), timeoutMs);
  });
}

/** A backend that greets first (as SMTP, SSH, MySQL do), then echoes. */
async function bannerBackend(banner: string): Promise<TestServer> {
  const srv = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => s.destroy());
    s.write(banner + '\n');
    s.pipe(s);
  });
  return listenServer(srv);
}

/** Connects and only reads: resolves with the first line and the ms it took (undefined line: closed first). */
function readBanner(port: number): Promise<{ line: string | undefined; ms: number; socket: Socket }> {
  const t0 = performance.now();
  const s = connect({ host: '127.0.0.1', port });
  return new Promise((resolve) => {
    let got = '';
    const done = (line: string | undefined) => resolve({ line, ms: performance.now() - t0, socket: s });
    s.on('data', (d: Buffer) => {
      got += d.toString();
      const nl = got.indexOf('\n');
      if (nl >= 0) done(got.slice(0, nl));
    });
    s.on('error', () => done(undefined));
    s.on('close', () => done(undefined));
  });
}

let echo: TestServer;
before(async () => {
  echo = await startEcho();
});
after(() => echo.close());

test("the seed's example as written: TLS terminated on a plain listener, echoed back through openssl s_client", async (t) => {
  const ti = await startYaml(seedExample(echo.port), { tag: 'tlsdetect' });
  t.after(() => ti.stop());
  const r = await sClient(ti.ports[0]!, 'tlsbin-example', 'hello-through-tls');
  assert.ok(r.echoed, `no echo through TLS termination:\n${r.out.slice(-2000)}`);
  assert.match(r.out, /subject=CN ?= ?localhost/, 'the default certificate was served');
  const rec = await ti.nextRecord();
  assert.equal(rec.session.status, 200);
  assert.equal(rec.protocol, 'tls');
  assert.equal(rec.session.tls?.sni, 'tlsbin-example');
  assert.ok(rec.session.tls?.version, 'terminated: the record has the TLS version');
  assert.equal(rec.upstream.sent, 'hello-through-tls\n'.length, 'the upstream got the plain bytes');

  // a plain client on the same listener: no tcp route, refused at once (its first bytes are not a ClientHello)
  const c = connect({ host: '127.0.0.1', port: ti.ports[0]! });
  c.on('error', () => {});
  c.write('not tls\n');
  const refused = await ti.nextRecord();
  assert.equal(refused.session.status, 500);
  assert.equal(refused.protocol, 'tcp');
  assert.ok(refused.latencies.session < 2000, `refused after ${refused.latencies.session} ms`);
  c.destroy();
});

test('a ClientHello no TLS route takes and other first bytes go to the tcp route of a detecting listener', async (t) => {
  const ti = await startYaml(
    kongFile({
      services: [
        {
          name: 'tlsbin',
          url: `tcp://127.0.0.1:${echo.port}`,
          routes: [{ name: 'tls-in', protocols: ['tls'], snis: ['tlsbin-example'] }],
        },
        {
          name: 'raw',
          url: `tcp://127.0.0.1:${echo.port}`,
          routes: [{ name: 'tcp-in', protocols: ['tcp'], destinations: [{ ip: '127.0.0.1' }] }],
        },
      ],
    }),
    { tag: 'tlsdetect' },
  );
  t.after(() => ti.stop());
  const port = ti.ports[0]!;
  // plain bytes first: routed as tcp, the peeked bytes reach the upstream first and in order
  const c = connect({ host: '127.0.0.1', port });
  const back = new Promise<string>((resolve) => {
    let got = '';
    c.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.length >= 12) resolve(got);
    });
  });
  c.write('abc');
  setTimeout(() => c.end('defghijkl'), 50);
  assert.equal(await back, 'abcdefghijkl');
  let rec = await ti.nextRecord();
  assert.equal(rec.route?.name, 'tcp-in');
  assert.equal(rec.protocol, 'tcp');
  // a ClientHello for another name: no tls route takes it, so the tcp route forwards its bytes untouched
  const other = await sClient(port, 'other.example', 'x', 3000);
  assert.equal(other.echoed, false);
  rec = await ti.nextRecord();
  assert.equal(rec.route?.name, 'tcp-in');
  assert.equal(rec.protocol, 'tcp');
  assert.equal(rec.session.tls, undefined);
  assert.ok(rec.upstream.sent > 100, 'the ClientHello went to the upstream as it was');
});

test('tls_passthrough on a plain listener passes the handshake to the TLS backend', async (t) => {
  const root = ca('detect test CA');
  const backendPair = leaf(root, ['pass.example']);
  const backend = await tlsEchoServer({ cert: backendPair.cert, key: backendPair.key });
  t.after(() => backend.close());
  const ti = await startYaml(
    kongFile({
      services: [
        {
          name: 'tls-backend',
          url: `tcp://127.0.0.1:${backend.port}`,
          routes: [{ name: 'pass', protocols: ['tls_passthrough'], snis: ['pass.example'] }],
        },
      ],
    }),
    { tag: 'tlsdetect' },
  );
  t.after(() => ti.stop());
  const r = await sClient(ti.ports[0]!, 'pass.example', 'through-untouched');
  assert.ok(r.echoed, `no echo through passthrough:\n${r.out.slice(-2000)}`);
  assert.match(r.out, /subject=CN ?= ?pass\.example/, "the backend's own certificate reached the client");
  assert.deepEqual(backend.sni, ['pass.example'], 'the backend did the handshake, with the SNI');
  const rec = await ti.nextRecord();
  assert.equal(rec.route?.name, 'pass');
  assert.equal(rec.session.tls?.passthrough, true);
});

test('a listener no TLS route applies to never waits: a server-first banner arrives at once', async (t) => {
  const banner = await bannerBackend('220 banner-first');
  t.after(() => banner.close());
  const ti = await startYaml(
    kongFile({
      services: [
        // a TLS route for another address: it cannot take connections of 127.0.0.1
        {
          name: 'elsewhere',
          url: `tcp://127.0.0.1:${echo.port}`,
          routes: [
            { name: 'tls-elsewhere', protocols: ['tls'], snis: ['x.example'], destinations: [{ ip: '10.255.255.1' }] },
          ],
        },
        {
          name: 'smtp',
          url: `tcp://127.0.0.1:${banner.port}`,
          routes: [{ name: 'smtp-in', protocols: ['tcp'], destinations: [{ ip: '127.0.0.1' }] }],
        },
      ],
    }),
    { tag: 'tlsdetect', settings: { stream_preread_timeout: '5000' } },
  );
  t.after(() => ti.stop());
  assert.equal(ti.inst.manager.current!.tlsDetect.size, 0, 'decided at snapshot build: this listener does not detect');
  const release = await exclusive();
  try {
    const b = await readBanner(ti.ports[0]!);
    b.socket.destroy();
    assert.equal(b.line, '220 banner-first');
    assert.ok(b.ms < 2000, `the banner took ${Math.round(b.ms)} ms (the preread timeout is 5000)`);
  } finally {
    release();
  }
});

test('the trade-off: where a TLS route without destinations applies, a server-first banner waits for the preread timeout', async (t) => {
  const banner = await bannerBackend('220 banner-late');
  t.after(() => banner.close());
  const ti = await startYaml(
    kongFile({
      services: [
        {
          name: 'tlsbin',
          url: `tcp://127.0.0.1:${echo.port}`,
          routes: [{ name: 'tls-any', protocols: ['tls'], snis: ['tlsbin-example'] }],
        },
        {
          name: 'smtp',
          url: `tcp://127.0.0.1:${banner.port}`,
          routes: [{ name: 'smtp-in', protocols: ['tcp'], destinations: [{ ip: '127.0.0.1' }] }],
        },
      ],
    }),
    { tag: 'tlsdetect', settings: { stream_preread_timeout: '400' } },
  );
  t.after(() => ti.stop());
  const b = await readBanner(ti.ports[0]!);
  b.socket.destroy();
  assert.equal(b.line, '220 banner-late', 'routed as tcp once the preread timeout passed');
  assert.ok(b.ms >= 380, `the banner came after ${Math.round(b.ms)} ms, before the 400 ms preread timeout`);
  const warn = ti.logs.find((l) => l.level === 40 && /tls-any/.test(String(l.problem)));
  assert.ok(warn, 'start warned about the route that makes the listener wait');
  assert.match(String(warn.problem), /kong\.yml:\d+:\d+: warning: .*'tls-any'.*127\.0\.0\.1:0/);
});

test('a proxy_protocol listener without ssl detects TLS after the PROXY header', async (t) => {
  const ti = await startYaml(seedExample(echo.port), {
    tag: 'tlsdetect',
    listen: '127.0.0.1:0 proxy_protocol',
    settings: { trusted_ips: '127.0.0.1' },
  });
  t.after(() => ti.stop());
  const raw = connect({ host: '127.0.0.1', port: ti.ports[0]! });
  await new Promise((resolve) => raw.once('connect', resolve));
  raw.write('PROXY TCP4 10.1.2.3 127.0.0.1 1111 2222\r\n');
  const c = tls.connect({ socket: raw, servername: 'tlsbin-example', rejectUnauthorized: false });
  await new Promise((resolve) => c.once('secureConnect', resolve));
  c.write('via-proxy-header');
  const got = await new Promise<string>((resolve) => {
    let s = '';
    c.on('data', (d: Buffer) => {
      s += d.toString();
      if (s.length >= 16) resolve(s);
    });
  });
  assert.equal(got, 'via-proxy-header');
  c.end();
  const rec = await ti.nextRecord();
  assert.equal(rec.client_ip, '10.1.2.3');
  assert.equal(rec.protocol, 'tls');
  assert.equal(rec.session.tls?.sni, 'tlsbin-example');
});

test("stream_tls_detect = off keeps Kong 3's behaviour: the seed's example gets no route on a plain listener", async (t) => {
  const ti = await startYaml(seedExample(echo.port), { tag: 'tlsdetect', settings: { stream_tls_detect: 'off' } });
  t.after(() => ti.stop());
  let reached = 0;
  const count = (): void => {
    reached++;
  };
  echo.server.on('connection', count);
  t.after(() => echo.server.off('connection', count));
  const r = await sClient(ti.ports[0]!, 'tlsbin-example', 'never-echoed');
  assert.equal(r.echoed, false);
  const rec = await ti.nextRecord();
  assert.equal(rec.session.status, 500);
  assert.equal(rec.protocol, 'tcp');
  assert.equal(rec.route, undefined);
  assert.equal(reached, 0, 'nothing reached the backend');
});
