import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { startYaml } from '../helpers/instance.js';
import type { SessionRecord } from '../../src/proxy/record.js';
import { echoServer, exchange } from './plugins-helpers.js';

/** The value of one series in the text exposition (labels in the order prom-client prints them). */
function value(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

function tlsExchange(port: number, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ port, host: '127.0.0.1', servername, rejectUnauthorized: false });
    let data = '';
    s.on('secureConnect', () => s.end('ping'));
    s.on('data', (d) => (data += d));
    s.on('error', reject);
    s.on('end', () => s.destroy());
    s.on('close', () => resolve(data));
  });
}

function yaml(backend: number, extra = ''): string {
  return `_format_version: "3.0"
services:
  - name: svc
    url: tcp://127.0.0.1:${backend}
    routes:
      - name: r-tcp
        protocols: [tcp]
        destinations: [{ ip: 127.0.0.1 }]
        plugins:
          - name: ip-restriction
            protocols: [tcp]
            config: { deny: [127.0.0.9] }
      - name: r-tls
        protocols: [tls]
        snis: [a.example.com]
${extra}`;
}

test('metrics after real traffic: sessions by route/service/status, bytes, connect time, active, TLS, config loads', async (t) => {
  const backend = await echoServer();
  t.after(() => backend.close());
  const ti = await startYaml(yaml(backend.port), { listen: '127.0.0.1:0, 127.0.0.1:0 ssl', tag: 'metrics' });
  t.after(() => ti.stop());
  const [plain, ssl] = ti.ports as [number, number];
  const metrics = ti.inst.runtime.metrics;
  const records: SessionRecord[] = [];
  const take = async (n: number) => {
    for (let i = 0; i < n; i++) records.push(await ti.nextRecord());
  };

  for (let i = 0; i < 3; i++) assert.equal(await exchange(plain), 'ping');
  assert.equal(await exchange(plain, '127.0.0.1', '127.0.0.9'), '');
  for (let i = 0; i < 2; i++) assert.equal(await tlsExchange(ssl, 'a.example.com'), 'ping');
  await exchange(ssl); // plain bytes on an ssl listener: no ClientHello, a failed handshake
  await take(7);
  // a session held open: the active gauge sees it
  const held = connect(plain, '127.0.0.1');
  await new Promise((r) => held.once('connect', r));
  held.write('hold');
  await new Promise((r) => held.once('data', r));
  assert.equal(value(await metrics.metricsText(), 'kong_stream_connections_active'), 1);
  held.end();
  await take(1);

  const text = await metrics.metricsText();
  const sessions = (route: string, code: number) =>
    value(text, `kong_stream_sessions_total{service="svc",route="${route}",code="${code}"}`);
  assert.equal(sessions('r-tcp', 200), 4);
  assert.equal(sessions('r-tcp', 403), 1);
  assert.equal(sessions('r-tls', 200), 2);
  const sum = (route: string, f: (r: SessionRecord) => number) =>
    records.filter((r) => r.route?.name === route).reduce((a, r) => a + f(r), 0);
  for (const route of ['r-tcp', 'r-tls']) {
    assert.equal(
      value(text, `kong_bandwidth_bytes{service="svc",route="${route}",direction="ingress"}`),
      sum(route, (r) => r.session.received),
      route,
    );
    assert.equal(
      value(text, `kong_bandwidth_bytes{service="svc",route="${route}",direction="egress"}`),
      sum(route, (r) => r.session.sent),
      route,
    );
  }
  assert.equal(
    sum('r-tls', (r) => r.session.sent),
    8,
    'egress counts the plain bytes of terminated TLS',
  );
  assert.equal(
    value(text, 'kong_stream_upstream_connect_ms_count{service="svc",route="r-tcp"}'),
    4,
    'connect time of each connected session',
  );
  assert.equal(
    value(text, 'kong_stream_upstream_connect_ms_bucket{le="+Inf",service="svc",route="r-tcp"}'),
    4,
    'a histogram with buckets',
  );
  assert.ok(value(text, 'kong_stream_upstream_connect_ms_bucket{le="1000",service="svc",route="r-tcp"}')! >= 1);
  assert.equal(value(text, 'kong_session_duration_ms_count{service="svc",route="r-tls"}'), 2);
  assert.equal(value(text, 'kong_stream_connections_active'), 0, 'every connection closed');
  assert.equal(value(text, 'kong_stream_tls_handshakes_total{result="ok"}'), 2);
  assert.equal(value(text, 'kong_stream_tls_handshakes_total{result="failed"}'), 1);
  assert.equal(value(text, 'kong_config_loads_total{outcome="success"}'), 1);

  // config loads: a good reload moves success and the generation, a bad one failure (and the live hash stays)
  const hash = ti.inst.manager.current!.hash;
  assert.equal(await ti.reload(yaml(backend.port, '# changed\n')), 'loaded');
  assert.equal(await ti.reload(yaml(backend.port, 'bogus: [\n')), 'invalid');
  const after = await metrics.metricsText();
  assert.equal(value(after, 'kong_config_loads_total{outcome="success"}'), 2);
  assert.equal(value(after, 'kong_config_loads_total{outcome="failure"}'), 1);
  assert.equal(value(after, 'kong_config_generation'), 2);
  const live = ti.inst.manager.current!.hash;
  assert.notEqual(live, hash);
  assert.equal(value(after, `kong_config_info{hash="${live}"}`), 1);
  assert.equal(value(after, `kong_config_info{hash="${hash}"}`), undefined, 'the old hash is gone');
});

test('the prometheus plugin does not count a session twice', async (t) => {
  const backend = await echoServer();
  t.after(() => backend.close());
  const ti = await startYaml(
    yaml(
      backend.port,
      `plugins:
  - name: prometheus
    protocols: [tcp, tls]
    config: { bandwidth_metrics: true, latency_metrics: true }
`,
    ),
    { tag: 'prom' },
  );
  t.after(() => ti.stop());
  for (let i = 0; i < 2; i++) assert.equal(await exchange(ti.ports[0]!), 'ping');
  await ti.nextRecord();
  await ti.nextRecord();
  const text = await ti.inst.runtime.metrics.metricsText();
  assert.equal(value(text, 'kong_stream_sessions_total{service="svc",route="r-tcp",code="200"}'), 2);
  assert.equal(value(text, 'kong_bandwidth_bytes{service="svc",route="r-tcp",direction="ingress"}'), 8);
});
