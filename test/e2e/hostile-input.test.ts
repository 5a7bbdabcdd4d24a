/**
 * Hostile input on real sockets against one kong-ts: garbage, truncated and oversized ClientHellos and PROXY
 * headers, a client dripping one byte a second, upstreams that reset, stall or half-close, clients that vanish
 * mid-transfer. A canary session streams through the whole suite and must arrive intact (both digests), and the
 * instance must serve normally after each case with no session left behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { V2_SIGNATURE } from '../../src/proxy-protocol/parse.js';
import { delay, echoBackend, exchange, startLogged, until, type Backend, type LoggedInstance } from './ops-helpers.js';

interface Canary {
  stop(): Promise<{ sent: number; got: number; sentSha: string; gotSha: string }>;
}

/** A session that streams 16 KiB every 10 ms until stopped, hashing both directions. */
async function canary(port: number): Promise<Canary> {
  const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await once(s, 'connect');
  const hs = createHash('sha256'),
    hr = createHash('sha256');
  let sent = 0,
    got = 0,
    running = true;
  s.on('data', (d: Buffer) => {
    hr.update(d);
    got += d.length;
  });
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  const loop = (async () => {
    while (running) {
      const b = randomBytes(16 * 1024);
      hs.update(b);
      sent += b.length;
      if (!s.write(b)) await once(s, 'drain');
      await delay(10);
    }
    s.end();
  })();
  return {
    async stop() {
      running = false;
      await loop;
      await closed;
      return { sent, got, sentSha: hs.digest('hex'), gotSha: hr.digest('hex') };
    },
  };
}

/** A real ClientHello, captured from Node's TLS client. */
async function realClientHello(): Promise<Buffer> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const got = new Promise<Buffer>((resolve) =>
    srv.once('connection', (s: Socket) =>
      s.once('data', (d: Buffer) => {
        resolve(d);
        s.destroy();
      }),
    ),
  );
  const c = tlsConnect({
    port: (srv.address() as { port: number }).port,
    host: '127.0.0.1',
    servername: 'hostile.test',
  });
  c.on('error', () => {});
  const hello = await got;
  c.destroy();
  srv.close();
  return hello;
}

/** Sends `data` (then ends unless `keepOpen`) and resolves with the close: how long it took, what came back. */
async function sendAndClose(
  port: number,
  data: Buffer,
  opts: { keepOpen?: boolean; localAddress?: string } = {},
): Promise<{ ms: number; bytes: number }> {
  const t0 = Date.now();
  const s = connect({ port, host: '127.0.0.1', localAddress: opts.localAddress });
  let bytes = 0;
  s.on('data', (d: Buffer) => (bytes += d.length));
  s.on('error', () => {});
  await once(s, 'connect');
  s.write(data);
  if (!opts.keepOpen) s.end();
  await once(s, 'close');
  return { ms: Date.now() - t0, bytes };
}

