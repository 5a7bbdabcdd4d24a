/**
 * PROXY protocol v2 over UDP: a header in front of every datagram to upstreams of services tagged
 * `kong-ts.proxy_protocol=v2`, and headers received on `udp proxy_protocol` listeners from trusted_ips.
 * The backend parses each header itself (independently of src/proxy-protocol) and answers with what it saw.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo } from 'node:dgram';
import { once } from 'node:events';
import { startYaml } from '../helpers/instance.js';
import { listenSpec } from '../helpers/entities.js';
import { closeSocket, sleep, startProxy, udpClient, udpSnapshot } from './helpers.js';
import { datagramHeader, unwrapDatagram } from '../../src/proxy-protocol/index.js';
import { formatted, HEAD, lines, load } from '../config/helpers.js';

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A v2 header for UDP over IPv4, written here byte by byte after the specification. */
function v2Udp4(src: [string, number], dst: [string, number]): Buffer {
  const b = Buffer.alloc(28);
  SIG.copy(b, 0);
  b[12] = 0x21;
  b[13] = 0x12;
  b.writeUInt16BE(12, 14);
  src[0].split('.').forEach((x, i) => (b[16 + i] = Number(x)));
  dst[0].split('.').forEach((x, i) => (b[20 + i] = Number(x)));
  b.writeUInt16BE(src[1], 24);
  b.writeUInt16BE(dst[1], 26);
  return b;
}

/** Parses the header of one datagram: `src=ip:port dst=ip:port payload` or `NOHEADER payload`. */
function describeDatagram(d: Buffer): string {
  if (d.length < 16 || !d.subarray(0, 12).equals(SIG)) return `NOHEADER ${d.toString()}`;
  if (d[12] !== 0x21 || d[13] !== 0x12) return `BADHEADER ${d[12]} ${d[13]}`;
  const len = d.readUInt16BE(14);
  const ip = (at: number) => `${d[at]}.${d[at + 1]}.${d[at + 2]}.${d[at + 3]}`;
  return `src=${ip(16)}:${d.readUInt16BE(24)} dst=${ip(20)}:${d.readUInt16BE(26)} ${d.subarray(16 + len).toString()}`;
}

async function headerBackend() {
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  const seen: string[] = [];
  s.on('message', (d: Buffer, r: RemoteInfo) => {
    const text = describeDatagram(d);
    seen.push(text);
    s.send(text, r.port, r.address);
  });
  return { port: s.address().port, seen, close: () => closeSocket(s) };
}

test('udp: a v2 header with the real client in front of every datagram, and v2 headers received from trusted_ips', async (t) => {
  const backend = await headerBackend();
  t.after(() => backend.close());
  const yaml = JSON.stringify({
    _format_version: '3.0',
    services: [
      {
        name: 'dns',
        url: `udp://127.0.0.1:${backend.port}`,
        tags: ['kong-ts.proxy_protocol=v2'],
        routes: [{ name: 'u', protocols: ['udp'], sources: [{ ip: '0.0.0.0/0' }] }],
      },
    ],
  });
  const inst = await startYaml(yaml, {
    listen: '127.0.0.1:0 udp, 127.0.0.1:0 udp proxy_protocol',
    settings: { trusted_ips: '127.0.0.1' },
    tag: 'udp-pp',
  });
  t.after(() => inst.stop());
  const [plain, proxied] = inst.inst.udp.addresses().map((a) => a.port) as [number, number];

  // a direct client: the backend sees its address in the header of each datagram
  const c = await udpClient(plain);
  t.after(() => c.close());
  for (const m of ['one', 'two', 'three']) c.send(m);
  const replies = (await c.waitFor(3)).map(String).sort();
  assert.deepEqual(
    replies,
    ['one', 'three', 'two'].map((m) => `src=127.0.0.1:${c.port} dst=127.0.0.1:${plain} ${m}`),
  );

  // a front proxy that forwards two clients: the backend sees each real client, replies come back to the proxy
  const front = await udpClient(proxied);
  t.after(() => front.close());
  front.send(Buffer.concat([v2Udp4(['203.0.113.7', 4242], ['198.51.100.1', 53]), Buffer.from('hello')]));
  front.send(Buffer.concat([v2Udp4(['203.0.113.7', 4242], ['198.51.100.1', 53]), Buffer.from('again')]));
  front.send(Buffer.concat([v2Udp4(['192.0.2.9', 999], ['198.51.100.1', 53]), Buffer.from('other')]));
  const got = (await front.waitFor(3)).map(String).sort();
  assert.deepEqual(got, [
    `src=192.0.2.9:999 dst=127.0.0.1:${proxied} other`,
    `src=203.0.113.7:4242 dst=127.0.0.1:${proxied} again`,
    `src=203.0.113.7:4242 dst=127.0.0.1:${proxied} hello`,
  ]);
  // a datagram without a header on that listener is dropped, not forwarded
  front.send('no header here');
  await sleep(300);
  assert.equal(front.received.length, 3);
  assert.ok(!backend.seen.some((s) => s.includes('no header here')));
  assert.ok(inst.inst.udp.stats().dropped >= 1);

  await inst.stop();
  const clients = inst.records
    .filter((r) => r.protocol === 'udp')
    .map((r) => `${r.client_ip}:${r.client_port}`)
    .sort();
  assert.deepEqual(clients, [`127.0.0.1:${c.port}`, '192.0.2.9:999', '203.0.113.7:4242']);
});

