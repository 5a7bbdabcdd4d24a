/**
 * The PROXY protocol against a real HAProxy, both ways: HAProxy sending send-proxy / send-proxy-v2 /
 * send-proxy-v2-ssl-cn (+ authority, crc32c, unique-id TLVs) to a Node server reading with readProxyHeader, and
 * HAProxy accepting (accept-proxy) headers made by encodeProxyV1/V2, its log line naming the source we encoded.
 * (HAProxy 2.6 has no set-proxy-v2-tlv-fmt, which came in 2.9.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { encodeProxyV1, encodeProxyV2 } from '../../src/proxy-protocol/encode.js';
import { PP2_TYPE_CRC32C, PP2_TYPE_UNIQUE_ID, type ProxyHeader } from '../../src/proxy-protocol/parse.js';
import { readProxyHeader } from '../../src/proxy-protocol/read.js';
import { freePort, tempDir } from '../helpers/cli.js';
import { selfSigned, startHAProxy, type HAProxy } from './haproxy.js';

interface Seen {
  header?: ProxyHeader;
  rest: Buffer;
  error?: string;
}

let haproxy: HAProxy;
let node: Server;
let echo: Server;
let syslog: UdpSocket;
const seen: Seen[] = [];
const logLines: string[] = [];
const ports: Record<string, number> = {};

before(async () => {
  const dir = tempDir('ops-haproxy');
  const pem = selfSigned(dir, 'proxy.test');
  // the Node receiver: reads the header, then echoes the stream
  node = createServer({ pauseOnConnect: true }, (s: Socket) => {
    s.on('error', () => {});
    void readProxyHeader(s, { timeoutMs: 2000 }).then((r) => {
      seen.push(r);
      if (r.error) return void s.destroy();
      s.write(r.rest);
      s.pipe(s);
    });
  });
  node.listen(0, '127.0.0.1');
  await once(node, 'listening');
  echo = createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  syslog = createSocket('udp4');
  syslog.on('message', (m) => logLines.push(m.toString()));
  syslog.bind(0, '127.0.0.1');
  await once(syslog, 'listening');
  for (const k of ['v1', 'v2', 'ssl', 'accept']) ports[k] = await freePort();
  const nodePort = (node.address() as { port: number }).port;
  const echoPort = (echo.address() as { port: number }).port;
  haproxy = await startHAProxy(
    dir,
    `
global
  log 127.0.0.1:${syslog.address().port} local0
defaults
  mode tcp
  log global
  timeout connect 2s
  timeout client 5s
  timeout server 5s
listen v1
  bind 127.0.0.1:${ports.v1}
  server n 127.0.0.1:${nodePort} send-proxy
listen v2
  bind 127.0.0.1:${ports.v2}
  server n 127.0.0.1:${nodePort} send-proxy-v2
listen ssl
  bind 127.0.0.1:${ports.ssl} ssl crt ${pem} alpn kong-test
  server n 127.0.0.1:${nodePort} send-proxy-v2-ssl-cn proxy-v2-options authority,crc32c,unique-id
listen accept
  bind 127.0.0.1:${ports.accept} accept-proxy
  log-format "SRC %ci:%cp DST %fi:%fp AUTH %[fc_pp_authority] END"
  server e 127.0.0.1:${echoPort}
`,
    Object.values(ports),
  );
});

after(async () => {
  await haproxy?.stop();
  node?.close();
  echo?.close();
  syslog?.close();
});

/** Sends `text` through `sock`, waits for the echo and closes. */
async function roundTrip(sock: Socket, text: string): Promise<string> {
  let got = '';
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => (got += d));
  sock.write(text);
  const t0 = Date.now();
  while (got.length < text.length && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 10));
  sock.destroy();
  return got;
}

