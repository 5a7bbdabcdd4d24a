/**
 * Admin API parity with Kong (DB-less): each case names the Kong source it follows, the request, and Kong's answer
 * (status, shape, message). Kong: kong/api/routes/kong.lua (GET /), kong/api/routes/health.lua (/status),
 * kong/api/api_helpers.lua (OPTIONS, CORS), spec/02-integration/04-admin_api/15-off_spec.lua (/config).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { KONG_VERSION, VERSION } from '../../src/paths.js';
import { startAdmin, type Harness } from '../admin/helpers.js';

const OFF = 'spec/02-integration/04-admin_api/15-off_spec.lua';
const FILE = `_format_version: "3.0"
services:
- name: echo
  url: tcp://127.0.0.1:7000
  routes:
  - name: r
    protocols: [tcp]
    destinations: [{port: 9000}]
`;
const json = { 'content-type': 'application/json' };

interface AdminCase {
  spec: string;
  req: { path: string; method?: string; headers?: Record<string, string>; body?: string };
  check(r: { status: number; body: any; headers: Headers; text: string }): void;
}

const CASES: AdminCase[] = [
  {
    spec: "kong/api/routes/kong.lua:130 GET / answers in Kong's shape, Kong's version in `version`",
    req: { path: '/' },
    check: (r) => {
      assert.equal(r.status, 200);
      for (const k of [
        'tagline',
        'version',
        'edition',
        'hostname',
        'node_id',
        'timers',
        'plugins',
        'lua_version',
        'configuration',
        'pids',
      ])
        assert.ok(k in r.body, k);
      assert.equal(r.body.version, KONG_VERSION);
      assert.equal(r.body.kong_ts_version, VERSION);
      assert.equal(r.body.tagline, 'Welcome to kong');
      assert.equal(r.body.edition, 'community');
      assert.ok(r.body.plugins.available_on_server['tcp-log']);
      assert.ok(Array.isArray(r.body.plugins.enabled_in_cluster));
    },
  },
  {
    spec: 'kong/api/api_helpers.lua:422 OPTIONS: 204 with Allow, Access-Control-Allow-Methods and -Headers',
    req: { path: '/services', method: 'OPTIONS' },
    check: (r) => {
      assert.equal(r.status, 204);
      assert.equal(r.headers.get('allow'), 'GET, HEAD, OPTIONS');
      assert.equal(r.headers.get('access-control-allow-methods'), 'GET, HEAD, OPTIONS');
      assert.equal(r.headers.get('access-control-allow-headers'), 'Content-Type');
      assert.equal(r.headers.get('access-control-allow-origin'), '*');
    },
  },
  {
    spec: 'kong/api/api_helpers.lua:298 OPTIONS echoes Access-Control-Request-Headers and the Origin',
    req: {
      path: '/config',
      method: 'OPTIONS',
      headers: { origin: 'http://ui.test', 'access-control-request-headers': 'X-Foo' },
    },
    check: (r) => {
      assert.equal(r.status, 204);
      assert.equal(r.headers.get('allow'), 'GET, HEAD, OPTIONS, POST');
      assert.equal(r.headers.get('access-control-allow-headers'), 'X-Foo');
      assert.equal(r.headers.get('access-control-allow-origin'), 'http://ui.test');
      assert.equal(r.headers.get('access-control-allow-credentials'), 'true');
    },
  },
  {
    spec: 'kong/api/routes/health.lua:40 /status in DB-less mode: no database entry, configuration_hash',
    req: { path: '/status' },
    check: (r) => {
      assert.equal(r.status, 200);
      assert.equal(r.body.database, undefined);
      assert.match(r.body.configuration_hash, /^[0-9a-f]{32}$/);
      for (const k of [
        'connections_accepted',
        'connections_active',
        'connections_handled',
        'connections_reading',
        'connections_writing',
        'connections_waiting',
        'total_requests',
      ]) {
        assert.equal(typeof r.body.server[k], 'number', k);
      }
      assert.ok(Array.isArray(r.body.memory.workers_lua_vms));
      assert.equal(typeof r.body.memory.lua_shared_dicts, 'object');
    },
  },
  {
    spec: `${OFF}:828 returns 400 when given no input`,
    req: { path: '/config', method: 'POST' },
    check: (r) => {
      assert.equal(r.status, 400);
      assert.deepEqual(r.body, { message: 'expected a declarative configuration' });
    },
  },
  {
    spec: `${OFF}:621 returns 400 on an invalid config string`,
    req: { path: '/config', method: 'POST', headers: json, body: JSON.stringify({ config: 'bobby tables' }) },
    check: (r) => {
      assert.equal(r.status, 400);
      assert.equal(r.body.code, 14);
      assert.equal(r.body.name, 'invalid declarative configuration');
      assert.deepEqual(r.body.fields, { error: 'failed parsing declarative configuration: expected an object' });
      assert.equal(
        r.body.message,
        'declarative config is invalid: {error="failed parsing declarative configuration: expected an object"}',
      );
    },
  },
  {
    spec: `${OFF}:647 returns 400 on a validation error (every error of the entity)`,
    req: {
      path: '/config',
      method: 'POST',
      headers: json,
      body: JSON.stringify({ config: '_format_version: "1.1"\nservices:\n- port: -12\n' }),
    },
    check: (r) => {
      assert.equal(r.status, 400);
      assert.equal(r.body.code, 14);
      assert.equal(r.body.name, 'invalid declarative configuration');
      assert.deepEqual(r.body.fields, {
        services: [{ host: 'required field missing', port: 'value should be between 0 and 65535' }],
      });
      assert.equal(
        r.body.message,
        'declarative config is invalid: {services={{host="required field missing",port="value should be between 0 and 65535"}}}',
      );
    },
  },
  {
    spec: `${OFF}:1950 flattened errors: a stream route without sources, destinations or snis`,
    req: {
      path: '/config?flatten_errors=1',
      method: 'POST',
      headers: json,
      body: JSON.stringify({
        _format_version: '3.0',
        services: [{ name: 'nope', url: 'tcp://127.0.0.1:1', routes: [{ name: 'nope.route', protocols: ['tcp'] }] }],
      }),
    },
    check: (r) => {
      assert.equal(r.status, 400);
      const e = r.body.flattened_errors.find((x: any) => x.entity_name === 'nope.route');
      assert.ok(e, JSON.stringify(r.body));
      assert.equal(e.entity_type, 'route');
      assert.ok(
        e.errors.some(
          (x: any) =>
            x.type === 'entity' &&
            x.message === "must set one of 'sources', 'destinations', 'snis' when 'protocols' is 'tcp', 'tls' or 'udp'",
        ),
        JSON.stringify(e),
      );
    },
  },
];

describe('admin parity with Kong (DB-less)', () => {
  let h: Harness;
  before(async () => {
    h = await startAdmin(FILE);
  });
  after(() => h.close());
  for (const c of CASES) {
    it(c.spec, async () => {
      const init: RequestInit = { method: c.req.method ?? 'GET', headers: c.req.headers };
      if (c.req.body !== undefined) init.body = c.req.body;
      c.check(await h.get(c.req.path, init));
    });
  }
  it(`${OFF}:915 GET /config returns back the configuration (3.0 form)`, async () => {
    const posted = await h.get('/config', {
      method: 'POST',
      headers: json,
      body: JSON.stringify({
        _format_version: '1.1',
        consumers: [{ username: 'bobo', id: 'd885e256-1abe-5e24-80b6-8f68fe59ea8e', created_at: 1566863706 }],
      }),
    });
    assert.equal(posted.status, 201, posted.text);
    const config = parse((await h.get('/config')).body.config);
    assert.deepEqual(config, {
      _format_version: '3.0',
      _transform: false,
      consumers: [
        {
          id: 'd885e256-1abe-5e24-80b6-8f68fe59ea8e',
          created_at: config.consumers[0].created_at,
          updated_at: config.consumers[0].updated_at,
          username: 'bobo',
          custom_id: null,
          tags: null,
        },
      ],
    });
  });
});
