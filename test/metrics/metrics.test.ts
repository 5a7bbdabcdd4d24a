import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Histogram, Registry } from 'prom-client';
import { Metrics } from '../../src/metrics/metrics.js';
import { prometheus } from '../../src/plugins/bundled/prometheus.js';
import { compilePluginChains } from '../../src/plugins/chain.js';
import { silentLogger } from '../../src/log.js';
import { entity, record } from '../plugins/helpers.js';

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function populated(): Metrics {
  const m = new Metrics();
  m.observeSession(record({}, 200));
  m.observeSession(record({ latencies: { kong: 1, session: 1500, connect: 40 } }, 200));
  m.observeSession(record({}, 502));
  m.observeSession(record({ route: { id: 'unnamed-route-id' }, service: { id: 'unnamed-service-id' } }, 403));
  m.observeSession(record({ route: undefined, service: undefined }, 500));
  m.connectionOpened();
  m.connectionOpened();
  m.connectionOpened();
  m.connectionClosed();
  m.tlsHandshake(true);
  m.tlsHandshake(true);
  m.tlsHandshake(false);
  m.setTargetHealth('backend', '10.0.0.1:8000', 'healthy');
  m.setTargetHealth('backend', '10.0.0.2:8000', 'unhealthy');
  m.configLoaded(true, { hash: 'aaaa', generation: 1 });
  m.configLoaded(false);
  m.configLoaded(true, { hash: 'bbbb', generation: 2 });
  m.pluginError('tcp-log');
  m.logDropped('tcp-log', 9000);
  return m;
}

test('metrics text holds the expected series after a few sessions', async () => {
  const text = await populated().metricsText();
  const expect: Array<[string, number]> = [
    ['kong_stream_sessions_total{service="s1",route="r1",code="200"}', 2],
    ['kong_stream_sessions_total{service="s1",route="r1",code="502"}', 1],
    ['kong_stream_sessions_total{service="unnamed-service-id",route="unnamed-route-id",code="403"}', 1],
    ['kong_stream_sessions_total{service="",route="",code="500"}', 1],
    ['kong_bandwidth_bytes{service="s1",route="r1",direction="ingress"}', 360],
    ['kong_bandwidth_bytes{service="s1",route="r1",direction="egress"}', 3 * 4096],
    ['kong_session_duration_ms_count{service="s1",route="r1"}', 3],
    ['kong_session_duration_ms_bucket{le="50",service="s1",route="r1"}', 2],
    ['kong_stream_upstream_connect_ms_sum{service="s1",route="r1"}', 44],
    ['kong_stream_connections_active', 2],
    ['kong_stream_tls_handshakes_total{result="ok"}', 2],
    ['kong_stream_tls_handshakes_total{result="failed"}', 1],
    ['kong_upstream_target_health{upstream="backend",target="10.0.0.1:8000",state="healthy"}', 1],
    ['kong_upstream_target_health{upstream="backend",target="10.0.0.2:8000",state="healthy"}', 0],
    ['kong_upstream_target_health{upstream="backend",target="10.0.0.2:8000",state="unhealthy"}', 1],
    ['kong_config_loads_total{outcome="success"}', 2],
    ['kong_config_loads_total{outcome="failure"}', 1],
    ['kong_config_info{hash="bbbb"}', 1],
    ['kong_config_generation', 2],
    ['kong_stream_plugin_errors_total{plugin="tcp-log"}', 1],
    ['kong_stream_log_records_dropped_total{plugin="tcp-log"}', 9000],
  ];
  for (const [series, value] of expect) assert.equal(sample(text, series), value, series);
  assert.equal(sample(text, 'kong_config_info{hash="aaaa"}'), undefined, 'only the live hash is exported');
  const last = sample(text, 'kong_config_last_success_timestamp_seconds')!;
  assert.ok(Math.abs(last - Date.now() / 1000) < 60);
  assert.doesNotMatch(text, /client_ip|127\.0\.0\.1/, 'no client address in any label');
});

test('the metrics text passes promtool check metrics', async (t) => {
  const which = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (which.error) {
    t.skip('promtool is not installed (apt-get install -y prometheus provides it): exposition format not checked');
    return;
  }
  const text = await populated().metricsText();
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  // promtool lints as well as parses. Allowed: the style findings on Kong's own names, kept for Kong's
  // dashboards (`kong_bandwidth_bytes` without `_total`, latencies in `_ms`). A parse error fails.
  const allowed = [
    /^kong_bandwidth_bytes counter metrics should have "_total" suffix$/,
    /^kong_\w+_ms metric names should not contain abbreviated units$/,
  ];
  const findings = (r.stdout + r.stderr)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !allowed.some((re) => re.test(l)));
  assert.deepEqual(findings, [], `promtool: ${r.stdout}${r.stderr}`);
});