/** The header HAProxy sent for our client port (HAProxy's start-up probes send headers of their own). */
async function seenFrom(port: number): Promise<Seen> {
  const t0 = Date.now();
  for (;;) {
    const s = seen.find((x) => x.header?.source?.port === port);
    if (s) return s;
    assert.ok(Date.now() - t0 < 3000, `the Node server saw a header for client port ${port}: ${JSON.stringify(seen)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const v of ['v1', 'v2'] as const) {
  test(`HAProxy send-proxy${v === 'v2' ? '-v2' : ''}: the header names the client's address`, async () => {
    const c = connect(ports[v]!, '127.0.0.1');
    await once(c, 'connect');
    const local = c.localPort;
    assert.equal(await roundTrip(c, 'hello ' + v), 'hello ' + v, 'the stream after the header is intact');
    const s = await seenFrom(local!);
    assert.equal(s.error, undefined);
    assert.equal(s.header!.version, v === 'v1' ? 1 : 2);
    assert.equal(s.header!.command, 'PROXY');
    assert.deepEqual(s.header!.source, { ip: '127.0.0.1', port: local });
    assert.deepEqual(s.header!.destination, { ip: '127.0.0.1', port: ports[v] });
  });
}

test('HAProxy send-proxy-v2-ssl-cn with authority, crc32c and unique-id TLVs', async () => {
  const c = tlsConnect({
    port: ports.ssl!,
    host: '127.0.0.1',
    servername: 'api.example.test',
    rejectUnauthorized: false,
    ALPNProtocols: ['kong-test'],
  });
  await once(c, 'secureConnect');
  const local = c.localPort;
  assert.equal(await roundTrip(c as unknown as Socket, 'over tls'), 'over tls');
  const s = await seenFrom(local!);
  const h = s.header!;
  assert.deepEqual(h.source, { ip: '127.0.0.1', port: local });
  assert.equal(h.authority, 'api.example.test', 'the SNI arrives as PP2_TYPE_AUTHORITY');
  assert.ok(h.ssl, 'PP2_TYPE_SSL is decoded');
  assert.equal(h.ssl.client & 1, 1, 'client connected over TLS');
  assert.match(h.ssl.version ?? '', /^TLSv1\.[23]$/);
  assert.ok(h.tlvs.some((t) => t.type === PP2_TYPE_CRC32C && t.value.length === 4));
  assert.ok(h.tlvs.some((t) => t.type === PP2_TYPE_UNIQUE_ID));
});

async function logLine(marker: string): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    const line = logLines.find((l) => l.includes(marker));
    if (line) return line;
    if (Date.now() - t0 > 3000)
      throw new Error(`no HAProxy log line with ${marker}; got:\n${logLines.join('\n')}\n${haproxy.output()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const encoded = [
  {
    name: 'v1 IPv4',
    header: () => encodeProxyV1({ ip: '203.0.113.7', port: 4242 }, { ip: '198.51.100.1', port: 443 }),
    want: 'SRC 203.0.113.7:4242 DST 198.51.100.1:443 AUTH - END',
  },
  {
    name: 'v1 IPv6',
    header: () => encodeProxyV1({ ip: '2001:db8::7', port: 4243 }, { ip: '2001:db8::1', port: 8443 }),
    want: 'SRC 2001:db8::7:4243 DST 2001:db8::1:8443',
  },
  {
    name: 'v2 IPv4 from a mapped address',
    header: () => encodeProxyV2({ ip: '::ffff:203.0.113.8', port: 4244 }, { ip: '198.51.100.2', port: 443 }),
    want: 'SRC 203.0.113.8:4244 DST 198.51.100.2:443',
  },
  {
    name: 'v2 IPv6 with authority and ALPN',
    header: () =>
      encodeProxyV2(
        { ip: '2001:db8:0:0:1::9', port: 4245 },
        { ip: '::1', port: 9443 },
        { authority: 'sni.example.test', alpn: 'h2' },
      ),
    want: 'SRC 2001:db8::1:0:0:9:4245 DST ::1:9443 AUTH sni.example.test END',
  },
];

for (const e of encoded) {
  test(`HAProxy accept-proxy reads our ${e.name} header`, async () => {
    const c = connect(ports.accept!, '127.0.0.1');
    await once(c, 'connect');
    c.write(e.header());
    assert.equal(await roundTrip(c, 'payload'), 'payload', 'the bytes after the header reach the backend unchanged');
    const line = await logLine(e.want.split(' ').slice(0, 2).join(' '));
    assert.ok(line.includes(e.want), `log line ${JSON.stringify(line)} has ${e.want}`);
  });
}
