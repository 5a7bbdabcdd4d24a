import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../../src/paths.js';
import { uuidv5, sha256 } from '../../src/config/ids.js';
import { assertOk, formatted, load, onlyProblems } from './helpers.js';
import { block, pki } from './certs.js';

const FIXTURES = join(ROOT, 'test', 'fixtures', 'config');

function fullText(): string {
  const p = pki();
  const pems: Record<string, string> = {
    __RSA_CERT__: p.rsaCert,
    __RSA_KEY__: p.rsaKey,
    __EC_CERT__: p.ecCert,
    __EC_KEY__: p.ecKey,
    __LEAF_CERT__: p.leafCert,
    __LEAF_KEY__: p.leafKey,
    __CA_CERT__: p.caCert,
  };
  return readFileSync(join(FIXTURES, 'full.yml'), 'utf8').replace(/__[A-Z_]+__/g, (m) => block(pems[m]!, 4));
}

test('a full-featured file normalizes: ids, defaults, references, flattening', () => {
  const p = pki();
  const r = load(fullText());
  assertOk(r);
  const c = r.config;
  assert.equal(c.format_version, '3.0');
  assert.deepEqual(
    [
      c.services,
      c.routes,
      c.certificates,
      c.snis,
      c.ca_certificates,
      c.upstreams,
      c.targets,
      c.plugins,
      c.consumers,
    ].map((l) => l.length),
    [3, 3, 2, 3, 1, 1, 3, 5, 1],
  );

  const [echo, secure, pass] = c.services;
  assert.equal(echo!.id, uuidv5('services:echo'));
  assert.deepEqual(echo, {
    id: uuidv5('services:echo'),
    name: 'echo',
    protocol: 'tcp',
    host: '10.0.0.10',
    port: 7000,
    path: null,
    retries: 5,
    connect_timeout: 60000,
    write_timeout: 60000,
    read_timeout: 60000,
    client_certificate: null,
    tls_verify: null,
    tls_verify_depth: null,
    ca_certificates: null,
    enabled: true,
    tags: ['stream'],
  });
  assert.deepEqual(
    [
      secure!.protocol,
      secure!.retries,
      secure!.connect_timeout,
      secure!.read_timeout,
      secure!.client_certificate,
      secure!.ca_certificates,
    ],
    ['tls', 2, 1000, 60000, '7c0c7c3e-0d4b-4e4e-9a43-52bb5d1a4c01', ['7c0c7c3e-0d4b-4e4e-9a43-52bb5d1a4c02']],
  );
  assert.equal(pass!.id, '5d1d0d3a-1b1b-4c4c-8d8d-9e9e9e9e9e01');
  assert.equal(pass!.host, '::1');

  const [echoTcp, bySni, unnamed] = c.routes;
  assert.deepEqual(echoTcp, {
    id: uuidv5('routes:echo-tcp'),
    name: 'echo-tcp',
    protocols: ['tcp', 'udp'],
    sources: [{ ip: '10.0.0.0/8' }, { ip: '2001:db8::/32', port: 1234 }],
    destinations: [{ port: 9000 }],
    snis: null,
    service: echo.id,
    tags: [],
  });
  assert.equal(bySni!.service, secure!.id);
  assert.deepEqual(bySni!.snis, ['app.example.com', '*.example.org']);
  assert.equal(unnamed!.id, uuidv5(`routes:${pass!.id}:0`));
  assert.equal(unnamed!.name, undefined);
  assert.equal(unnamed!.service, pass!.id);

  const [rsa, leaf] = c.certificates;
  assert.equal(rsa!.id, '7c0c7c3e-0d4b-4e4e-9a43-52bb5d1a4c01');
  assert.equal(leaf!.id, uuidv5(`certificates:${sha256(p.leafCert)}`));
  assert.equal(leaf!.cert_alt, null);
  assert.deepEqual(
    c.snis.map((s) => [s.name, s.certificate, s.id, s.tags]),
    [
      ['app.example.com', rsa!.id, uuidv5('snis:app.example.com'), []],
      ['*.example.org', rsa!.id, uuidv5('snis:*.example.org'), ['wild']],
      ['*', rsa!.id, uuidv5('snis:*'), []],
    ],
  );

  const up = c.upstreams[0]!;
  assert.equal(up.id, uuidv5('upstreams:backend.upstream'));
  assert.deepEqual(
    [up.algorithm, up.hash_on, up.hash_fallback, up.slots, up.client_certificate],
    ['least-connections', 'none', 'none', 10000, null],
  );
  assert.equal(up.healthchecks.active.type, 'tcp');
  assert.equal(up.healthchecks.active.healthy.interval, 5);
  assert.equal(up.healthchecks.active.healthy.successes, 0);
  assert.equal(up.healthchecks.active.concurrency, 10);
  assert.equal(up.healthchecks.active.timeout, 1);
  assert.equal(up.healthchecks.passive.type, 'http');
  assert.equal(up.healthchecks.passive.unhealthy.tcp_failures, 0);
  assert.equal(up.healthchecks.threshold, 0);
  assert.deepEqual(
    c.targets.map((t) => [t.target, t.weight, t.upstream, t.id]),
    [
      ['10.0.0.1:8443', 50, up.id, uuidv5(`targets:${up.id}:10.0.0.1:8443`)],
      ['[2001:db8::1]:8443', 100, up.id, uuidv5(`targets:${up.id}:[2001:db8::1]:8443`)],
      ['backend-3.internal:8000', 100, up.id, uuidv5(`targets:${up.id}:backend-3.internal:8000`)],
    ],
  );

  const alice = c.consumers[0]!;
  assert.deepEqual(alice, { id: uuidv5('consumers:alice'), username: 'alice', custom_id: null, tags: [] });
  const byName = (n: string, i = 0) => c.plugins.filter((x) => x.name === n)[i]!;
  assert.deepEqual(byName('ip-restriction'), {
    id: uuidv5(`plugins:ip-restriction:${echoTcp.id}::`),
    name: 'ip-restriction',
    instance_name: null,
    config: { allow: ['10.0.0.0/8', '::1'] },
    route: echoTcp.id,
    service: null,
    consumer: null,
    enabled: true,
    protocols: ['tcp', 'tls'],
    tags: [],
  });
  assert.equal(byName('file-log').service, echo.id);
  // flattened in file order per type: top-level plugins come before those nested in consumers (listed later)
  assert.deepEqual([byName('tcp-log', 0).route, byName('tcp-log', 0).service], [echoTcp.id, echo.id]);
  assert.equal(byName('tcp-log', 1).consumer, alice.id);
  assert.deepEqual(
    [byName('prometheus').route, byName('prometheus').service, byName('prometheus').consumer],
    [null, null, null],
  );

  assert.equal(c.ca_certificates[0]!.id, '7c0c7c3e-0d4b-4e4e-9a43-52bb5d1a4c02');
  assert.deepEqual(c.origins[echo.id], { file: 'kong.yml', line: 6, column: 3, path: 'services[0]' });
  assert.deepEqual(c.origins[echoTcp.id], { file: 'kong.yml', line: 10, column: 5, path: 'services[0].routes[0]' });
  assert.equal(Object.keys(c.origins).length, 22);
  // plain data: survives a JSON round trip unchanged
  assert.deepEqual(JSON.parse(JSON.stringify(c)), c);
});

