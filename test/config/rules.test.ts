import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEAD, lines, load, onlyProblems, hasProblem, assertOk } from './helpers.js';

const SVC = ['services:', '- name: s', '  url: tcp://10.0.0.1:9000'];

test('stream routes must set sources, destinations or snis', () => {
  onlyProblems(
    load(lines(HEAD, ...SVC, 'routes:', '- name: r', '  service: s', '  protocols: [tcp, udp]')),
    "kong.yml:6:3: error: routes[0]: must set one of 'sources', 'destinations', 'snis' when 'protocols' is 'tcp', 'tls' or 'udp'",
  );
});

test('tls_passthrough routes must set snis', () => {
  onlyProblems(
    load(lines(HEAD, ...SVC, 'routes:', '- name: r', '  service: s', '  protocols: [tls_passthrough]')),
    "kong.yml:6:3: error: routes[0]: must set snis when 'protocols' is 'tls_passthrough'",
  );
});

test('protocol sets cannot be mixed', () => {
  onlyProblems(
    load(lines(HEAD, 'routes:', '- name: r', '  protocols: [tcp, http]', '  sources: [{port: 1}]')),
    "kong.yml:4:14: error: routes[0].protocols: these sets are mutually exclusive: ('http', 'https'), ('tcp', 'tls', 'udp')",
  );
  onlyProblems(
    load(lines(HEAD, 'routes:', '- name: r', '  protocols: [tls, tls_passthrough]', '  snis: [a.com]')),
    "kong.yml:4:14: error: routes[0].protocols: these sets are mutually exclusive: ('tcp', 'tls', 'udp'), ('tls_passthrough')",
  );
});

test('snis only with tls, tls_passthrough, https or grpcs', () => {
  onlyProblems(
    load(lines(HEAD, 'routes:', '- name: r', '  protocols: [tcp]', '  snis: [a.example.com]')),
    "kong.yml:3:3: error: routes[0]: 'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'",
    'kong.yml:5:9: error: routes[0].snis: length must be 0',
  );
});

test('HTTP fields are refused on stream routes', () => {
  const r = load(
    lines(
      HEAD,
      'routes:',
      '- name: r',
      '  protocols: [tcp]',
      '  sources: [{port: 1}]',
      '  hosts: [a.com]',
      '  paths: [/a]',
      '  methods: [GET]',
      '  headers: {x: [y]}',
    ),
  );
  onlyProblems(
    r,
    "kong.yml:6:10: error: routes[0].hosts: cannot set 'hosts' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'",
    "kong.yml:7:10: error: routes[0].paths: cannot set 'paths' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'",
    "kong.yml:8:12: error: routes[0].methods: cannot set 'methods' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'",
    "kong.yml:9:12: error: routes[0].headers: cannot set 'headers' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'",
  );
});

test('sources and destinations: IPs and CIDRs of both families, at least one of ip and port', () => {
  const r = load(
    lines(
      HEAD,
      'routes:',
      '- name: r',
      '  protocols: [tcp]',
      '  sources:',
      '  - ip: 10.0.0.300',
      '  - ip: 10.0.0.0/33',
      '  - ip: 2001:db8::/129',
      '  - ip: "2001:db8::/64"',
      '  - ip: ::1',
      '  - ip: 192.168.0.0/16',
      '  - {}',
      '  destinations:',
      '  - ip: fe80::zz',
      '    port: 80',
    ),
  );
  onlyProblems(
    r,
    "kong.yml:6:9: error: routes[0].sources[0].ip: invalid ip or cidr range: '10.0.0.300'",
    "kong.yml:7:9: error: routes[0].sources[1].ip: invalid ip or cidr range: '10.0.0.0/33'",
    "kong.yml:8:9: error: routes[0].sources[2].ip: invalid ip or cidr range: '2001:db8::/129'",
    "kong.yml:12:5: error: routes[0].sources[6]: at least one of these fields must be non-empty: 'ip', 'port'",
    "kong.yml:14:9: error: routes[0].destinations[0].ip: invalid ip or cidr range: 'fe80::zz'",
  );
});

test('route SNI names follow the wildcard rules', () => {
  const r = load(
    lines(
      HEAD,
      'routes:',
      '- name: r',
      '  protocols: [tls]',
      '  snis:',
      '  - "*.a.*"',
      '  - "a.*.com"',
      '  - 10.0.0.1',
      '  - a.com:443',
      '  - "*"',
      '  - "*.ok.com"',
      '  - "ok.*"',
      '  - "bad_$.com"',
    ),
  );
  onlyProblems(
    r,
    'kong.yml:6:5: error: routes[0].snis[0]: only one wildcard must be specified',
    'kong.yml:7:5: error: routes[0].snis[1]: wildcard must be leftmost or rightmost character',
    'kong.yml:8:5: error: routes[0].snis[2]: must not be an IP',
    'kong.yml:9:5: error: routes[0].snis[3]: must not have a port',
    // Kong's typedefs.wildcard_host accepts a lone "*" (it matches any SNI)
    'kong.yml:13:5: error: routes[0].snis[7]: invalid value: bad_$.com',
  );
});

