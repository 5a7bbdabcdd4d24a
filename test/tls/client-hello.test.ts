import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { parseClientHello, type ClientHello } from '../../src/tls/client-hello.js';
import { captureHello, nodeClient, openssl, prng } from './helpers.js';

/** Wraps handshake bytes in records, cutting them at the given offsets. */
function records(msg: Buffer, cuts: number[] = [], version = 0x0301): Buffer {
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...cuts, msg.length]) {
    const frag = msg.subarray(prev, c);
    const h = Buffer.from([22, version >> 8, version & 0xff, 0, 0]);
    h.writeUInt16BE(frag.length, 3);
    out.push(h, frag);
    prev = c;
  }
  return Buffer.concat(out);
}

const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
const vec16 = (b: Buffer): Buffer => Buffer.concat([u16(b.length), b]);
const ext = (type: number, body: Buffer): Buffer => Buffer.concat([u16(type), vec16(body)]);

/** A synthetic ClientHello handshake message (header included). */
function helloMsg(o: { ciphers: number[]; exts?: Buffer[]; noExtensions?: boolean }): Buffer {
  const body = Buffer.concat([
    u16(0x0303),
    Buffer.alloc(32, 7),
    Buffer.from([0]),
    vec16(Buffer.concat(o.ciphers.map(u16))),
    Buffer.from([1, 0]),
    o.noExtensions ? Buffer.alloc(0) : vec16(Buffer.concat(o.exts ?? [])),
  ]);
  return Buffer.concat([Buffer.from([1, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]), body]);
}

function ok(buf: Buffer): ClientHello {
  const r = parseClientHello(buf);
  assert.equal(r.kind, 'ok', JSON.stringify(r));
  return (r as { hello: ClientHello }).hello;
}

function reason(buf: Buffer): string {
  const r = parseClientHello(buf);
  assert.equal(r.kind, 'error', JSON.stringify(r));
  return (r as { reason: string }).reason;
}

