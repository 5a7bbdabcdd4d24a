/**
 * The `json` access log against real sessions through a running kong-ts: a plain TCP session and a terminated
 * TLS one, every documented field checked against what the clients and the upstream saw.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startYaml } from '../helpers/instance.js';
import { connectTo, startEcho } from '../helpers/sockets.js';
import { ca, certEntity, echoBack, kongFile, leaf, tlsClient } from './tls-helpers.js';
import type { JsonAccessRecord } from '../../src/proxy/access-log.js';

const FIELDS = [
  'time',
  'started_at',
  'protocol',
  'client_ip',
  'client_port',
  'server_ip',
  'server_port',
  'listener',
  'sni',
  'route_id',
  'route_name',
  'service_id',
  'service_name',
  'upstream',
  'status',
  'bytes_received',
  'bytes_sent',
  'upstream_bytes_sent',
  'upstream_bytes_received',
  'duration_ms',
  'proxy_ms',
  'connect_ms',
  'tries',
  'closed_by',
  'config_hash',
];

test('proxy_stream_access_log = PATH json: one object per session with the documented fields', async () => {
  const echo = await startEcho();
  const root = ca('Log Root');
  const ti = await startYaml(
    kongFile({
      certificates: [certEntity(leaf(root, ['log.test']), ['log.test'])],
      services: [
        {
          name: 'echo',
          url: `tcp://127.0.0.1:${echo.port}`,
          routes: [
            { name: 'plain', protocols: ['tcp'], sources: [{ ip: '127.0.0.1' }] },
            { name: 'term', protocols: ['tls'], snis: ['log.test'] },
          ],
        },
      ],
    }),
    { listen: '127.0.0.1:0, 127.0.0.1:0 ssl', settings: { proxy_stream_access_log: 'logs/access.json json' } },
  );
  try {
    const hash = createHash('md5').update(readFileSync(ti.file)).digest('hex');
    const c = await connectTo(ti.ports[0]!);
    const clientPort = c.localPort!;
    assert.equal(await echoBack(c, 'hello json'), 'hello json');
    c.end();
    await ti.nextRecord();
    const h = await tlsClient(ti.ports[1]!, { servername: 'log.test', ca: root.cert, rejectUnauthorized: true });
    assert.equal(await echoBack(h.socket, 'over tls'), 'over tls');
    h.socket.end();
    await ti.nextRecord();
    await ti.stop(); // flushes the log
    const lines = readFileSync(join(ti.dir, 'prefix', 'logs', 'access.json'), 'utf8')
      .trim()
      .split('\n');
    assert.equal(lines.length, 2);
    const [tcp, tls] = lines.map((l) => JSON.parse(l) as JsonAccessRecord);
    assert.deepEqual(Object.keys(tcp!), FIELDS);
    assert.deepEqual(Object.keys(tls!), FIELDS);
    assert.equal(tcp!.protocol, 'tcp');
    assert.deepEqual(
      [tcp!.client_ip, tcp!.client_port, tcp!.server_ip, tcp!.server_port],
      ['127.0.0.1', clientPort, '127.0.0.1', ti.ports[0]],
    );
    assert.equal(tcp!.sni, null);
    assert.deepEqual(
      [tcp!.route_name, tcp!.service_name, tcp!.upstream, tcp!.status, tcp!.tries],
      ['plain', 'echo', `127.0.0.1:${echo.port}`, 200, 1],
    );
    assert.match(tcp!.route_id!, /^[0-9a-f-]{36}$/);
    assert.match(tcp!.service_id!, /^[0-9a-f-]{36}$/);
    assert.deepEqual(
      [tcp!.bytes_received, tcp!.bytes_sent, tcp!.upstream_bytes_sent, tcp!.upstream_bytes_received],
      [10, 10, 10, 10],
    );
    assert.ok(tcp!.duration_ms >= tcp!.proxy_ms && tcp!.connect_ms !== null && tcp!.connect_ms >= 0);
    assert.ok(Date.parse(tcp!.time) >= tcp!.started_at);
    assert.equal(tcp!.config_hash, hash);
    assert.equal(tls!.protocol, 'tls');
    assert.deepEqual(
      [tls!.sni, tls!.route_name, tls!.server_port, tls!.upstream_bytes_sent],
      ['log.test', 'term', ti.ports[1], 8],
    );
    assert.deepEqual([tls!.bytes_received, tls!.bytes_sent, tls!.upstream_bytes_received], [8, 8, 8]);
    assert.equal(tls!.config_hash, hash);
  } finally {
    await ti.stop().catch(() => undefined);
    await echo.close();
  }
});
