/**
 * deploy/grafana/kong-ts-dashboard.json queries only metrics that exist: every metric name in its PromQL is a
 * series (or, for counters no event has moved yet, a declared family) of a real `GET /metrics` answer after traffic
 * (plain, TLS, a failed handshake, a reload) through an instance with a health-checked upstream.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { startYaml } from '../helpers/instance.js';
import { echoServer, exchange } from '../e2e/plugins-helpers.js';

const DASHBOARD = new URL('../../../deploy/grafana/kong-ts-dashboard.json', import.meta.url);

/** Metric names in a PromQL expression: identifiers followed by `{`, `[` or a space/paren, minus functions and keywords. */
export function metricNames(expr: string): string[] {
  const noLabels = expr
    .replace(/\{[^}]*\}/g, '{}')
    .replace(/\[[^\]]*\]/g, '[]')
    .replace(/"[^"]*"/g, '""');
  const names = new Set<string>();
  for (const m of noLabels.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)) {
    const n = m[1]!;
    if (/^(by|without|on|ignoring|group_left|group_right|and|or|unless|le|vector|time|bool|offset)$/.test(n)) continue;
    if (/^\d/.test(n) || n.startsWith('$')) continue;
    names.add(n);
  }
  return [...names].filter((n) => n.includes('_'));
}

function exprsOf(dash: { panels: Array<{ targets?: Array<{ expr: string }> }> }): string[] {
  return dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
}

test('every metric the Grafana dashboard queries exists in a real /metrics answer', async (t) => {
  const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
  const exprs = exprsOf(dash);
  assert.ok(exprs.length >= 15, `${exprs.length} queries`);
  const used = [...new Set(exprs.flatMap(metricNames))].sort();
  assert.ok(
    used.includes('kong_stream_sessions_total') && used.includes('kong_config_reload_duration_ms_bucket'),
    used.join(' '),
  );
  assert.ok(!used.some((n) => /^(sum|rate|max|histogram_quantile|increase|job|code|state)$/.test(n)), used.join(' '));

  const backend = await echoServer();
  t.after(() => backend.close());
  const yaml = (extra = '') => `_format_version: "3.0"
upstreams:
  - name: pool
    healthchecks: { active: { type: tcp, healthy: { interval: 60 }, unhealthy: { interval: 60, tcp_failures: 1 } } }
    targets: [{ target: "127.0.0.1:${backend.port}" }]
services:
  - name: svc
    host: pool
    protocol: tcp
    routes:
      - { name: r-tcp, protocols: [tcp], destinations: [{ ip: 127.0.0.1 }] }
      - { name: r-tls, protocols: [tls], snis: [a.example.com] }
${extra}`;
  const ti = await startYaml(yaml(), {
    listen: '127.0.0.1:0, 127.0.0.1:0 ssl',
    settings: { admin_listen: '127.0.0.1:0' },
    tag: 'dashboard',
  });
  t.after(() => ti.stop());
  const [plain, ssl] = ti.ports as [number, number];
  assert.equal(await exchange(plain), 'ping');
  await new Promise<void>((resolve, reject) => {
    const s = tlsConnect({ port: ssl, host: '127.0.0.1', servername: 'a.example.com', rejectUnauthorized: false });
    s.on('secureConnect', () => s.end('ping'));
    s.on('data', () => {});
    s.on('error', reject);
    s.on('close', () => resolve());
  });
  await exchange(ssl); // no ClientHello: a failed handshake
  const held = connect(plain, '127.0.0.1');
  await new Promise((r) => held.once('connect', r));
  t.after(() => held.destroy());
  assert.equal(await ti.reload(yaml('# changed\n')), 'loaded');

  const text = await (await fetch(`${ti.admin}/metrics`)).text();
  const families = new Map<string, string>();
  const series = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) families.set(type[1]!, type[2]!);
    else if (line && !line.startsWith('#')) series.add(/^[^{ ]+/.exec(line)![0]);
  }
  // counters that only move on trouble (a plugin failing, a log target too slow) have no series yet
  const eventOnly = new Set(['kong_stream_plugin_errors_total', 'kong_stream_log_records_dropped_total']);
  for (const name of used) {
    if (eventOnly.has(name)) assert.ok(families.has(name), `${name} is not declared in /metrics`);
    else assert.ok(series.has(name), `${name}: no such series in /metrics`);
  }
});

test('metricNames finds the metrics of a PromQL expression, not its functions or labels', () => {
  assert.deepEqual(
    metricNames(
      'histogram_quantile(0.95, sum by (le) (rate(kong_x_bucket{job=~"$job",code!="200"}[$__rate_interval])))',
    ),
    ['kong_x_bucket'],
  );
  assert.deepEqual(metricNames('sum(kong_a{state="unhealthy"}) or vector(0)').sort(), ['kong_a']);
  assert.deepEqual(metricNames('time() - max(kong_b)'), ['kong_b']);
});
