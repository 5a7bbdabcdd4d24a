/**
 * Declarative-file parity cases: each names the Kong spec (tag 3.9.3) it comes from, a small declarative file and
 * Kong's verdict: 'ok' (Kong accepts it), or the errors Kong reports, as `[path, message]` (the path of the field in
 * kong-ts's terms; `@entity` errors sit at the entity's own path).
 */

export type Verdict = 'ok' | Array<[string, string]>;

export interface ConfigCase {
  spec: string;
  doc: Record<string, unknown>;
  want: Verdict;
}

const S = 'spec/01-unit/01-db/01-schema/05-services_spec.lua';
const RT = 'spec/01-unit/01-db/01-schema/06-routes_spec.lua';
const SN = 'spec/01-unit/01-db/01-schema/11-snis_spec.lua';
const UP = 'spec/01-unit/01-db/01-schema/09-upstreams_spec.lua';
const FL = 'spec/01-unit/01-db/01-schema/11-declarative_config/03-flatten_spec.lua';
const CA = 'spec/01-unit/01-db/01-schema/11-declarative_config/01-validate_spec.lua';

const doc = (o: Record<string, unknown>) => ({ _format_version: '3.0', ...o });
const svc = (o: Record<string, unknown>) =>
  doc({ services: [{ name: 's', protocol: 'tcp', host: 'x.y', port: 80, ...o }] });
/** a route under a tcp service (a stream route needs one of sources, destinations, snis unless the case says) */
const route = (o: Record<string, unknown>) =>
  doc({ services: [{ name: 's', protocol: 'tcp', host: 'x.y', port: 80 }], routes: [{ service: 's', ...o }] });
/** `$CERT` and `$KEY` are replaced by a generated pair when the case runs */
const sni = (name: string) =>
  doc({
    certificates: [{ id: 'a4fbd24e-6a52-4937-bd78-2536713072d2', cert: '$CERT', key: '$KEY' }],
    snis: [{ name, certificate: 'a4fbd24e-6a52-4937-bd78-2536713072d2' }],
  });

const cases: ConfigCase[] = [];
const add = (spec: string, d: Record<string, unknown>, want: Verdict) => cases.push({ spec, doc: d, want });