describe('hostile input', { timeout: 40_000 }, () => {
  let ti: LoggedInstance;
  let echo: Backend;
  let can: Canary;
  const upstreams: { close(): unknown }[] = [];
  const sinkSeen: { bytes: number; closed: boolean }[] = [];
  const halfClose: string[] = [];
  let stallPort = 0,
    resetPort = 0,
    halfPort = 0,
    sinkPort = 0;

  async function backend(handler: (s: Socket) => void): Promise<number> {
    const srv = createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => {});
      handler(s);
    });
    const sockets = new Set<Socket>();
    srv.on('connection', (s: Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    upstreams.push({
      close: () => {
        for (const s of sockets) s.destroy();
        srv.close();
      },
    });
    return (srv.address() as { port: number }).port;
  }

  before(async () => {
    echo = await echoBackend();
    resetPort = await backend((s) => s.once('data', () => s.resetAndDestroy()));
    stallPort = await backend((s) => s.pause()); // never reads, never answers
    halfPort = await backend((s) => {
      s.end('bye');
      let got = '';
      s.on('data', (d) => (got += String(d)));
      s.on('end', () => halfClose.push(got));
    });
    sinkPort = await backend((s) => {
      const seen = { bytes: 0, closed: false };
      sinkSeen.push(seen);
      s.on('data', (d: Buffer) => (seen.bytes += d.length));
      s.on('end', () => s.end());
      s.on('close', () => (seen.closed = true));
    });
    const svc = (name: string, port: number, ip: string, extra = '') => `
  - name: ${name}
    url: tcp://127.0.0.1:${port}${extra}
    routes:
      - { name: r-${name}, protocols: [tcp], sources: [{ ip: ${ip} }] }`;
    ti = await startLogged(
      `_format_version: "3.0"
services:
  - name: echo
    url: tcp://127.0.0.1:${echo.port}
    routes:
      - { name: r-echo, protocols: [tcp], sources: [{ ip: 0.0.0.0/0 }] }
      - { name: r-tls, protocols: [tls], snis: [hostile.test] }
${svc('reset', resetPort, '127.0.0.31')}
${svc('stall', stallPort, '127.0.0.32', '\n    read_timeout: 600\n    write_timeout: 600')}
${svc('half', halfPort, '127.0.0.33')}
${svc('sink', sinkPort, '127.0.0.34')}
`,
      {
        listen: '127.0.0.1:0, 127.0.0.1:0 ssl, 127.0.0.1:0 proxy_protocol',
        settings: { trusted_ips: '127.0.0.0/8', stream_preread_timeout: '1000' },
      },
    );
    can = await canary(ti.ports[0]!);
  });

  after(async () => {
    await ti?.stop();
    await echo?.close();
    for (const u of upstreams) u.close();
  });

  /** The instance still serves, and nothing but the canary is left open. */
  async function healthy(): Promise<void> {
    const r = await exchange(ti.ports[0]!, 'alive?');
    assert.equal(r.data.toString(), 'alive?');
    assert.ok(
      await until(() => ti.inst.stream.activeSessions === 1, 3000),
      `sessions left open: ${ti.inst.stream.activeSessions - 1}`,
    );
  }

  /** Records until the one of route `name` (others, from healthy() probes, are skipped). */
  async function recordOf(name: string) {
    for (;;) {
      const r = await ti.nextRecord(3000);
      if (r.route?.name === name) return r;
    }
  }

  /** Records until one with `status` (others, from healthy() probes, are skipped). */
  async function recordWith(status: number) {
    for (;;) {
      const r = await ti.nextRecord(3000);
      if (r.session.status === status) return r;
    }
  }

  test('garbage, truncated and oversized ClientHellos: closed at once with 400', async () => {
    const ssl = ti.ports[1]!;
    const hello = await realClientHello();
    assert.equal(hello[0], 0x16);
    const cases: [string, Buffer][] = [
      ['garbage', randomBytes(2048)],
      [
        'garbage that starts like a handshake',
        Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x40]), randomBytes(64)]),
      ],
      ['truncated', hello.subarray(0, Math.floor(hello.length / 2))],
      [
        'oversized record',
        Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0xff, 0xff, 0xff]), randomBytes(32 * 1024)]),
      ],
      ['plain text', Buffer.from('GET / HTTP/1.1\r\nHost: hostile.test\r\n\r\n')],
    ];
    for (const [name, bytes] of cases) {
      const r = await sendAndClose(ssl, bytes);
      assert.equal(r.bytes, 0, `${name}: nothing sent back`);
      assert.ok(r.ms < 900, `${name}: closed at once (${r.ms} ms), not at the timeout`);
      assert.equal((await recordWith(400)).session.status, 400);
    }
    // a truncated hello that stays open is cut at stream_preread_timeout
    const r = await sendAndClose(ssl, hello.subarray(0, 40), { keepOpen: true });
    assert.ok(r.ms >= 900 && r.ms < 2500, `held ${r.ms} ms`);
    await healthy();
  });

  test('garbage, truncated and oversized PROXY headers: 400', async () => {
    const pp = ti.ports[2]!;
    const v2len = (n: number) => Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, n >> 8, n & 0xff])]);
    const fast: [string, Buffer][] = [
      ['garbage', randomBytes(512)],
      ['v1 too long', Buffer.from('PROXY TCP4 ' + '1'.repeat(200) + '\r\n')],
      ['v1 bad address', Buffer.from('PROXY TCP4 999.1.1.1 127.0.0.1 1 2\r\nx')],
      ['v2 oversized', Buffer.concat([v2len(0xffff), randomBytes(8192)])],
      ['v2 truncated, then the end', Buffer.concat([v2len(12), Buffer.from([10, 0])])],
    ];
    for (const [name, bytes] of fast) {
      const r = await sendAndClose(pp, bytes);
      assert.equal(r.bytes, 0, `${name}: nothing proxied`);
      assert.ok(r.ms < 900, `${name}: closed at once (${r.ms} ms)`);
      assert.equal((await recordWith(400)).session.status, 400);
    }
    const slow = await sendAndClose(pp, v2len(200), { keepOpen: true });
    assert.ok(
      slow.ms >= 900 && slow.ms < 2500,
      `a v2 header that never completes is cut at the timeout (${slow.ms} ms)`,
    );
    await healthy();
  });

  test('a client sending one byte a second is cut at the preread timeout (ssl and proxy_protocol listeners)', async () => {
    const hello = await realClientHello();
    const pp = Buffer.from('PROXY TCP4 10.0.0.1 127.0.0.1 1 2\r\n');
    const drip = async (port: number, bytes: Buffer) => {
      const t0 = Date.now();
      const s = connect(port, '127.0.0.1');
      s.on('error', () => {});
      await once(s, 'connect');
      let i = 0;
      s.write(bytes.subarray(i, ++i));
      const timer = setInterval(() => {
        if (!s.destroyed) s.write(bytes.subarray(i, ++i));
      }, 1000);
      await once(s, 'close');
      clearInterval(timer);
      return { ms: Date.now() - t0, sent: i };
    };
    const [a, b] = await Promise.all([drip(ti.ports[1]!, hello), drip(ti.ports[2]!, pp)]);
    for (const r of [a, b]) {
      assert.ok(r.ms >= 900 && r.ms < 2500, `cut after ${r.ms} ms`);
      assert.ok(r.sent <= 3, `${r.sent} bytes got in`);
    }
    await healthy();
  });

  test('an upstream that resets: the client is closed, nothing else is', async () => {
    const r = await sendAndClose(ti.ports[0]!, Buffer.from('boom'), { localAddress: '127.0.0.31', keepOpen: true });
    assert.ok(r.ms < 2000);
    const rec = await recordOf('r-reset');
    assert.equal(rec.session.closed_by, 'upstream');
    await healthy();
  });

  test('an upstream that stalls: backpressure holds the client, the write timeout ends the session', async () => {
    const s = connect({ port: ti.ports[0]!, host: '127.0.0.1', localAddress: '127.0.0.32' });
    s.on('error', () => {});
    await once(s, 'connect');
    const t0 = Date.now();
    let written = 0;
    const chunk = Buffer.alloc(256 * 1024);
    // write until the socket pushes back (the proxy stopped reading), at most 64 MiB
    while (written < 64 * 1024 * 1024 && s.write(chunk)) written += chunk.length;
    assert.ok(written < 64 * 1024 * 1024, 'the proxy pushed back instead of buffering without bound');
    await once(s, 'close');
    const ms = Date.now() - t0;
    assert.ok(ms >= 500 && ms < 15_000, `closed after ${ms} ms`); // the write timeout, not the client giving up
    const rec = await recordOf('r-stall');
    assert.equal(rec.session.closed_by, 'proxy');
    assert.ok(rec.session.received < 64 * 1024 * 1024, `read ${rec.session.received} bytes from the client`);
    await healthy();
  });

  test('an upstream that half-closes: its bytes and FIN arrive, the client can still send', async () => {
    const s = connect({ port: ti.ports[0]!, host: '127.0.0.1', localAddress: '127.0.0.33', allowHalfOpen: true });
    s.on('error', () => {});
    let got = '';
    s.on('data', (d) => (got += String(d)));
    await once(s, 'end');
    assert.equal(got, 'bye');
    s.end('sent after the upstream FIN');
    await once(s, 'close');
    assert.ok(await until(() => halfClose.length === 1));
    assert.equal(halfClose[0], 'sent after the upstream FIN');
    await healthy();
  });

  test('clients that vanish mid-transfer: their upstreams are closed, no session leaks', async () => {
    const n = 20;
    await Promise.all(
      Array.from({ length: n }, async () => {
        const s = connect({ port: ti.ports[0]!, host: '127.0.0.1', localAddress: '127.0.0.34' });
        s.on('error', () => {});
        await once(s, 'connect');
        s.write(randomBytes(256 * 1024));
        await delay(20);
        s.resetAndDestroy();
      }),
    );
    // a client reset before the proxy accepted it never reaches the upstream: at most n connections there
    const ok = await until(() => sinkSeen.length > 0 && sinkSeen.length <= n && sinkSeen.every((x) => x.closed));
    assert.ok(
      ok,
      `every upstream connection was closed: ${sinkSeen.filter((x) => x.closed).length} closed of ${sinkSeen.length}`,
    );
    assert.ok(sinkSeen.some((x) => x.bytes > 0));
    await healthy();
  });

  test('the canary stream that ran through all of it arrived intact', async () => {
    const r = await can.stop();
    assert.ok(r.sent > 1024 * 1024, `${r.sent} bytes streamed`);
    assert.equal(r.got, r.sent);
    assert.equal(r.gotSha, r.sentSha);
    assert.ok(await until(() => ti.inst.stream.activeSessions === 0));
  });
});
