import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { startYaml } from '../helpers/instance.js';
import { pki } from '../config/certs.js';
import { datagramCollector, echoServer, exchange, lineCollector, until } from './plugins-helpers.js';

function yamlWith(backend: number, plugins: string): string {
  return `_format_version: "3.0"
services:
  - name: svc
    url: tcp://127.0.0.1:${backend}
    routes:
      - name: r
        protocols: [tcp]
        destinations: [{ ip: 127.0.0.1 }]
plugins:
${plugins}`;
}

function lines(path: string): Record<string, any>[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/** Kong's stream log record fields, checked on one parsed line. */
function assertKongRecord(rec: Record<string, any>, port: number): void {
  assert.equal(rec.session.status, 200);
  assert.equal(rec.session.received, 4);
  assert.equal(rec.session.sent, 4);
  assert.equal(rec.session.server_port, port);
  assert.equal(rec.upstream.received, 4);
  assert.equal(rec.upstream.sent, 4);
  assert.equal(typeof rec.latencies.kong, 'number');
  assert.equal(typeof rec.latencies.session, 'number');
  assert.equal(rec.tries.length, 1);
  assert.equal(rec.tries[0].ip, '127.0.0.1');
  assert.equal(typeof rec.tries[0].balancer_latency, 'number');
  assert.equal(rec.route.name, 'r');
  assert.equal(rec.service.name, 'svc');
  assert.equal(rec.client_ip, '127.0.0.1');
  assert.ok(Math.abs(rec.started_at - Date.now()) < 60_000, 'started_at is ms since the epoch');
}

test('file-log: one JSON line per session with the stream log record, and reopen follows a rename', async (t) => {
  const backend = await echoServer();
  t.after(() => backend.close());
  const ti = await startYaml('_format_version: "3.0"\n', { tag: 'flog' });
  t.after(() => ti.stop());
  const path = join(ti.dir, 'sessions.log');
  const yaml = yamlWith(
    backend.port,
    `  - name: file-log
    protocols: [tcp]
    config: { path: ${path}, reopen: true }
`,
  );
  assert.equal(await ti.reload(yaml), 'loaded');
  const port = ti.ports[0]!;
  for (let i = 0; i < 3; i++) assert.equal(await exchange(port), 'ping');
  await until(() => lines(path).length === 3, 'three lines in the log');
  for (const rec of lines(path)) assertKongRecord(rec, port);

  // log rotation: the file is renamed under the running proxy, the next sessions go to a new file at `path`
  renameSync(path, path + '.1');
  for (let i = 0; i < 2; i++) assert.equal(await exchange(port), 'ping');
  await until(() => lines(path).length === 2, 'two lines in the new file');
  assert.equal(lines(path + '.1').length, 3, 'the rotated file got nothing more');
});

test('tcp-log to a TCP collector and to a TLS collector', async (t) => {
  const backend = await echoServer();
  const plain = await lineCollector();
  const { ecCert, ecKey } = pki();
  const secure = await lineCollector({ tls: { cert: ecCert, key: ecKey } });
  t.after(() => Promise.all([backend.close(), plain.close(), secure.close()]));
  const ti = await startYaml(
    yamlWith(
      backend.port,
      `  - name: tcp-log
    protocols: [tcp]
    config: { host: 127.0.0.1, port: ${plain.port} }
`,
    ),
    { tag: 'tlog' },
  );
  t.after(() => ti.stop());
  const port = ti.ports[0]!;
  for (let i = 0; i < 3; i++) assert.equal(await exchange(port), 'ping');
  await until(() => plain.lines.length === 3, 'three records at the TCP collector');
  for (const l of plain.lines) assertKongRecord(JSON.parse(l), port);

  // tcp-log is a service-level plugin now, over TLS
  assert.equal(
    await ti.reload(`_format_version: "3.0"
services:
  - name: svc
    url: tcp://127.0.0.1:${backend.port}
    plugins:
      - name: tcp-log
        protocols: [tcp]
        config: { host: 127.0.0.1, port: ${secure.port}, tls: true, tls_sni: collector.test }
    routes:
      - name: r
        protocols: [tcp]
        destinations: [{ ip: 127.0.0.1 }]
`),
    'loaded',
  );
  for (let i = 0; i < 2; i++) assert.equal(await exchange(port), 'ping');
  await until(() => secure.lines.length === 2, 'two records at the TLS collector');
  for (const l of secure.lines) assertKongRecord(JSON.parse(l), port);
  assert.equal(plain.lines.length, 3, 'the retired tcp-log sent nothing more');
});

test('udp-log datagrams and RFC 5424 syslog lines over UDP', async (t) => {
  const backend = await echoServer();
  const udp = await datagramCollector();
  const sys = await datagramCollector();
  t.after(() => Promise.all([backend.close(), udp.close(), sys.close()]));
  const ti = await startYaml(
    yamlWith(
      backend.port,
      `  - name: udp-log
    protocols: [tcp]
    config: { host: 127.0.0.1, port: ${udp.port} }
  - name: syslog
    protocols: [tcp]
    config: { target: "udp://127.0.0.1:${sys.port}", facility: local3, successful_severity: notice }
`,
    ),
    { tag: 'ulog' },
  );
  t.after(() => ti.stop());
  const port = ti.ports[0]!;
  for (let i = 0; i < 2; i++) assert.equal(await exchange(port), 'ping');
  await until(() => udp.messages.length === 2 && sys.messages.length === 2, 'two datagrams at each collector');
  for (const m of udp.messages) assertKongRecord(JSON.parse(m), port);
  for (const m of sys.messages) {
    // <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG; local3 (19) * 8 + notice (5) = 157
    const m5424 = /^<157>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (\S+) kong (\d+) - - (\{.*\})$/.exec(m);
    assert.ok(m5424, m);
    assert.ok(!Number.isNaN(Date.parse(m5424[1]!)));
    assert.equal(Number(m5424[3]), process.pid);
    assertKongRecord(JSON.parse(m5424[4]!), port);
  }
});