describe('parseClientHello on real hellos', () => {
  const hellos = {} as Record<'tls13' | 'tls12' | 'openssl', Buffer>;
  before(async () => {
    hellos.tls13 = await captureHello(nodeClient({ servername: 'Example.COM', ALPNProtocols: ['h2', 'http/1.1'] }));
    hellos.tls12 = await captureHello(nodeClient({ maxVersion: 'TLSv1.2' })); // IP host: Node sends no SNI
    hellos.openssl = await captureHello(
      (port) =>
        void openssl(['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'api.test', '-alpn', 'x-test']),
    );
  });

  test('TLS 1.3 from Node with SNI and ALPN', () => {
    const h = ok(hellos.tls13);
    assert.equal(h.version, 0x0303);
    assert.equal(h.sni, 'example.com');
    assert.deepEqual(h.alpn, ['h2', 'http/1.1']);
    assert.ok(h.supportedVersions.includes(0x0304));
    assert.ok(h.cipherSuites.includes(0x1301));
    assert.ok(h.signatureAlgorithms.includes(0x0403)); // ecdsa_secp256r1_sha256
    assert.equal(h.length, hellos.tls13.length);
  });

  test('TLS 1.2 from Node without SNI', () => {
    const h = ok(hellos.tls12);
    assert.equal(h.sni, undefined);
    assert.deepEqual(h.alpn, []);
    assert.ok(!h.supportedVersions.includes(0x0304));
    assert.ok(h.cipherSuites.length > 5);
  });

  test('openssl s_client -servername', () => {
    const h = ok(hellos.openssl);
    assert.equal(h.sni, 'api.test');
    assert.deepEqual(h.alpn, ['x-test']);
  });

  test('every prefix of a hello asks for more, with a needed length past it', () => {
    for (const [name, buf] of Object.entries(hellos)) {
      for (let i = 0; i < buf.length; i++) {
        const r = parseClientHello(buf.subarray(0, i));
        assert.equal(r.kind, 'need-more', `${name} at ${i}`);
        if (r.kind === 'need-more' && r.needed !== undefined)
          assert.ok(r.needed > i, `${name} at ${i}: needed ${r.needed}`);
      }
    }
  });

  test('a hello split across two records at every offset parses the same', () => {
    for (const [name, buf] of Object.entries(hellos)) {
      const want = ok(buf);
      const msg = buf.subarray(5);
      for (let cut = 1; cut < msg.length; cut++) {
        const two = records(msg, [cut]);
        const got = ok(two);
        assert.deepEqual({ ...got, length: 0 }, { ...want, length: 0 }, `${name} cut at ${cut}`);
        assert.equal(got.length, two.length);
        // and both records arriving byte by byte still only ask for more until the end
        if (cut % 37 === 0)
          for (let i = 0; i < two.length; i++) assert.equal(parseClientHello(two.subarray(0, i)).kind, 'need-more');
      }
    }
  });

  test('bytes after the hello (early data) are not counted in length', () => {
    const buf = Buffer.concat([hellos.tls13, Buffer.from([23, 3, 3, 0, 1, 0])]);
    assert.equal(ok(buf).length, hellos.tls13.length);
  });

  test('a hello whose own lengths overrun its handshake message is an error', () => {
    const msg = hellos.tls12.subarray(5);
    for (const n of [30, 40, 60, 80, msg.length - 1]) {
      const cut = Buffer.from(msg.subarray(0, n));
      cut.writeUIntBE(n - 4, 1, 3); // the handshake header claims just what is there
      assert.match(reason(records(cut)), /truncated|length|overruns/, `cut at ${n}`);
    }
    // while a short record under a longer handshake header only waits for the next record
    assert.equal(parseClientHello(records(msg.subarray(0, 60))).kind, 'need-more');
  });
});

describe('parseClientHello on synthetic input', () => {
  test('GREASE values are ignored', () => {
    const msg = helloMsg({
      ciphers: [0x0a0a, 0x1301, 0xfafa, 0xc02f],
      exts: [
        ext(0x3a3a, Buffer.alloc(0)),
        ext(43, Buffer.from([6, 0x2a, 0x2a, 0x03, 0x04, 0x03, 0x03])),
        ext(13, vec16(Buffer.from([0x1a, 0x1a, 0x04, 0x03]))),
      ],
    });
    const h = ok(records(msg));
    assert.deepEqual(h.cipherSuites, [0x1301, 0xc02f]);
    assert.deepEqual(h.supportedVersions, [0x0304, 0x0303]);
    assert.deepEqual(h.signatureAlgorithms, [0x0403]);
  });

  test('a hello without extensions (SSLv3 era) parses', () => {
    const h = ok(records(helloMsg({ ciphers: [0x002f], noExtensions: true }), [], 0x0300));
    assert.deepEqual(h.cipherSuites, [0x002f]);
  });

  test('SNI is lower-cased and its trailing dot dropped', () => {
    const name = Buffer.from('WWW.Example.ORG.');
    const sni = ext(0, vec16(Buffer.concat([Buffer.from([0]), vec16(name)])));
    assert.equal(ok(records(helloMsg({ ciphers: [0x1301], exts: [sni] }))).sni, 'www.example.org');
  });

  test('an SNI entry overrunning its extension is an error', () => {
    const sni = ext(0, Buffer.from([0, 5, 0, 0, 9, 0x61, 0x62]));
    assert.match(reason(records(helloMsg({ ciphers: [0x1301], exts: [sni] }))), /server_name/);
  });

  test('SSLv2-compatible hello is rejected with a reason', () => {
    const v2 = Buffer.from([0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10]);
    assert.match(reason(v2), /SSLv2/);
  });

  test('plain text, garbage and non-hello handshakes are errors', () => {
    assert.match(reason(Buffer.from('GET / HTTP/1.1\r\n')), /not TLS/);
    assert.match(reason(Buffer.from([22, 9, 9, 0, 1, 1])), /not TLS/);
    assert.match(reason(Buffer.from([22, 3, 1, 0, 4, 2, 0, 0, 0])), /not a ClientHello/);
    assert.match(reason(Buffer.from([22, 3, 1, 0, 0])), /empty/);
    assert.match(
      reason(Buffer.concat([records(Buffer.from([1, 0, 0, 50, 3])), Buffer.from([21, 3, 1, 0, 2, 2, 40])])),
      /type 21/,
    );
  });

  test('oversized records and hellos are refused as too large', () => {
    assert.match(reason(Buffer.from([22, 3, 1, 0x40, 0x01])), /too large/);
    assert.match(reason(records(Buffer.from([1, 0, 0x4e, 0x20]))), /too large/);
    // at the limit it is still only waiting for more
    assert.equal(parseClientHello(records(Buffer.from([1, 0, 0x40, 0x00]))).kind, 'need-more');
  });

  test('the empty buffer asks for a record header', () => {
    assert.deepEqual(parseClientHello(Buffer.alloc(0)), { kind: 'need-more', needed: 5 });
  });
});

describe('parseClientHello property: never throws, never claims bytes it does not have', () => {
  function check(buf: Buffer): void {
    const r = parseClientHello(buf);
    if (r.kind === 'ok') assert.ok(r.hello.length <= buf.length && r.hello.length > 0);
    else if (r.kind === 'need-more' && r.needed !== undefined) assert.ok(r.needed > buf.length);
    else if (r.kind === 'error') assert.equal(typeof r.reason, 'string');
  }

  test('random records and mutated real hellos', async () => {
    const base = await captureHello(nodeClient({ servername: 'prop.test', ALPNProtocols: ['h2'] }));
    const rnd = prng(0xc0ffee);
    const int = (n: number): number => Math.floor(rnd() * n);
    let oks = 0;
    for (let i = 0; i < 3000; i++) {
      // random bytes behind a plausible header, so the parse goes deep
      const body = Buffer.from(Array.from({ length: int(300) }, () => int(256)));
      const msg = Buffer.concat([Buffer.from([1, 0, body.length >> 8, body.length & 0xff]), body]);
      const buf = int(4) === 0 ? body : records(msg, int(2) ? [] : [1 + int(Math.max(1, msg.length - 1))]);
      check(buf);
    }
    for (let i = 0; i < 4000; i++) {
      const buf = Buffer.from(base);
      const flips = 1 + int(4);
      for (let f = 0; f < flips; f++) buf[int(buf.length)] = int(4) === 0 ? 0xff : int(256);
      const cut = int(3) === 0 ? buf.subarray(0, int(buf.length + 1)) : buf;
      check(cut);
      if (parseClientHello(cut).kind === 'ok') oks++;
    }
    assert.ok(oks > 100, `mutations that still parse: ${oks}`); // most flips hit random or key bytes
  });
});