test('ids are stable across loads and change only when the key changes', () => {
  const text = fullText();
  const a = load(text);
  const b = load(text);
  assertOk(a);
  assertOk(b);
  assert.deepEqual(b.config, a.config);
  const ids = (r: typeof a) =>
    [r.config.services, r.config.routes, r.config.targets, r.config.plugins].flat().map((e) => e.id);
  // an unrelated change (a port, a comment) keeps every id
  const c = load(text.replace('port: 8443\n', 'port: 8444\n').replace('_comment: every', '_comment: all'));
  assertOk(c);
  assert.deepEqual(ids(c), ids(a));
  // renaming a service changes its id, and the ids of what hangs off it by id
  const d = load(text.replace('- name: echo\n', '- name: echo2\n').replace('  service: echo\n', '  service: echo2\n'));
  assertOk(d);
  assert.notEqual(d.config.services[0]!.id, a.config.services[0]!.id);
  assert.equal(d.config.services[0]!.id, uuidv5('services:echo2'));
  assert.equal(d.config.routes[0]!.id, a.config.routes[0]!.id, 'named route keeps its id');
  assert.notEqual(
    d.config.plugins.find((x) => x.name === 'file-log')!.id,
    a.config.plugins.find((x) => x.name === 'file-log')!.id,
  );
});