// services: host
for (const h of [
  '/example',
  '.example',
  'example:',
  'mock;bin',
  'example.com/org',
  'example-.org',
  'example.org-',
  'hello..example.com',
  'hello-.example.com',
  '*example.com',
  'www.example*',
  'mock*bin.com',
]) {
  add(`${S}:349 rejects invalid hostnames (${h})`, svc({ host: h }), [['services[0].host', `invalid value: ${h}`]]);
}
add(`${S}:376 rejects values with a valid port`, svc({ host: 'example.com:80' }), [
  ['services[0].host', 'must not have a port'],
]);
add(`${S}:386 rejects values with an invalid port`, svc({ host: 'example.com:1000000' }), [
  ['services[0].host', 'must not have a port'],
]);
add(`${S}:339 host must be a non-empty string`, svc({ host: '' }), [['services[0].host', 'length must be at least 1']]);
for (const h of [
  'hello.com',
  'hello.fr',
  'test.hello.com',
  '1991.io',
  'hello.COM',
  'HELLO.com',
  '123helloWORLD.com',
  'example.123',
  'example-api.com',
  'hello.abcd',
  'example_api.com',
  'localhost',
  'example.test.',
  '3B-ww4c5e180e575a65lsy2b',
  '-with-SUPER-MONKEYS-pc58ag80a8qai00g7n9n',
  'Hello-Another-Way--fc4qua05auwb3674vfr0b',
  '2-u9tlzr9756bt3uc0v',
  'MajiKoi5-783gue6qz075azm5e',
  'de-jg4avhby1noc0d',
  'd9juau41awczczp',
]) {
  add(`${S}:397 accepts valid hosts (${h})`, svc({ host: h }), 'ok');
}
// services: name
for (const n of [
  'example',
  'EXAMPLE',
  'exa.mp.le',
  '3x4mp13',
  '3x4-mp-13',
  '3x4_mp_13',
  '~3x4~mp~13',
  '~3..x4~.M-p~1__3_',
  '孔',
  'Конг',
  '🦍',
]) {
  add(`${S}:482 accepts valid names (${n})`, svc({ name: n }), 'ok');
}
for (const n of ['examp:le', 'examp;le', 'examp/le', 'examp le']) {
  add(`${S}:459 rejects invalid names (${n})`, svc({ name: n }), [
    [
      'services[0].name',
      `invalid value '${n}': the only accepted ascii characters are alphanumerics or ., -, _, and ~`,
    ],
  ]);
}
add(`${S}:452 name must be a non-empty string`, svc({ name: '' }), [['services[0].name', 'length must be at least 1']]);
add(`${S}:443 name must be a string`, svc({ name: false }), [['services[0].name', 'expected a string']]);
// services: stream context
for (const p of ['tcp', 'tls', 'udp']) add(`${S}:517 'protocol' accepts '${p}'`, svc({ protocol: p }), 'ok');
for (const p of ['tcp', 'tls', 'udp']) {
  add(`${S}:577 if 'protocol = ${p}', then 'path' is empty`, svc({ protocol: p, path: '/' }), [
    ['services[0].path', 'value must be null'],
    ['services[0]', "failed conditional validation given value of field 'protocol'"],
  ]);
}
add(`${S}:134 timeouts should not be zero`, svc({ connect_timeout: 0, read_timeout: 0, write_timeout: 0 }), [
  ['services[0].connect_timeout', 'value should be between 1 and 2147483646'],
  ['services[0].read_timeout', 'value should be between 1 and 2147483646'],
  ['services[0].write_timeout', 'value should be between 1 and 2147483646'],
]);
add(
  `${S}:77 missing host produces error (with a bad port too: every error)`,
  doc({ services: [{ name: 's', protocol: 'tcp', port: 70000 }] }),
  [
    ['services[0].host', 'required field missing'],
    ['services[0].port', 'value should be between 0 and 65535'],
  ],
);
add(`${S}:67 invalid protocol produces error`, svc({ protocol: 'ftp' }), [
  ['services[0].protocol', 'expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp'],
]);

// routes: stream
for (const p of ['tcp', 'tls', 'udp']) {
  add(`${RT}:781 'protocol' accepts '${p}'`, route({ protocols: [p], sources: [{ ip: '127.0.0.1' }] }), 'ok');
  add(
    `${RT}:821 if 'protocol = ${p}', then 'paths' is empty`,
    route({ protocols: [p], sources: [{ ip: '127.0.0.1' }], paths: ['/'] }),
    [['routes[0].paths', "cannot set 'paths' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'"]],
  );
  add(
    `${RT}:838 if 'protocol = ${p}', then 'methods' is empty`,
    route({ protocols: [p], sources: [{ ip: '127.0.0.1' }], methods: ['GET'] }),
    [['routes[0].methods', "cannot set 'methods' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'"]],
  );
  add(`${RT}:1066 errors if no L4 matching attribute set (${p})`, route({ protocols: [p] }), [
    ['routes[0]', "must set one of 'sources', 'destinations', 'snis' when 'protocols' is 'tcp', 'tls' or 'udp'"],
  ]);
}
for (const side of ['sources', 'destinations']) {
  add(
    `${RT}:861 '${side}' accepts valid IPs and ports`,
    route({ protocols: ['tcp'], [side]: [{ ip: '127.75.78.72', port: 8000 }] }),
    'ok',
  );
  add(
    `${RT}:878 '${side}' accepts valid IPs (no port)`,
    route({ protocols: ['tcp'], [side]: [{ ip: '127.0.0.1' }, { ip: '127.75.78.72', port: 8000 }] }),
    'ok',
  );
  add(
    `${RT}:896 '${side}' accepts valid ports (no IP)`,
    route({ protocols: ['tcp'], [side]: [{ port: 8000 }, { ip: '127.75.78.72', port: 8000 }] }),
    'ok',
  );
  add(
    `${RT}:914 '${side}' rejects invalid 'port' values`,
    route({ protocols: ['tcp'], [side]: [{ ip: '127.0.0.1' }, { ip: '127.75.78.72', port: 65536 }] }),
    [[`routes[0].${side}[1].port`, 'value should be between 0 and 65535']],
  );
  for (const ip of [
    '127.',
    ':::1',
    '-1',
    'localhost',
    'foo',
    'f',
    'example.org',
    '1/0',
    '2130706433/2',
    '0.0.0.0/a',
    '::/a',
    '0.0.0.0/-1',
    '0.0.0.0/33',
    '::/129',
  ]) {
    add(
      `${RT}:931 '${side}' rejects invalid 'ip' values (${ip})`,
      route({ protocols: ['tcp'], [side]: [{ ip }, { ip: '127.75.78.72', port: 8000 }] }),
      [[`routes[0].${side}[0].ip`, `invalid ip or cidr range: '${ip}'`]],
    );
  }
  for (const ip of ['0.0.0.0/0', '::/0', '0.0.0.0/1', '::/1', '0.0.0.0/32', '::/128']) {
    add(
      `${RT}:968 '${side}' accepts valid 'ip cidr' values (${ip})`,
      route({ protocols: ['tcp'], [side]: [{ ip }, { ip: '127.75.78.72', port: 8000 }] }),
      'ok',
    );
  }
}
for (const s of ['example.org', 'www.example.org'])
  add(`${RT}:1016 accepts valid SNIs for tls Routes (${s})`, route({ protocols: ['tls'], snis: [s] }), 'ok');
