import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fullConfig } from './config-fixture.js';
import { startAdmin, type Harness } from './helpers.js';

function promtool(): boolean {
  return spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
}

describe('admin API: node info, status, sessions', () => {
  let h: Harness;
  before(async () => {
    h = await startAdmin(fullConfig());
  });
  after(() => h.close());

  it('GET / lists the plugins the server can run and those the config enables', async () => {
    const r = await h.get('/');
    assert.equal(r.status, 200);
    assert.equal(r.body.node_id, '3f0d6a2e-0000-4000-8000-000000000001');
    assert.equal(r.body.configuration.database, 'off');
    assert.equal(r.body.plugins.available_on_server['ip-restriction'].priority, 990);
    assert.deepEqual(Object.keys(r.body.plugins.available_on_server), [
      'file-log',
      'ip-restriction',
      'mtls-auth',
      'prometheus',
      'syslog',
      'tcp-log',
      'udp-log',
    ]);
    assert.deepEqual(r.body.plugins.enabled_in_cluster, ['ip-restriction', 'prometheus']);
  });

  it('GET /status shows the live hash, generation, counters and the last error', async () => {
    const r = await h.get('/status');
    assert.equal(r.body.configuration_hash, h.manager.current!.hash);
    assert.equal(r.body.configuration_generation, 1);
    assert.equal(r.body.last_config_error, null);
    assert.equal(r.body.server.connections_accepted, 7);
    assert.equal(r.body.server.connections_active, 2);
    assert.equal(r.body.database, undefined, 'Kong drops `database` from /status in DB-less mode');
    assert.ok(Array.isArray(r.body.memory.workers_lua_vms));
  });

  it('GET /sessions counts open sessions per route', async () => {
    assert.deepEqual((await h.get('/sessions')).body, { total: 0, by_route: {} });
    const route = (await h.get('/routes/echo-tcp')).body.id;
    h.sessions[route] = 3;
    h.sessions['other'] = 1;
    assert.deepEqual((await h.get('/sessions')).body, { total: 4, by_route: { [route]: 3, other: 1 } });
  });
});

describe('admin API: upstream health and overrides, metrics', () => {
  let h: Harness;
  before(async () => {
    h = await startAdmin(fullConfig());
  });
  after(() => h.close());

  const health = async (u: string) => {
    const r = await h.get(`/upstreams/${u}/health`);
    assert.equal(r.status, 200);
    return r.body;
  };
  const balancer = async () => (await h.get('/upstreams/pool.upstream/health?balancer_health=1')).body.data.health;

  it('shows each target with its addresses in Kong shape', async () => {
    const body = await health('pool.upstream');
    assert.equal(body.next, null);
    assert.equal(body.node_id, '3f0d6a2e-0000-4000-8000-000000000001');
    const up = (await h.get('/upstreams/pool.upstream')).body;
    assert.deepEqual(
      body.data.map((t: any) => [t.target, t.weight, t.health]),
      [
        ['127.0.0.1:7001', 100, 'HEALTHY'],
        ['127.0.0.2:7002', 50, 'HEALTHY'],
      ],
    );
    assert.deepEqual(body.data[0].upstream, { id: up.id });
    assert.deepEqual(body.data[0].data.addresses, [{ ip: '127.0.0.1', port: 7001, health: 'HEALTHY', weight: 100 }]);
    const off = await health('off.upstream');
    assert.equal(off.data[0].health, 'HEALTHCHECKS_OFF');
    assert.deepEqual((await h.get('/upstreams/pool.upstream/health?balancer_health=1')).body.data, {
      health: 'HEALTHY',
      id: up.id,
    });
    assert.equal((await h.get('/upstreams/nope/health')).status, 404);
  });

  it('takes the healthy/unhealthy overrides by target and by address', async () => {
    const put = (path: string, method = 'PUT') => h.get(`/upstreams/pool.upstream/targets/${path}`, { method });
    assert.equal((await put('127.0.0.1:7001/unhealthy')).status, 204);
    let body = await health('pool.upstream');
    assert.deepEqual(
      body.data.map((t: any) => t.health),
      ['UNHEALTHY', 'HEALTHY'],
    );
    assert.equal(body.data[0].data.addresses[0].health, 'UNHEALTHY');
    assert.equal(await balancer(), 'HEALTHY', 'another target is still up');

    const second = body.data[1].id;
    assert.equal((await put(`${second}/unhealthy`, 'POST')).status, 204, 'by target id, with POST');
    assert.equal(await balancer(), 'UNHEALTHY');

    assert.equal((await put('127.0.0.1:7001/127.0.0.1:7001/healthy')).status, 204, 'by address');
    assert.equal((await put('127.0.0.2:7002/127.0.0.2/healthy', 'POST')).status, 204, 'by address ip');
    body = await health('pool.upstream');
    assert.deepEqual(
      body.data.map((t: any) => t.health),
      ['HEALTHY', 'HEALTHY'],
    );

    assert.equal((await put('10.9.9.9:1/healthy')).status, 404);
    assert.equal((await put('127.0.0.1:7001/10.9.9.9:1/healthy')).status, 404);
    assert.equal((await h.get('/upstreams/nope/targets/127.0.0.1:7001/healthy', { method: 'PUT' })).status, 404);
  });

  it('GET /metrics renders the series with the live target health, and promtool parses it', async (t) => {
    await h.get('/upstreams/pool.upstream/targets/127.0.0.2:7002/unhealthy', { method: 'PUT' });
    const r = await h.get('/metrics');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type')!, /^text\/plain/);
    const line = (target: string, state: string, upstream = 'pool.upstream') =>
      `kong_upstream_target_health{upstream="${upstream}",target="${target}",state="${state}"} 1`;
    assert.ok(r.text.includes(line('127.0.0.1:7001', 'healthy')), r.text.slice(0, 2000));
    assert.ok(r.text.includes(line('127.0.0.2:7002', 'unhealthy')));
    assert.ok(r.text.includes(line('127.0.0.3:7003', 'healthchecks_off', 'off.upstream')));
    assert.match(r.text, /# TYPE kong_stream_sessions_total counter/);
    await h.get('/upstreams/pool.upstream/targets/127.0.0.2:7002/healthy', { method: 'PUT' });
    assert.ok((await h.get('/metrics')).text.includes(line('127.0.0.2:7002', 'healthy')), 'refreshed on every scrape');

    if (!promtool()) {
      t.diagnostic('promtool is not on the PATH: the exposition format check is skipped');
      return;
    }
    const out = spawnSync('promtool', ['check', 'metrics'], { input: r.text, encoding: 'utf8' });
    const report = `${out.stdout}${out.stderr}`;
    assert.doesNotMatch(report, /pars(e|ing) error|error while linting/i, report);
    // promtool 2.x lints names too: Kong's own names (kong_bandwidth_bytes, *_ms) and prom-client's process
    // metrics (nodejs_active_handles_total is a gauge) are kept as their projects name them
    const lint = report
      .split('\n')
      .filter((l) => l.trim() && !/^(kong_bandwidth_bytes|kong_\w+_ms|nodejs_\w+) /.test(l));
    assert.deepEqual(lint, [], report);
  });
});
