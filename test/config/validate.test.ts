import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEAD, lines, load, onlyProblems, hasProblem, formatted } from './helpers.js';

test('_format_version is required and must be a known version', () => {
  onlyProblems(load(lines('services: []')), 'kong.yml:1:1: error: _format_version: required field missing');
  onlyProblems(
    load(lines('_format_version: "9.9"')),
    'kong.yml:1:18: error: _format_version: expected one of: 1.1, 2.1, 3.0',
  );
  onlyProblems(load(lines('_format_version: 3.0')), 'kong.yml:1:18: error: _format_version: expected a string');
});

test('the document must be a map', () => {
  onlyProblems(load('- a\n- b\n'), 'kong.yml:1:1: error: expected an object');
  onlyProblems(load(''), 'kong.yml:1:1: error: expected an object');
});

test('unknown fields are errors at their key, at the top and in entities', () => {
  const r = load(
    lines(
      HEAD,
      'bogus: 1',
      'services:',
      '- name: a',
      '  host: h',
      '  protocol: tcp',
      '  colour: red',
      '  routes:',
      '  - name: r',
      '    service: a',
      '    protocols: [tcp]',
      '    sources: [{ip: 1.2.3.4, mask: 8}]',
    ),
  );
  onlyProblems(
    r,
    'kong.yml:2:1: error: bogus: unknown field',
    'kong.yml:7:3: error: services[0].colour: unknown field',
    'kong.yml:10:5: error: services[0].routes[0].service: unknown field',
    'kong.yml:12:29: error: services[0].routes[0].sources[0].mask: unknown field',
  );
});

test('_comment and _ignore are allowed at the top and in entities', () => {
  const r = load(
    lines(
      HEAD,
      '_comment: hi',
      '_ignore: [1, 2]',
      '_transform: true',
      'services:',
      '- name: a',
      '  _comment: x',
      '  _ignore: [{a: b}]',
      '  host: h',
      '  protocol: tcp',
    ),
  );
  assert.equal(r.ok, true, formatted(r).join('\n'));
});

test('types, ranges and enums use Kong-style messages', () => {
  const r = load(
    lines(
      HEAD,
      'services:',
      '- name: a',
      '  host: h',
      '  protocol: sctp',
      '  port: 70000',
      '  retries: many',
      '  connect_timeout: 0',
      '  tls_verify_depth: 65',
      '  enabled: "yes"',
    ),
  );
  onlyProblems(
    r,
    'kong.yml:5:13: error: services[0].protocol: expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp',
    'kong.yml:6:9: error: services[0].port: value should be between 0 and 65535',
    'kong.yml:7:12: error: services[0].retries: expected an integer',
    'kong.yml:8:20: error: services[0].connect_timeout: value should be between 1 and 2147483646',
    'kong.yml:9:21: error: services[0].tls_verify_depth: value should be between 0 and 64',
    'kong.yml:10:12: error: services[0].enabled: expected a boolean',
  );
});

test('route protocols are checked item by item', () => {
  const r = load(lines(HEAD, 'routes:', '- name: r', '  protocols: [tcp, smtp]', '  sources: [{port: 1}]'));
  hasProblem(
    r,
    'kong.yml:4:20: error: routes[0].protocols[1]: expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp',
  );
});

test('required fields point at the entity', () => {
  const r = load(
    lines(
      HEAD,
      'upstreams:',
      '- slots: 100',
      'targets:',
      '- target: 1.2.3.4',
      'plugins:',
      '- config: {}',
      'certificates:',
      '- key: x',
    ),
  );
  onlyProblems(
    r,
    'kong.yml:3:3: error: upstreams[0].name: required field missing',
    'kong.yml:5:3: error: targets[0].upstream: required field missing',
    'kong.yml:7:3: error: plugins[0].name: required field missing',
    'kong.yml:9:3: error: certificates[0].cert: required field missing',
  );
});

test('names, ids and tags have formats', () => {
  const r = load(
    lines(
      HEAD,
      'services:',
      '- name: "bad name"',
      '  id: not-a-uuid',
      '  host: h',
      '  protocol: tcp',
      '  tags: ["a,b"]',
    ),
  );
  onlyProblems(
    r,
    "kong.yml:3:9: error: services[0].name: invalid value 'bad name': the only accepted ascii characters are alphanumerics or ., -, _, and ~",
    'kong.yml:4:7: error: services[0].id: expected a valid UUID',
    "kong.yml:7:10: error: services[0].tags[0]: invalid tag 'a,b': expected printable ascii (except `,` and `/`) or valid utf-8 sequences",
  );
});

test('upstream slots, weights and health check fields are validated', () => {
  const r = load(
    lines(
      HEAD,
      'upstreams:',
      '- name: u',
      '  slots: 5',
      '  healthchecks:',
      '    threshold: 101',
      '    active:',
      '      type: smtp',
      '      healthy: {successes: 300}',
      '  targets:',
      '  - target: a:1',
      '    weight: 65536',
    ),
  );
  onlyProblems(
    r,
    'kong.yml:4:10: error: upstreams[0].slots: value should be between 10 and 65536',
    'kong.yml:6:16: error: upstreams[0].healthchecks.threshold: value should be between 0 and 100',
    'kong.yml:8:13: error: upstreams[0].healthchecks.active.type: expected one of: tcp, http, https, grpc, grpcs',
    'kong.yml:9:28: error: upstreams[0].healthchecks.active.healthy.successes: value should be between 0 and 255',
    'kong.yml:12:13: error: upstreams[0].targets[0].weight: value should be between 0 and 65535',
  );
});

test('nested snis may be names or objects; other shapes are refused', () => {
  const r = load(lines(HEAD, 'certificates:', '- cert: x', '  key: y', '  snis: [a.com, {name: b.com}, 3, {nom: c}]'));
  hasProblem(r, 'kong.yml:5:32: error: certificates[0].snis[2]: expected a string or an object');
  hasProblem(r, 'kong.yml:5:35: error: certificates[0].snis[3].name: required field missing');
  hasProblem(r, 'kong.yml:5:36: error: certificates[0].snis[3].nom: unknown field');
});

test('schema errors carry the entity and field for flattened errors', () => {
  const r = load(
    lines(
      HEAD,
      'services:',
      '- name: s1',
      '  id: 0b8e5e6a-2f8a-4bd5-9d9f-0d3c7f7c9a11',
      '  tags: [t]',
      '  host: h',
      '  port: -1',
    ),
  );
  const p = r.problems[0]!;
  assert.deepEqual(p.entity, { type: 'services', name: 's1', id: '0b8e5e6a-2f8a-4bd5-9d9f-0d3c7f7c9a11', tags: ['t'] });
  assert.equal(p.field, 'port');
});

test('an error in one entity does not hide errors in another', () => {
  const r = load(
    lines(
      HEAD,
      'services:',
      '- name: a',
      '  host: h',
      '  port: x',
      '- name: b',
      '  host: h',
      '  protocol: tcp',
      '  path: /p',
    ),
  );
  onlyProblems(
    r,
    'kong.yml:5:9: error: services[0].port: expected an integer',
    "kong.yml:6:3: error: services[1]: failed conditional validation given value of field 'protocol'",
    'kong.yml:9:9: error: services[1].path: value must be null',
  );
});