add(`${RT}:1030 rejects invalid SNIs (127.0.0.1)`, route({ protocols: ['tcp', 'tls'], snis: ['127.0.0.1'] }), [
  ['routes[0].snis[0]', 'must not be an IP'],
]);
add(
  `${RT}:1030 rejects invalid SNIs (example.org:80)`,
  route({ protocols: ['tcp', 'tls'], snis: ['example.org:80'] }),
  [['routes[0].snis[0]', 'must not have a port']],
);
add(
  `${RT}:1049 rejects 'snis' if 'protocols' has no 'https', 'tls' or 'tls_passthrough'`,
  route({ protocols: ['tcp', 'udp'], snis: ['example.org'] }),
  [
    ['routes[0]', "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'"],
    ['routes[0].snis', 'length must be 0'],
  ],
);
add(
  `${RT}:1224 errors if tls and tls_passthrough set on a same route`,
  route({ protocols: ['tls', 'tls_passthrough'], snis: ['foo.grpc.test'] }),
  [['routes[0].protocols', "these sets are mutually exclusive: ('tcp', 'tls', 'udp'), ('tls_passthrough')"]],
);
add(
  `${RT}:1238 errors if snis is not set on tls_passthrough`,
  route({ protocols: ['tls_passthrough'], sources: [{ ip: '127.0.0.1' }] }),
  [['routes[0]', "must set snis when 'protocols' is 'tls_passthrough'"]],
);
add(
  `${RT}:1120 errors if no L7 matching attribute set (http route: an error, not skipped)`,
  route({ protocols: ['http'] }),
  [['routes[0]', "must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'"]],
);
for (const n of ['孔', 'Конг', '🦍'])
  add(
    `${RT}:750 accepts valid names (${n})`,
    route({ name: n, protocols: ['tcp'], destinations: [{ port: 1 }] }),
    'ok',
  );

// snis
for (const n of [
  'valid.name',
  'foo.valid.name',
  'bar.foo.valid.name',
  '*',
  '*.wildcard.com',
  'wildcard.*',
  'test.wildcard.*',
  'foo.test.wildcard.*',
  '*.test.wildcard.com',
]) {
  add(`${SN}:35 accepts a hostname, * and wildcards (${n})`, sni(n), 'ok');
}
for (const n of ['foo.*.com', 'foo.*.wildcard.com'])
  add(`${SN}:66 rejects wrong wildcard placements (${n})`, sni(n), [
    ['snis[0].name', 'wildcard must be leftmost or rightmost character'],
  ]);