test('unnamed services get distinct stable ids', () => {
  const text = '_format_version: "3.0"\nservices:\n- url: tcp://a:1\n- url: tcp://a:1\n- url: tcp://b:1\n';
  const a = load(text);
  assertOk(a);
  const ids = a.config.services.map((s) => s.id);
  assert.equal(new Set(ids).size, 3);
  const b = load(text);
  assertOk(b);
  assert.deepEqual(
    b.config.services.map((s) => s.id),
    ids,
  );
});

test('the same file as JSON loads to the same config, with positions', () => {
  const yamlText = fullText();
  const data = parse(yamlText);
  const r = load(JSON.stringify(data, null, 2), undefined, 'kong.json');
  assertOk(r);
  const y = load(yamlText);
  assertOk(y);
  assert.deepEqual(r.config.services, y.config.services);
  assert.deepEqual(r.config.plugins, y.config.plugins);
  // positions in JSON: services[0] is the `{` on line 5 (after `{`, format, transform, comment)
  assert.deepEqual(r.config.origins[r.config.services[0]!.id], {
    file: 'kong.json',
    line: 6,
    column: 5,
    path: 'services[0]',
  });
  const bad = load(
    '{\n  "_format_version": "3.0",\n  "services": [\n    {"name": "a", "host": "h", "protocol": "tcp", "port": "x"}\n  ]\n}\n',
    undefined,
    'kong.json',
  );
  onlyProblems(bad, 'kong.json:4:59: error: services[0].port: expected an integer');
});

test('a Kong file with HTTP routes: warnings, HTTP parts left out; errors with strict', () => {
  const text = readFileSync(join(FIXTURES, 'kong-http.yml'), 'utf8');
  const expected = [
    "kong-http.yml:4:8: warning: services[0].url: service 'web' ignored: kong-ts serves stream traffic only (tcp, tls, tls_passthrough, udp)",
    "kong-http.yml:6:5: warning: services[0].routes[0].protocols: route 'web-route' ignored: kong-ts serves stream traffic only (tcp, tls, tls_passthrough, udp)",
    "kong-http.yml:18:3: warning: plugins[0].protocols: plugin 'prometheus' ignored: its protocols (grpc, grpcs, http, https) hold no stream protocol; add 'protocols: [tcp, tls]' to run it on stream traffic",
  ];
  const r = load(text, undefined, 'kong-http.yml');
  assertOk(r);
  assert.deepEqual(formatted(r), expected);
  assert.deepEqual(
    r.config.services.map((s) => s.name),
    ['db'],
  );
  assert.deepEqual(
    r.config.routes.map((s) => s.name),
    ['db-route'],
  );
  assert.deepEqual(r.config.plugins, []);
  const strict = load(text, { strict: true }, 'kong-http.yml');
  assert.equal(strict.ok, false);
  assert.deepEqual(
    formatted(strict),
    expected.map((e) => e.replace(': warning: ', ': error: ')),
  );
});