test('the prometheus plugin adds nothing per session: the data path counts every session once', async () => {
  const metrics = new Metrics();
  const chains = compilePluginChains(
    [entity('prometheus', { route: 'r2-id', config: { bandwidth_metrics: true, latency_metrics: true } })],
    new Map([['prometheus', prometheus]]),
    silentLogger,
    { metrics },
  );
  const chain = chains.forRoute('r2-id', 's1-id');
  assert.equal(chain.hasLog, false, 'no log step: a session is not counted a second time');
  metrics.observeSession(record({ route: { id: 'r2-id', name: 'r2' } }));
  chain.log(record({ route: { id: 'r2-id', name: 'r2' } }));
  const text = await metrics.metricsText();
  assert.equal(sample(text, 'kong_stream_sessions_total{service="s1",route="r2",code="200"}'), 1);
  assert.equal(sample(text, 'kong_bandwidth_bytes{service="s1",route="r2",direction="ingress"}'), 120);
  assert.equal(sample(text, 'kong_stream_upstream_connect_ms_count{service="s1",route="r2"}'), 1);
});

test('the session series export what prom-client would: bounds, overflow, sums, renamed and re-used labels', async () => {
  const m = new Metrics();
  const durations = [0, 1, 1.5, 2, 59_999, 60_000, 60_001, 1e9, 7, 7];
  for (const d of durations) m.observeSession(record({ latencies: { kong: 0, session: d, connect: 3 } }));
  // r1 renamed, then another route takes its old name: r1's old counts stay, the two "r1" series add up
  m.observeSession(record({ route: { id: 'r1-id', name: 'r1-renamed' } }, 502));
  m.observeSession(record({ route: { id: 'r9-id', name: 'r1' }, latencies: { kong: 0, session: 5, connect: 3 } }));
  const text = await m.metricsText();

  // the same observations through prom-client's own histogram, rendered by its own registry
  const registry = new Registry();
  const own = new Histogram({
    name: 'kong_session_duration_ms',
    help: 'x',
    labelNames: ['service', 'route'],
    buckets: [1, 2, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 750, 1000, 2000, 5000, 10000, 30000, 60000],
    registers: [registry],
  });
  for (const d of [...durations, 5]) own.observe({ service: 's1', route: 'r1' }, d);
  const ownText = await registry.metrics();
  const lines = (t: string) =>
    t.split('\n').filter((l) => l.startsWith('kong_session_duration_ms') && l.includes('route="r1"'));
  assert.deepEqual(lines(text), lines(ownText));
  assert.equal(lines(text).length, 23, '20 bounds, +Inf, sum, count');

  assert.equal(sample(text, 'kong_stream_sessions_total{service="s1",route="r1",code="200"}'), 11);
  assert.equal(sample(text, 'kong_stream_sessions_total{service="s1",route="r1-renamed",code="502"}'), 1);
  assert.equal(sample(text, 'kong_stream_upstream_connect_ms_count{service="s1",route="r1"}'), 11);
  assert.equal(sample(text, 'kong_bandwidth_bytes{service="s1",route="r1",direction="ingress"}'), 11 * 120);
  // read twice: the export is rebuilt, not added to
  assert.equal(sample(await m.metricsText(), 'kong_stream_sessions_total{service="s1",route="r1",code="200"}'), 11);
});

test('a renamed route gets fresh labels; observeSession cost', async (t) => {
  const m = new Metrics();
  m.observeSession(record());
  m.observeSession(record({ route: { id: 'r1-id', name: 'r1-renamed' } }));
  const text = await m.metricsText();
  assert.equal(sample(text, 'kong_stream_sessions_total{service="s1",route="r1-renamed",code="200"}'), 1);

  const recs = [record(), record({ route: { id: 'r2-id', name: 'r2' } }, 502), record({}, 403)];
  const n = 200_000;
  for (let i = 0; i < 20_000; i++) m.observeSession(recs[i % 3]!);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) m.observeSession(recs[i % 3]!);
  const us = Number(process.hrtime.bigint() - t0) / 1e3 / n;
  t.diagnostic(`observeSession: ${us.toFixed(3)} µs per call (${n} calls, all series on)`);
  assert.ok(us < 20, `observeSession took ${us} µs`);
});