for (const n of ['*.example.*', '*.foo.*.wildcard.com', '*.*.wildcard.*'])
  add(`${SN}:76 rejects multiple wildcards (${n})`, sni(n), [['snis[0].name', 'only one wildcard must be specified']]);
add(`${SN}:86 rejects wildcard with port (wildcard.*:80: the * is not last)`, sni('wildcard.*:80'), [
  ['snis[0].name', 'wildcard must be leftmost or rightmost character'],
]);
add(`${SN}:86 rejects wildcard with port (test.wildcard.com:*)`, sni('test.wildcard.com:*'), [
  ['snis[0].name', 'invalid value: test.wildcard.com:wildcard'],
]);
for (const n of ['valid.name:8000', 'foo.valid.name:443', '*.wildcard.com:8000'])
  add(`${SN}:99 rejects a hostname with a port (${n})`, sni(n), [['snis[0].name', 'must not have a port']]);
for (const n of ['127.0.0.1', '10.0.0.1', '10.0.0.1:8001', '::1'])
  add(`${SN}:109 rejects a hostname with an IP (${n})`, sni(n), [['snis[0].name', 'must not be an IP']]);

// upstreams
for (const [n, m] of [
  ['1.2.3.4', "Invalid name ('1.2.3.4'); no ip addresses allowed"],
  ['host.test:123', "Invalid name ('host.test:123'); no port allowed"],
  ['http://host.test', "Invalid name ('http://host.test'); must be a valid hostname"],
] as const) {
  add(`${UP}:310 requires a valid name with no port (${n})`, doc({ upstreams: [{ name: n }] }), [
    ['upstreams[0].name', m],
  ]);
}
for (const n of ['valid.host', 'host.test', '-leading.hyphen.test'])
  add(`${UP}:329 accepts valid names (${n})`, doc({ upstreams: [{ name: n }] }), 'ok');

