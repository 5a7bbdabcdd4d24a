import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { convertText } from '../../src/gitops/convert.js';
import { files, runCli } from './helpers.js';

const V2 = `# my gateway, Kong 2.8
_format_version: "2.1"
services:
  - name: web
    url: http://10.0.0.1:80
    routes:
      - name: api
        paths: [/api/v\\d+, /static]   # a regex and a plain path
        regex_priority: 10
  - name: db
    url: tcp://10.0.0.2:5432   # stream parts are unchanged
    routes:
      - name: db
        protocols: [tls]
        snis: [db.example.com]
upstreams:
  - name: pool
    hash_on: header
    hash_on_header: x-user
`;

test('convert 2.1 → 3.0: version bumped, regex paths marked with ~, comments kept, notes say what changed', () => {
  const r = convertText(V2, 'kong.yml');
  assert.equal(r.from, '2.1');
  assert.equal(r.changed, true);
  assert.equal(r.text, V2.replace('"2.1"', '"3.0"').replace('[/api/v\\d+, /static]', '[~/api/v\\d+, /static]'));
  assert.deepEqual(r.notes, [
    "_format_version: '2.1' → '3.0'",
    "route 'api': paths: '/api/v\\d+' is a regex, now '~/api/v\\d+' (Kong 3 marks regex paths with ~; HTTP routes are not served by kong-ts)",
    "route 'api': regex_priority/path_handling kept as they are (HTTP routing; kong-ts ignores them)",
    "upstream 'pool': hash_on: 'header' only applies to HTTP; stream connections hash on none or ip (kept)",
  ]);
  const again = convertText(r.text, 'kong.yml');
  assert.equal(again.changed, false);
  assert.equal(again.text, r.text);
});

test('convert 1.1 notes tls_passthrough; JSON stays JSON; unknown versions and garbage are errors', () => {
  const v1 = convertText(
    '{"_format_version": "1.1", "routes": [{"name": "p", "protocols": ["tls_passthrough"], "snis": ["a.b"]}]}',
    'k.json',
  );
  assert.equal(
    v1.text,
    '{"_format_version": "3.0", "routes": [{"name": "p", "protocols": ["tls_passthrough"], "snis": ["a.b"]}]}',
  );
  assert.match(v1.notes[1]!, /^route 'p': protocols: tls_passthrough did not exist before Kong 2\.x; kept$/);
  assert.throws(
    () => convertText('_format_version: "0.9"\n', 'k.yml'),
    /_format_version '0\.9' is not one of 1\.1, 2\.1, 3\.0/,
  );
  assert.throws(() => convertText('services: []\n', 'k.yml'), /no _format_version/);
  assert.throws(() => convertText('a: [\n', 'k.yml'), /^Error: k\.yml:\d+:\d+: /);
});

test('config convert CLI: stdout with notes on stderr, -o writes the file, the result is validated', async () => {
  const f = files('convert', {
    'v2.yml': V2,
    'bad.yml': '_format_version: "2.1"\nservices:\n  - name: s\n    port: 99999\n    host: h\n',
    'nov.yml': 'services: []\n',
  });
  const out = await runCli(['config', 'convert', f['v2.yml']!]);
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /^_format_version: "3\.0"$/m);
  assert.match(out.stderr, /^note: _format_version: '2\.1' → '3\.0'$/m);
  const target = join(f.dir, 'v3.yml');
  const written = await runCli(['config', 'convert', f['v2.yml']!, '-o', target]);
  assert.equal(written.code, 0, written.stderr);
  assert.match(written.stdout, /v3\.yml written \(_format_version "3\.0"\)/);
  assert.match(readFileSync(target, 'utf8'), /^# my gateway, Kong 2\.8$/m);
  assert.equal((await runCli(['config', 'parse', target])).code, 0);
  const bad = await runCli(['config', 'convert', f['bad.yml']!]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /the converted file is not valid yet \(1 error\)/);
  const nov = await runCli(['config', 'convert', f['nov.yml']!]);
  assert.equal(nov.code, 2);
  const missing = await runCli(['config', 'convert', join(f.dir, 'nope.yml')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read .*nope\.yml: ENOENT/);
});

test('config init writes the starter file once; it parses', async () => {
  const f = files('init', {});
  const file = join(f.dir, 'kong.yml');
  const r = await runCli(['config', 'init', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(file));
  assert.match(readFileSync(file, 'utf8'), /^# kong-ts example/);
  assert.equal((await runCli(['config', 'parse', file])).code, 0);
  const again = await runCli(['config', 'init', file]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already exists/);
});