test('service url shorthand: expands, refuses clashes and bad urls', () => {
  const r = load(
    lines(
      HEAD,
      'services:',
      '- name: a',
      '  url: tcp://h:1',
      '  port: 2',
      '- name: b',
      '  url: "not a url"',
      '- name: c',
      '  url: smtp://h:25',
      '- name: d',
      '  url: tcp://h:1/path',
    ),
  );
  onlyProblems(
    r,
    "kong.yml:4:8: error: services[0].url: cannot set 'url' together with 'port'",
    "kong.yml:7:8: error: services[1].url: invalid url: 'not a url'",
    "kong.yml:9:8: error: services[2].url: invalid url: unknown protocol 'smtp'",
    "kong.yml:10:3: error: services[3]: failed conditional validation given value of field 'protocol'",
    'kong.yml:11:8: error: services[3].url: value must be null',
  );
});

test('service host is required without url and must be a hostname or IP', () => {
  const r = load(
    lines(HEAD, 'services:', '- name: a', '  protocol: tcp', '- name: b', '  protocol: tcp', '  host: "bad host"'),
  );
  onlyProblems(
    r,
    'kong.yml:3:3: error: services[0].host: required field missing',
    'kong.yml:7:9: error: services[1].host: invalid value: bad host',
  );
});

test('tls options only on tls and https services', () => {
  const r = load(
    lines(
      HEAD,
      'services:',
      '- name: a',
      '  protocol: tcp',
      '  host: h',
      '  tls_verify: true',
      '  tls_verify_depth: 2',
      '  client_certificate: 0b8e5e6a-2f8a-4bd5-9d9f-0d3c7f7c9a11',
      '  ca_certificates: [0b8e5e6a-2f8a-4bd5-9d9f-0d3c7f7c9a12]',
    ),
  );
  hasProblem(r, 'kong.yml:6:15: error: services[0].tls_verify: value must be null');
  hasProblem(r, 'kong.yml:7:21: error: services[0].tls_verify_depth: value must be null');
  hasProblem(r, 'kong.yml:8:23: error: services[0].client_certificate: value must be null');
  hasProblem(r, "kong.yml:3:3: error: services[0]: failed conditional validation given value of field 'protocol'");
  hasProblem(
    r,
    "kong.yml:8:23: error: services[0].client_certificate: invalid reference 'client_certificate: 0b8e5e6a-2f8a-4bd5-9d9f-0d3c7f7c9a11' (no such entry in 'certificates')",
  );
  hasProblem(
    r,
    "kong.yml:9:21: error: services[0].ca_certificates[0]: invalid reference 'ca_certificates: 0b8e5e6a-2f8a-4bd5-9d9f-0d3c7f7c9a12' (no such entry in 'ca_certificates')",
  );
});

test('references by name or id, and their errors', () => {
  const r = load(
    lines(
      HEAD,
      ...SVC,
      'routes:',
      '- name: r1',
      '  service: s',
      '  protocols: [tcp]',
      '  destinations: [{port: 1}]',
      '- name: r2',
      '  service: nope',
      '  protocols: [tcp]',
      '  destinations: [{port: 2}]',
      '- name: r3',
      '  service: {id: 0b8e5e6a-2f8a-4bd5-9d9f-0d3c7f7c9a11}',
      '  protocols: [tcp]',
      '  destinations: [{port: 3}]',
      'snis:',
      '- name: a.com',
      '  certificate: nope',
      'targets:',
      '- target: 1.2.3.4',
      '  upstream: nope',
      'plugins:',
      '- name: p',
      '  route: r9',
      '  service: s',
      '  consumer: c',
      '  protocols: [tcp]',
    ),
  );
  onlyProblems(
    r,
    "kong.yml:11:12: error: routes[1].service: invalid reference 'service: nope' (no such entry in 'services')",
    "kong.yml:15:12: error: routes[2].service: invalid reference 'service: 0b8e5e6a-2f8a-4bd5-9d9f-0d3c7f7c9a11' (no such entry in 'services')",
    "kong.yml:20:16: error: snis[0].certificate: invalid reference 'certificate: nope' (no such entry in 'certificates')",
    "kong.yml:23:13: error: targets[0].upstream: invalid reference 'upstream: nope' (no such entry in 'upstreams')",
    "kong.yml:26:10: error: plugins[0].route: invalid reference 'route: r9' (no such entry in 'routes')",
    "kong.yml:28:13: error: plugins[0].consumer: invalid reference 'consumer: c' (no such entry in 'consumers')",
  );
});

