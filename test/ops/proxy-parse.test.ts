import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeProxyV1, encodeProxyV2 } from '../../src/proxy-protocol/encode.js';
import { formatV6, parseProxyHeader, V2_SIGNATURE, type ParseResult } from '../../src/proxy-protocol/parse.js';
import { compileTrustedIps } from '../../src/proxy-protocol/trusted.js';

const ok = (r: ParseResult) => {
  assert.equal(r.kind, 'ok', JSON.stringify(r));
  return r;
};
const err = (r: ParseResult, re?: RegExp) => {
  assert.equal(r.kind, 'error', JSON.stringify(r));
  if (re) assert.match((r as { reason: string }).reason, re);
};

test('v1: TCP4, TCP6, UNKNOWN, and the stream bytes after the header', () => {
  const r = ok(parseProxyHeader(Buffer.from('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET /')));
  assert.equal(r.length, 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n'.length);
  assert.deepEqual(r.header.source, { ip: '192.168.0.1', port: 56324 });
  assert.deepEqual(r.header.destination, { ip: '192.168.0.11', port: 443 });
  const six = ok(parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::1 ::1 1 65535\r\n')));
  assert.deepEqual(six.header.source, { ip: '2001:db8::1', port: 1 });
  assert.deepEqual(six.header.destination, { ip: '::1', port: 65535 });
  const unk = ok(parseProxyHeader(Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n')));
  assert.equal(unk.header.source, undefined, 'UNKNOWN: the real addresses are used');
  assert.equal(ok(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))).length, 15);
});

test('v1: need-more on every prefix of a valid header', () => {
  const full = Buffer.from('PROXY TCP4 10.0.0.1 10.0.0.2 1000 2000\r\n');
  for (let i = 0; i < full.length; i++)
    assert.equal(parseProxyHeader(full.subarray(0, i)).kind, 'need-more', `prefix ${i}`);
  assert.equal(ok(parseProxyHeader(full)).length, full.length);
});

test('v1: malformed headers are errors with a reason', () => {
  err(parseProxyHeader(Buffer.from('GET / HTTP/1.1\r\n')), /not a PROXY/);
  err(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n')), /CRLF/);
  err(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 ::1 1 2\r\n')), /address/);
  err(parseProxyHeader(Buffer.from('PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n')), /address/);
  err(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n')), /port/);
  err(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n')), /port/);
  err(parseProxyHeader(Buffer.from('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n')), /protocol/);
  err(parseProxyHeader(Buffer.from('PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n')));
  err(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4\x00 5.6.7.8 1 2\r\n')), /byte/);
  err(parseProxyHeader(Buffer.from('PROXY ' + 'A'.repeat(120))), /107/);
});

function v2(cmd: number, fam: number, body: Buffer): Buffer {
  const h = Buffer.alloc(16);
  V2_SIGNATURE.copy(h);
  h[12] = 0x20 | cmd;
  h[13] = fam;
  h.writeUInt16BE(body.length, 14);
  return Buffer.concat([h, body]);
}

test('v2: encode and parse agree (IPv4, IPv6, mapped, TLVs)', () => {
  const a = ok(parseProxyHeader(encodeProxyV2({ ip: '10.1.2.3', port: 5000 }, { ip: '10.9.9.9', port: 443 })));
  assert.deepEqual([a.header.version, a.header.command, a.header.transport], [2, 'PROXY', 'tcp']);
  assert.deepEqual(a.header.source, { ip: '10.1.2.3', port: 5000 });
  const b = ok(
    parseProxyHeader(
      encodeProxyV2(
        { ip: '2001:db8::1:0:0:1', port: 1 },
        { ip: '::ffff:10.0.0.1', port: 2 },
        { authority: 'example.com', alpn: 'h2' },
      ),
    ),
  );
  assert.deepEqual(b.header.source, { ip: '2001:db8::1:0:0:1', port: 1 });
  assert.deepEqual(b.header.destination, { ip: '::ffff:10.0.0.1', port: 2 }, 'mixed families are sent as IPv6');
  assert.equal(b.header.authority, 'example.com');
  assert.equal(b.header.alpn, 'h2');
  assert.equal(b.header.tlvs.length, 2);
  const u = ok(parseProxyHeader(encodeProxyV2({ ip: 'unix', port: 0 }, { ip: '1.2.3.4', port: 1 })));
  assert.equal(u.header.source, undefined, 'not an IP: AF_UNSPEC');
  assert.equal(
    encodeProxyV1({ ip: '::ffff:1.2.3.4', port: 7 }, { ip: '5.6.7.8', port: 8 }).toString(),
    'PROXY TCP4 1.2.3.4 5.6.7.8 7 8\r\n',
  );
  assert.equal(
    encodeProxyV1({ ip: '1.2.3.4', port: 7 }, { ip: '::1', port: 8 }).toString(),
    'PROXY TCP6 ::ffff:1.2.3.4 ::1 7 8\r\n',
  );
  assert.equal(encodeProxyV1({ ip: 'x', port: 7 }, { ip: '::1', port: 8 }).toString(), 'PROXY UNKNOWN\r\n');
});

test('v2: LOCAL, UNSPEC, UDP, SSL TLV, need-more on every prefix', () => {
  const local = ok(parseProxyHeader(v2(0, 0x11, Buffer.alloc(12, 1))));
  assert.equal(local.header.command, 'LOCAL');
  assert.equal(local.header.source, undefined, 'LOCAL keeps the real addresses');
  const unspec = ok(parseProxyHeader(v2(1, 0x00, Buffer.alloc(0))));
  assert.equal(unspec.header.source, undefined);
  const udp = ok(parseProxyHeader(v2(1, 0x12, Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 0, 80, 0, 81]))));
  assert.equal(udp.header.transport, 'udp');
  assert.deepEqual(udp.header.source, { ip: '1.2.3.4', port: 80 });
  const sub = (t: number, s: string) => Buffer.concat([Buffer.from([t, 0, s.length]), Buffer.from(s)]);
  const sslVal = Buffer.concat([
    Buffer.from([0x07, 0, 0, 0, 0]),
    sub(0x21, 'TLSv1.3'),
    sub(0x22, 'client'),
    sub(0x23, 'TLS_AES_128_GCM_SHA256'),
  ]);
  const tlv = Buffer.concat([Buffer.from([0x20, 0, sslVal.length]), sslVal]);
  const full = v2(1, 0x11, Buffer.concat([Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2]), tlv]));
  const s = ok(parseProxyHeader(Buffer.concat([full, Buffer.from('rest')])));
  assert.equal(s.length, full.length);
  assert.deepEqual(s.header.ssl, {
    client: 7,
    verify: 0,
    version: 'TLSv1.3',
    cn: 'client',
    cipher: 'TLS_AES_128_GCM_SHA256',
  });
  for (let i = 0; i < full.length; i++)
    assert.equal(parseProxyHeader(full.subarray(0, i)).kind, 'need-more', `prefix ${i}`);
});

test('v2: bad version, command, family, sizes and TLVs are errors', () => {
  const good = encodeProxyV2({ ip: '1.2.3.4', port: 1 }, { ip: '5.6.7.8', port: 2 });
  const mut = (i: number, v: number) => {
    const b = Buffer.from(good);
    b[i] = v;
    return b;
  };
  err(parseProxyHeader(mut(12, 0x11)), /version/);
  err(parseProxyHeader(mut(12, 0x22)), /command/);
  err(parseProxyHeader(mut(13, 0x41)), /family/);
  err(parseProxyHeader(mut(13, 0x13)), /transport/);
  err(parseProxyHeader(mut(5, 0x00)), /not a PROXY/);
  err(parseProxyHeader(v2(1, 0x21, Buffer.alloc(12))), /cannot hold/);
  err(parseProxyHeader(v2(1, 0x11, Buffer.concat([Buffer.alloc(12), Buffer.from([0x02, 0, 9, 1])]))), /overruns/);
  err(parseProxyHeader(v2(1, 0x11, Buffer.concat([Buffer.alloc(12), Buffer.from([0x02, 0])]))), /truncated/);
  err(parseProxyHeader(v2(1, 0x11, Buffer.concat([Buffer.alloc(12), Buffer.from([0x20, 0, 2, 1, 0])]))), /SSL/);
  const huge = Buffer.from(good.subarray(0, 16));
  huge.writeUInt16BE(60000, 14);
  err(parseProxyHeader(huge), /more than the 4096/); // refused from the length field alone
  err(parseProxyHeader(huge, 100));
});

test('formatV6 follows RFC 5952', () => {
  const f = (s: string) => {
    const b = encodeProxyV2({ ip: s, port: 1 }, { ip: '::1', port: 1 });
    return formatV6(b, 16);
  };
  assert.equal(f('2001:db8:0:0:0:0:2:1'), '2001:db8::2:1');
  assert.equal(f('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1', 'a single zero group is not shortened');
  assert.equal(f('2001:0:0:1:0:0:0:1'), '2001:0:0:1::1', 'the longest run');
  assert.equal(f('::'), '::');
  assert.equal(f('fe80::'), 'fe80::');
});

/** mulberry32: a seeded PRNG, so a failure can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('property: the parser never throws and never reports a length past the buffer (seeded)', () => {
  const seed = 20240611;
  const rnd = prng(seed);
  const seeds = [
    encodeProxyV2({ ip: '1.2.3.4', port: 1 }, { ip: '5.6.7.8', port: 2 }, { authority: 'a.example', alpn: 'h2' }),
    encodeProxyV2({ ip: '2001:db8::1', port: 1 }, { ip: '::1', port: 2 }),
    Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n'),
    Buffer.from('PROXY TCP6 ::1 ::2 1 2\r\n'),
  ];
  const counts = { ok: 0, error: 0, 'need-more': 0 };
  for (let i = 0; i < 20000; i++) {
    let buf: Buffer;
    const mode = i % 3;
    if (mode === 0) {
      // random bytes, sometimes behind a valid signature
      buf = Buffer.alloc(Math.floor(rnd() * 80));
      for (let j = 0; j < buf.length; j++) buf[j] = Math.floor(rnd() * 256);
      if (rnd() < 0.5) buf = Buffer.concat([V2_SIGNATURE, buf]);
    } else {
      // a valid header with a few bytes flipped, cut at a random place
      buf = Buffer.from(seeds[i % seeds.length]!);
      for (let k = 0; k < 3; k++) buf[Math.floor(rnd() * buf.length)] = Math.floor(rnd() * 256);
      if (mode === 2) buf = buf.subarray(0, Math.floor(rnd() * buf.length));
    }
    let r: ParseResult;
    try {
      r = parseProxyHeader(buf);
    } catch (e) {
      assert.fail(`seed ${seed}, case ${i}: threw ${(e as Error).message} on ${buf.toString('hex')}`);
    }
    counts[r.kind]++;
    if (r.kind === 'ok') assert.ok(r.length <= buf.length, `case ${i}: length ${r.length} > ${buf.length}`);
  }
  assert.ok(counts.ok > 0 && counts.error > 0 && counts['need-more'] > 0, JSON.stringify(counts));
});

test('trusted_ips: addresses, CIDRs, everyone, unix, and clear errors', () => {
  const t = compileTrustedIps(['10.0.0.0/8', '192.168.1.5', '2001:db8::/32']);
  assert.equal(t.isTrusted('10.200.1.1'), true);
  assert.equal(t.isTrusted('::ffff:10.1.1.1'), true, 'IPv4-mapped addresses count as IPv4');
  assert.equal(t.isTrusted('192.168.1.5'), true);
  assert.equal(t.isTrusted('192.168.1.6'), false);
  assert.equal(t.isTrusted('2001:db8:1::1'), true);
  assert.equal(t.isTrusted('2001:db9::1'), false);
  assert.equal(t.isTrusted(undefined), false, 'unix peers only with unix:');
  assert.equal(t.isTrusted('garbage'), false);
  const all = compileTrustedIps(['0.0.0.0/0', '::/0']);
  assert.equal(all.isTrusted('8.8.8.8') && all.isTrusted('2606:4700::1'), true);
  const v4only = compileTrustedIps(['0.0.0.0/0']);
  assert.equal(v4only.isTrusted('::1'), false);
  assert.equal(compileTrustedIps(['unix:']).isTrusted(undefined), true);
  assert.equal(compileTrustedIps([]).empty, true);
  assert.throws(() => compileTrustedIps(['10.0.0.0/33', 'foo']), /trusted_ips.*'10\.0\.0\.0\/33', 'foo'/);
});