test('udp proxy_protocol listener: datagrams from an address outside trusted_ips are dropped', async (t) => {
  const backend = await headerBackend();
  t.after(() => backend.close());
  const proxy = await startProxy(udpSnapshot('127.0.0.1', backend.port), '127.0.0.1', {
    listeners: [listenSpec('127.0.0.1', 0, { udp: true, proxyProtocol: true })],
    trustedIps: ['10.9.9.9'],
  });
  t.after(() => proxy.close());
  const c = await udpClient(proxy.port);
  t.after(() => c.close());
  c.send(Buffer.concat([v2Udp4(['203.0.113.7', 4242], ['198.51.100.1', 53]), Buffer.from('spoofed')]));
  await sleep(300);
  assert.equal(backend.seen.length, 0);
  assert.equal(proxy.server.stats().dropped, 1);
  assert.equal(proxy.server.stats().sessionsTotal, 0);
});

test('unwrapDatagram: the whole v2 header in the datagram, DGRAM or LOCAL; v1, cut-short and STREAM headers refused', () => {
  const h = v2Udp4(['203.0.113.7', 4242], ['198.51.100.1', 53]);
  const ok = unwrapDatagram(Buffer.concat([h, Buffer.from('x')]));
  assert.ok(ok.ok);
  assert.deepEqual(ok.ok && [ok.source, ok.payload.toString()], [{ ip: '203.0.113.7', port: 4242 }, 'x']);
  assert.deepEqual(datagramHeader({ ip: '203.0.113.7', port: 4242 }, { ip: '198.51.100.1', port: 53 }), h);
  const cut = unwrapDatagram(h.subarray(0, 20));
  assert.equal(cut.ok, false);
  const v1 = unwrapDatagram(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nx'));
  assert.match(!v1.ok ? v1.reason : '', /v1/);
  const stream = Buffer.from(h);
  stream[13] = 0x11;
  assert.match(((r) => (!r.ok ? r.reason : ''))(unwrapDatagram(stream)), /STREAM/);
  const local = Buffer.from(h);
  local[12] = 0x20;
  const l = unwrapDatagram(Buffer.concat([local, Buffer.from('hc')]));
  assert.ok(l.ok && l.source === undefined && l.payload.toString() === 'hc');
});

test('config: kong-ts.proxy_protocol=v1 on a udp service is refused', () => {
  const r = load(
    lines(HEAD, 'services:', '- name: s', '  url: udp://127.0.0.1:53', '  tags: [kong-ts.proxy_protocol=v1]'),
  );
  assert.equal(r.ok, false);
  assert.match(
    formatted(r).join('\n'),
    /kong\.yml:5:10: error: services\[0\]\.tags\[0\]: tag 'kong-ts.proxy_protocol=v1' on a udp service: PROXY protocol v1 has no datagram form, use v2/,
  );
});
