import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { peekClientHello, type PeekOptions, type PeekResult } from '../../src/tls/peek.js';
import { captureHello, close, listen, nodeClient } from './helpers.js';

/** A small valid ClientHello record with SNI `drip.test` (about 70 bytes), for the slow clients. */
function smallHello(): Buffer {
  const name = Buffer.from('drip.test');
  const sniList = Buffer.concat([Buffer.from([0, 0, name.length]), name]);
  const sniExt = Buffer.concat([Buffer.from([0, 0, 0, sniList.length + 2, 0, sniList.length]), sniList]);
  const body = Buffer.concat([
    Buffer.from([3, 3]),
    Buffer.alloc(32, 1),
    Buffer.from([0]),
    Buffer.from([0, 2, 0x13, 0x01]),
    Buffer.from([1, 0]),
    Buffer.from([0, sniExt.length]),
    sniExt,
  ]);
  const msg = Buffer.concat([Buffer.from([1, 0, 0, body.length]), body]);
  return Buffer.concat([Buffer.from([22, 3, 1, 0, msg.length]), msg]);
}

describe('peekClientHello on real sockets', () => {
  let server: net.Server;
  let port: number;
  let opts: PeekOptions = { timeoutMs: 2000, maxBytes: 16 * 1024 + 64 };
  /** results of the peeks, in accept order; the server sockets are kept to check their state */
  const waiting: Array<(r: { res: PeekResult; sock: net.Socket }) => void> = [];

  before(async () => {
    server = net.createServer((sock) => {
      sock.on('error', () => {});
      void peekClientHello(sock, opts).then((res) => waiting.shift()?.({ res, sock }));
    });
    port = await listen(server);
  });
  after(() => close(server));

  function nextPeek(): Promise<{ res: PeekResult; sock: net.Socket }> {
    return new Promise((resolve) => waiting.push(resolve));
  }

  async function client(
    write: (c: net.Socket) => Promise<void>,
  ): Promise<{ res: PeekResult; sock: net.Socket; c: net.Socket }> {
    const got = nextPeek();
    const c = net.connect(port, '127.0.0.1');
    c.setNoDelay(true);
    c.on('error', () => {});
    await new Promise((r) => c.once('connect', r));
    void write(c).catch(() => {});
    const r = await got;
    c.destroy();
    return { ...r, c };
  }

  test('a real hello in one write: SNI found, bytes kept, socket paused with no listeners left', async () => {
    const hello = await captureHello(nodeClient({ servername: 'one.test' }));
    const { res, sock } = await client(async (c) => void c.write(hello));
    assert.equal(res.error, undefined);
    assert.equal(res.hello?.sni, 'one.test');
    assert.deepEqual(res.buffered, hello);
    assert.equal(sock.listenerCount('data'), 0);
    const fresh = new net.Socket();
    for (const ev of ['end', 'error', 'close'])
      assert.equal(sock.listenerCount(ev), fresh.listenerCount(ev) + (ev === 'error' ? 1 : 0), ev);
    assert.ok(sock.isPaused());
  });

  test('a client writing one byte per 5 ms completes', async () => {
    const hello = smallHello();
    const { res } = await client(async (c) => {
      for (let i = 0; i < hello.length && !c.destroyed; i++) {
        c.write(hello.subarray(i, i + 1));
        await sleep(5);
      }
    });
    assert.equal(res.error, undefined);
    assert.equal(res.hello?.sni, 'drip.test');
    assert.deepEqual(res.buffered, hello);
  });

  test('a client writing one byte per second is cut at the timeout', async () => {
    opts = { timeoutMs: 300, maxBytes: 16 * 1024 + 64 };
    const hello = smallHello();
    const t0 = performance.now();
    const { res } = await client(async (c) => {
      for (let i = 0; i < hello.length && !c.destroyed; i++) {
        c.write(hello.subarray(i, i + 1));
        await sleep(1000, undefined, { ref: false });
      }
    });
    const took = performance.now() - t0;
    opts = { timeoutMs: 2000, maxBytes: 16 * 1024 + 64 };
    assert.match(res.error ?? '', /timeout/);
    assert.equal(res.hello, undefined);
    assert.equal(res.buffered.length, 1);
    assert.ok(took >= 280 && took < 1000, `took ${took} ms`);
  });

  test('a plain-text client is reported as not TLS, its bytes kept', async () => {
    const { res } = await client(async (c) => void c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    assert.match(res.error ?? '', /not TLS/);
    assert.equal(res.buffered.toString('latin1', 0, 5), 'GET /');
  });

  test('garbage after a plausible header is reported', async () => {
    const { res } = await client(async (c) => void c.write(Buffer.from([22, 3, 1, 0, 8, 2, 0, 0, 4, 9, 9, 9, 9])));
    assert.match(res.error ?? '', /not a ClientHello/);
  });

  test('EOF inside the hello is reported', async () => {
    const { res } = await client(async (c) => void c.end(smallHello().subarray(0, 20)));
    assert.match(res.error ?? '', /closed/);
    assert.equal(res.buffered.length, 20);
  });

  test('more than maxBytes without a complete hello is refused', async () => {
    opts = { timeoutMs: 2000, maxBytes: 1024 };
    // a hello claiming 12000 bytes, sent in full records of junk extension bytes
    const head = Buffer.from([22, 3, 1, 0x2e, 0xe4, 1, 0, 0x2e, 0xe0]);
    const { res } = await client(async (c) => void c.write(Buffer.concat([head, Buffer.alloc(4000, 0x41)])));
    opts = { timeoutMs: 2000, maxBytes: 16 * 1024 + 64 };
    assert.match(res.error ?? '', /too large/);
    assert.ok(res.buffered.length >= 1024);
  });

  test('a socket already closed resolves at once with an error', async () => {
    const s = new net.Socket();
    s.destroy();
    const res = await peekClientHello(s, opts);
    assert.match(res.error ?? '', /closed/);
  });
});
