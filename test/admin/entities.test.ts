import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CERT_ID, fullConfig, MANY } from './config-fixture.js';
import { startAdmin, testPem, type Harness } from './helpers.js';

describe('admin API: entities (Kong DB-less shapes)', () => {
  let h: Harness;
  before(async () => {
    h = await startAdmin(fullConfig());
  });
  after(() => h.close());

  it('lists every collection with Kong fields and foreign keys as {id}', async () => {
    const counts: Record<string, number> = {
      services: 3,
      routes: 2 + MANY,
      certificates: 1,
      snis: 1,
      ca_certificates: 1,
      upstreams: 2,
      targets: 3,
      plugins: 3,
      consumers: 1,
    };
    for (const [type, n] of Object.entries(counts)) {
      const r = await h.get(`/${type}?size=1000`);
      assert.equal(r.status, 200, type);
      assert.equal(r.body.data.length, n, type);
      assert.equal(r.body.next, null, type);
      for (const e of r.body.data) {
        assert.match(e.id, /^[0-9a-f-]{36}$/, type);
        assert.equal(typeof e.created_at, 'number', type);
        assert.equal(e.updated_at, e.created_at);
      }
    }
    const route = (await h.get('/routes/echo-tcp')).body;
    const svc = (await h.get('/services/echo')).body;
    assert.deepEqual(route.service, { id: svc.id });
    assert.deepEqual(route.destinations, [{ port: 9000 }]);
    assert.equal(route.strip_path, true);
    assert.equal(route.hosts, null);
    assert.deepEqual(svc.tags, ['blue']);
    assert.equal(svc.protocol, 'tcp');
    assert.equal(svc.port, 7000);
    assert.equal(svc.retries, 5);
    assert.equal(svc.client_certificate, null);
    const sni = (await h.get('/snis/app.example.com')).body;
    assert.deepEqual(sni.certificate, { id: CERT_ID });
    const target = (await h.get('/targets?size=1')).body.data[0];
    const up = (await h.get('/upstreams/pool.upstream')).body;
    assert.deepEqual(target.upstream, { id: up.id });
    assert.equal(up.healthchecks.passive.unhealthy.tcp_failures, 3);
    assert.equal(up.healthchecks.active.http_path, '/');
    const ca = (await h.get('/ca_certificates')).body.data[0];
    assert.match(ca.cert_digest, /^[0-9a-f]{64}$/);
  });

  it('finds entities by id or by name, and answers 404 with Kong body otherwise', async () => {
    const byName = (await h.get('/services/echo')).body;
    assert.deepEqual((await h.get(`/services/${byName.id}`)).body, byName);
    assert.equal((await h.get('/consumers/alice')).body.username, 'alice');
    assert.equal((await h.get('/certificates/app.example.com')).body.id, CERT_ID);
    const plugin = (await h.get('/plugins?size=1')).body.data[0];
    assert.equal((await h.get(`/plugins/${plugin.id}`)).body.name, plugin.name);
    for (const path of [
      '/services/nope',
      '/routes/nope',
      `/certificates/00000000-0000-4000-8000-000000000000`,
      '/snis/x.example.com',
      '/upstreams/nope',
      '/plugins/nope',
      '/consumers/bob',
      '/targets/nope',
      '/routes/echo-tcp/nope',
      '/nothing-here',
    ]) {
      const r = await h.get(path);
      assert.equal(r.status, 404, path);
      assert.deepEqual(r.body, { message: 'Not found' }, path);
    }
  });

  it('serves the nested collections', async () => {
    const svc = (await h.get('/services/echo')).body;
    const routes = (await h.get('/services/echo/routes')).body;
    assert.deepEqual(
      routes.data.map((r: any) => r.name),
      ['echo-tcp'],
    );
    const svcPlugins = (await h.get(`/services/${svc.id}/plugins`)).body.data;
    assert.deepEqual(
      svcPlugins.map((p: any) => [p.name, p.service.id]),
      [['prometheus', svc.id]],
    );
    const routePlugins = (await h.get('/routes/echo-tcp/plugins')).body.data;
    assert.deepEqual(
      routePlugins.map((p: any) => p.name),
      ['ip-restriction'],
    );
    assert.deepEqual(routePlugins[0].config.allow, ['127.0.0.1']);
    assert.equal((await h.get('/routes/echo-tcp/service')).body.id, svc.id);
    assert.deepEqual(
      (await h.get(`/certificates/${CERT_ID}/snis`)).body.data.map((s: any) => s.name),
      ['app.example.com'],
    );
    const targets = (await h.get('/upstreams/pool.upstream/targets')).body.data;
    assert.deepEqual(
      targets.map((t: any) => [t.target, t.weight]),
      [
        ['127.0.0.1:7001', 100],
        ['127.0.0.2:7002', 50],
      ],
    );
    assert.deepEqual((await h.get('/upstreams/pool.upstream/targets/all')).body.data, targets);
    assert.equal((await h.get('/upstreams/pool.upstream/targets/127.0.0.2:7002')).body.id, targets[1].id);
    assert.equal((await h.get(`/upstreams/pool.upstream/targets/${targets[0].id}`)).body.target, '127.0.0.1:7001');
    assert.equal((await h.get('/upstreams/off.upstream/targets/127.0.0.2:7002')).status, 404);
    assert.equal((await h.get('/services/nope/routes')).status, 404);
    assert.deepEqual((await h.get('/plugins/enabled')).body.enabled_plugins, [
      'file-log',
      'ip-restriction',
      'mtls-auth',
      'prometheus',
      'syslog',
      'tcp-log',
      'udp-log',
    ]);
  });

  it('pages with size, an opaque offset and next, across every page', async () => {
    const seen: string[] = [];
    let path: string | null = '/routes?size=10';
    let pages = 0;
    while (path) {
      const r = await h.get(path);
      assert.equal(r.status, 200);
      assert.ok(r.body.data.length <= 10);
      seen.push(...r.body.data.map((x: any) => x.id));
      if (r.body.next) assert.equal(typeof r.body.offset, 'string');
      path = r.body.next;
      pages++;
    }
    assert.equal(pages, 3);
    assert.equal(seen.length, 2 + MANY);
    assert.equal(new Set(seen).size, seen.length);
    assert.equal((await h.get('/routes')).body.data.length, 2 + MANY, 'default size is 100');
  });

  it('refuses a bad size or offset with Kong errors', async () => {
    assert.deepEqual((await h.get('/routes?size=abc')).body, {
      code: 9,
      name: 'invalid size',
      message: 'size must be a number',
    });
    for (const size of ['0', '1001', '2.5']) {
      const r = await h.get(`/routes?size=${size}`);
      assert.equal(r.status, 400);
      assert.equal(r.body.message, 'size must be an integer between 1 and 1000');
    }
    const r = await h.get('/routes?offset=garbage');
    assert.equal(r.status, 400);
    assert.equal(r.body.name, 'invalid offset');
  });

  it('lists tags in Kong shape and filters collections by tags', async () => {
    const all = (await h.get('/tags')).body;
    assert.ok(
      all.data.some((t: any) => t.entity_name === 'certificates' && t.entity_id === CERT_ID && t.tag === 'red'),
    );
    const red = (await h.get('/tags/red')).body;
    assert.deepEqual(red.data.map((t: any) => t.entity_name).sort(), ['certificates', 'routes', 'snis']);
    assert.equal(red.next, null);
    assert.ok(red.data.every((t: any) => t.tag === 'red' && typeof t.entity_id === 'string'));
    const paged = (await h.get('/tags/red?size=2')).body;
    assert.equal(paged.data.length, 2);
    assert.match(paged.next, /^\/tags\/red\?size=2&offset=/);
    assert.deepEqual((await h.get('/tags/none')).body, { data: [], next: null });
    assert.deepEqual(
      (await h.get('/routes?tags=blue,red')).body.data.map((r: any) => r.name),
      ['echo-tcp'],
    );
    assert.equal((await h.get('/services?tags=blue/nothing')).body.data.length, 1);
  });

  it('refuses writes on entities with Kong 405 code 12', async () => {
    const cases: [string, string, string][] = [
      ['POST', '/routes', "cannot create 'routes' entities when not using a database"],
      ['POST', '/services/echo/routes', "cannot create 'routes' entities when not using a database"],
      ['PATCH', '/services/echo', "cannot update 'services' entities when not using a database"],
      ['PUT', '/upstreams/pool.upstream', "cannot create or update 'upstreams' entities when not using a database"],
      ['DELETE', `/certificates/${CERT_ID}`, "cannot remove 'certificates' entities when not using a database"],
      [
        'DELETE',
        '/upstreams/pool.upstream/targets/127.0.0.1:7001',
        "cannot remove 'targets' entities when not using a database",
      ],
    ];
    for (const [method, path, message] of cases) {
      const r = await h.get(path, {
        method,
        headers: { 'content-type': 'application/json' },
        body: method === 'DELETE' ? undefined : '{}',
      });
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.deepEqual(r.body, { code: 12, name: 'operation unsupported', message }, `${method} ${path}`);
    }
    assert.equal((await h.get('/services', { method: 'DELETE' })).status, 405);
    assert.equal((await h.get('/status', { method: 'POST' })).body.message, 'Method not allowed');
  });

  it('never shows a private key: certificates by every path are redacted', async () => {
    const pemKey = testPem().key.trim();
    const keyBody = pemKey.split('\n')[1]!;
    const paths = [
      '/certificates',
      `/certificates/${CERT_ID}`,
      '/certificates/app.example.com',
      '/snis/app.example.com/certificate',
    ];
    for (const path of paths) {
      const r = await h.get(path);
      assert.equal(r.status, 200, path);
      assert.ok(!r.text.includes('PRIVATE KEY') && !r.text.includes(keyBody), path);
      const cert = r.body.data ? r.body.data[0] : r.body;
      assert.equal(cert.key, '[redacted]', path);
      assert.equal(cert.key_alt, null);
      assert.match(cert.cert, /BEGIN CERTIFICATE/);
      assert.deepEqual(cert.snis, ['app.example.com']);
    }
  });
});

describe('admin API: admin_token', () => {
  let h: Harness;
  before(async () => {
    h = await startAdmin(fullConfig(), { token: 's3cret' });
  });
  after(() => h.close());

  it('answers 401 without the token or with a wrong one, 200 with it', async () => {
    const none = await h.get('/services');
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    assert.equal((await h.get('/services', { headers: { authorization: 'Bearer nope' } })).status, 401);
    assert.equal((await h.get('/config', { method: 'POST', body: 'x' })).status, 401);
    const ok = await h.get('/services', { headers: { authorization: 'Bearer s3cret' } });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.data.length, 3);
  });
});