// unserved entities Kong OSS accepts (flatten spec), and their references
add(
  `${FL}:1710 accepts nested oauth2_credentials`,
  doc({
    consumers: [
      {
        username: 'bob',
        oauth2_credentials: [{ name: 'my-credential', redirect_uris: ['https://example.com'], tags: ['tag1'] }],
      },
    ],
  }),
  'ok',
);
add(
  `${FL}:1683 fails with invalid foreign key references`,
  doc({
    oauth2_credentials: [
      { name: 'my-credential', consumer: 'foo', redirect_uris: ['https://example.com'] },
      { name: 'another-credential', consumer: 'foo', redirect_uris: ['https://example.test'] },
    ],
  }),
  [
    ['oauth2_credentials[0].consumer', "invalid reference 'consumer: foo' (no such entry in 'consumers')"],
    ['oauth2_credentials[1].consumer', "invalid reference 'consumer: foo' (no such entry in 'consumers')"],
  ],
);
add(
  'kong/plugins/basic-auth/daos.lua:14 basicauth_credentials: username and password required',
  doc({ consumers: [{ username: 'bob', basicauth_credentials: [{ username: 'bob' }] }] }),
  [['consumers[0].basicauth_credentials[0].password', 'required field missing']],
);
add(
  'kong/plugins/basic-auth/daos.lua keyauth, acls, hmac, jwt nested in a consumer',
  doc({
    consumers: [
      {
        username: 'bob',
        keyauth_credentials: [{ key: 'k' }],
        acls: [{ group: 'g' }],
        hmacauth_credentials: [{ username: 'bob' }],
        jwt_secrets: [{ key: 'k', algorithm: 'HS256' }],
      },
    ],
  }),
  'ok',
);
add(
  'kong/plugins/acl/daos.lua acls at the top level reference a consumer',
  doc({ consumers: [{ username: 'bob' }], acls: [{ consumer: 'bob', group: 'g' }] }),
  'ok',
);
add(
  'kong/db/schema/entities/vaults.lua a vault',
  doc({ vaults: [{ name: 'env', prefix: 'my-env', config: { prefix: 'SECRET_' } }] }),
  'ok',
);
add(
  'kong/db/schema/entities/keys.lua keys in a key set',
  doc({ key_sets: [{ name: 'ks' }], keys: [{ kid: '1', set: 'ks', jwk: '{"kid":"1"}' }] }),
  'ok',
);
add('kong/db/schema/entities/keys.lua a key needs jwk or pem', doc({ keys: [{ kid: '1' }] }), [
  ['keys[0]', "at least one of these fields must be non-empty: 'jwk', 'pem'"],
]);
add('kong/db/schema/typedefs.lua:118 tags: spaces and UTF-8 accepted', svc({ tags: ['a tag', '🦍', 'x.y:z'] }), 'ok');
add('kong/db/schema/typedefs.lua:118 tags: a comma or a slash refused', svc({ tags: ['a,b', 'c/d'] }), [
  ['services[0].tags[0]', "invalid tag 'a,b': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"],
  ['services[0].tags[1]', "invalid tag 'c/d': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"],
]);
add(`${CA}:162 services: verifies required fields`, doc({ services: [{ name: 'foo' }] }), [
  ['services[0].host', 'required field missing'],
]);
add(
  `${CA}:178 services: performs regular validations (every error of the entity)`,
  doc({ services: [{ name: 'foo', retries: -1, protocol: 'foo', host: 1234, port: 99999, path: '/foo//bar/' }] }),
  [
    ['services[0].host', 'expected a string'],
    ['services[0].path', 'must not have empty segments'],
    ['services[0].port', 'value should be between 0 and 65535'],
    ['services[0].protocol', 'expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp'],
    ['services[0].retries', 'value should be between 0 and 32767'],
  ],
);
add(
  `${CA}:203 services: allows url shorthand`,
  doc({ services: [{ name: 'foo', url: 'https://example.com:8000/hello/world' }] }),
  'ok',
);
add(`${CA}:135 services: accepts an empty list`, doc({ services: null }), 'ok');
add(
  `${CA}:142 services: accepts entities with _comment and _ignore`,
  doc({
    services: [
      { name: 'foo', host: 'example.com', protocol: 'https', _comment: 'my comment', _ignore: [{ foo: 'bar' }] },
      { name: 'bar', host: 'example.test', port: 3000, _comment: 'my comment', _ignore: [{ foo: 'bar' }] },
    ],
  }),
  'ok',
);
add(
  `${CA}:302 nested plugins: verifies required fields`,
  doc({ services: [{ name: 'foo', url: 'https://example.com', plugins: [{ enabled: true }] }] }),
  [['services[0].plugins[0].name', 'required field missing']],
);
add(
  `${CA}:325 nested plugins: an unknown plugin`,
  doc({ services: [{ name: 'foo', url: 'https://example.com', plugins: [{ name: 'foo' }] }] }),
  [['services[0].plugins[0].name', "plugin 'foo' not enabled; add it to the 'plugins' configuration property"]],
);
add(
  `${CA}:604 accepts vaults (tags: ~)`,
  doc({
    vaults: [{ prefix: 'aba', config: { prefix: 'BANANA_' }, description: 'Banana vault', tags: null, name: 'env' }],
  }),
  'ok',
);
add(
  `${CA}:643 oauth2_credentials: accepts entities`,
  doc({
    consumers: [{ username: 'foo' }],
    oauth2_credentials: [
      { name: 'my-credential', consumer: 'foo', redirect_uris: ['https://example.com'] },
      { name: 'another-credential', consumer: 'foo', redirect_uris: ['https://example.test'] },
    ],
  }),
  'ok',
);
add(
  `${CA}:660 oauth2_credentials: verifies required fields`,
  doc({ consumers: [{ username: 'foo' }], oauth2_credentials: [{ consumer: 'foo' }] }),
  [['oauth2_credentials[0].name', 'required field missing']],
);
add(`${CA}:31 an unknown top-level key is refused`, doc({ foo: [] }), [['foo', 'unknown field']]);

export const CONFIG_CASES = cases;