test('uniqueness of names, ids, targets and plugins', () => {
  const id = '0b8e5e6a-2f8a-4bd5-9d9f-0d3c7f7c9a11';
  const r = load(
    lines(
      HEAD,
      'services:',
      '- name: s',
      '  url: tcp://h:1',
      `  id: ${id}`,
      '- name: s',
      '  url: tcp://h:2',
      `  id: ${id}`,
      'upstreams:',
      '- name: u',
      '  targets: [{target: "a:80"}, {target: "a:80"}, {target: "a"}, {target: "a:8000"}]',
      'consumers:',
      '- username: bob',
      '- username: bob',
      'plugins:',
      '- name: p',
      '  protocols: [tcp]',
      '- name: p',
      '  protocols: [tcp]',
      '- name: p',
      '  service: s',
      '  protocols: [tcp]',
    ),
  );
  onlyProblems(
    r,
    "kong.yml:6:9: error: services[1].name: uniqueness violation: 'services' entity with name set to 's' already declared",
    `kong.yml:8:7: error: services[1].id: uniqueness violation: 'services' entity with id set to '${id}' already declared`,
    "kong.yml:11:40: error: upstreams[0].targets[1].target: uniqueness violation: 'targets' entity with target set to 'a:80' already declared for this upstream",
    "kong.yml:11:73: error: upstreams[0].targets[3].target: uniqueness violation: 'targets' entity with target set to 'a:8000' already declared for this upstream",
    "kong.yml:14:13: error: consumers[1].username: uniqueness violation: 'consumers' entity with username set to 'bob' already declared",
    "kong.yml:18:9: error: plugins[1].name: uniqueness violation: 'plugins' entity with name set to 'p' already declared for the same route, service and consumer",
  );
});

test('upstream names are hostnames; targets are host[:port] with IPv6 in brackets', () => {
  const r = load(
    lines(
      HEAD,
      'upstreams:',
      '- name: "bad name!"',
      '- name: ok.local',
      '  targets:',
      '  - target: "[::1]:80"',
      '  - target: "::1"',
      '  - target: "[::1]:99999"',
      '  - target: "a b"',
      '  - target: "h:x"',
    ),
  );
  onlyProblems(
    r,
    "kong.yml:3:9: error: upstreams[0].name: Invalid name ('bad name!'); must be a valid hostname",
    "kong.yml:8:13: error: upstreams[1].targets[2].target: Invalid target ('[::1]:99999'); not a valid hostname or ip address",
    "kong.yml:9:13: error: upstreams[1].targets[3].target: Invalid target ('a b'); not a valid hostname or ip address",
    "kong.yml:10:13: error: upstreams[1].targets[4].target: Invalid target ('h:x'); not a valid hostname or ip address",
  );
});

test('consumers need a username or a custom_id', () => {
  onlyProblems(
    load(lines(HEAD, 'consumers:', '- tags: [a]')),
    "kong.yml:3:3: error: consumers[0]: at least one of these fields must be non-empty: 'custom_id', 'username'",
  );
});

test('plugin schemas: unknown plugins and bad config are errors at their value; defaults filled in', () => {
  const pluginSchemas = {
    'ip-restriction': {
      type: 'object',
      additionalProperties: false,
      properties: { allow: { type: 'array', items: { type: 'string' } }, status: { type: 'integer', default: 403 } },
    },
  };
  const bad = load(
    lines(
      HEAD,
      'plugins:',
      '- name: nope',
      '  protocols: [tcp]',
      '- name: ip-restriction',
      '  protocols: [tcp]',
      '  config:',
      '    allow: [1.2.3.4, 5]',
      '    deny: []',
    ),
    { pluginSchemas },
  );
  onlyProblems(
    bad,
    "kong.yml:3:9: error: plugins[0].name: plugin 'nope' not enabled; add it to the 'plugins' configuration property",
    'kong.yml:8:22: error: plugins[1].config.allow[1]: expected a string',
    'kong.yml:9:5: error: plugins[1].config.deny: unknown field',
  );
  assert.equal(bad.problems[1]!.field, 'config.allow[1]');
  const good = load(
    lines(HEAD, 'plugins:', '- name: ip-restriction', '  protocols: [tcp]', '  config: {allow: [1.2.3.4]}'),
    { pluginSchemas },
  );
  assertOk(good);
  assert.deepEqual(good.config.plugins[0]!.config, { allow: ['1.2.3.4'], status: 403 });
});

test('duplicate SNI names across certificates and sni entities are errors', () => {
  // certificates do not need to parse for the uniqueness rule, but they do report their own errors: filter.
  const r = load(
    lines(
      HEAD,
      'certificates:',
      '- id: 0b8e5e6a-2f8a-4bd5-9d9f-0d3c7f7c9a11',
      '  cert: x',
      '  key: y',
      '  snis: [a.com]',
      'snis:',
      '- name: a.com',
      '  certificate: 0b8e5e6a-2f8a-4bd5-9d9f-0d3c7f7c9a11',
      '- name: "*.*.com"',
      '  certificate: 0b8e5e6a-2f8a-4bd5-9d9f-0d3c7f7c9a11',
    ),
  );
  hasProblem(
    r,
    "kong.yml:8:9: error: snis[0].name: uniqueness violation: 'snis' entity with name set to 'a.com' already declared",
  );
  hasProblem(r, 'kong.yml:10:9: error: snis[1].name: only one wildcard must be specified');
});
