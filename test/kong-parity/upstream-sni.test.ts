/**
 * Upstream TLS server name as Kong's stream proxy sends it (`proxy_ssl_name $upstream_host`,
 * kong/templates/nginx_kong_stream.lua:131): the client's SNI with a route's `preserve_host`
 * (kong/router/atc.lua:551), else the upstream's `host_header` (kong/runloop/balancer/init.lua:395), else the
 * target's host name. Checked against a real TLS upstream that records the names it was sent.
 */
import assert from 'node:assert/strict';
import { lookup } from 'node:dns/promises';
import { after, before, describe, test } from 'node:test';
import {
  ca,
  echoBack,
  kongFile,
  leaf,
  startLogged,
  tlsClient,
  tlsEchoServer,
  type LoggedInstance,
} from '../e2e/tls-helpers.js';

type Up = Awaited<ReturnType<typeof tlsEchoServer>>;

describe('upstream TLS SNI: preserve_host and host_header (Kong parity)', () => {
  let up: Up;
  let ti: LoggedInstance;
  let ssl: number;

  before(async () => {
    // the name 'localhost' resolves to one loopback address: the upstream listens on that one
    up = await tlsEchoServer(leaf(ca('Parity Root'), ['localhost']), (await lookup('localhost')).address);
    const target = `localhost:${up.port}`;
    ti = await startLogged(
      kongFile({
        upstreams: [
          { name: 'with-header', host_header: 'upstream.example.test', targets: [{ target }] },
          { name: 'plain-up', targets: [{ target }] },
        ],
        services: [
          {
            name: 'preserve',
            protocol: 'tls',
            host: 'plain-up',
            port: up.port,
            routes: [{ name: 'preserve', protocols: ['tls'], snis: ['client.example.test'], preserve_host: true }],
          },
          {
            name: 'header',
            protocol: 'tls',
            host: 'with-header',
            port: up.port,
            routes: [{ name: 'header', protocols: ['tls'], snis: ['header.example.test'] }],
          },
          {
            name: 'target',
            protocol: 'tls',
            host: 'plain-up',
            port: up.port,
            routes: [{ name: 'target', protocols: ['tls'], snis: ['target.example.test'] }],
          },
        ],
      }),
    );
    ssl = ti.ports[0]!;
  });
  after(async () => {
    await ti?.stop();
    await up?.close();
  });

  async function sentName(clientSni: string): Promise<string | false | undefined> {
    const h = await tlsClient(ssl, { servername: clientSni });
    try {
      assert.equal(await echoBack(h.socket, 'hi', 5000), 'hi');
    } finally {
      h.socket.destroy();
    }
    return up.sni.at(-1);
  }

  test("preserve_host: the client's SNI goes upstream (atc.lua:551 upstream_host = sni)", async () => {
    assert.equal(await sentName('client.example.test'), 'client.example.test');
  });
  test("an upstream's host_header is the upstream SNI (balancer/init.lua:395)", async () => {
    assert.equal(await sentName('header.example.test'), 'upstream.example.test');
  });
  test("otherwise the target's host name (balancer/init.lua:446)", async () => {
    assert.equal(await sentName('target.example.test'), 'localhost');
  });
});
