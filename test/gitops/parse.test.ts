import { test } from 'node:test';
import assert from 'node:assert/strict';
import { files, runCli } from './helpers.js';

const GOOD = `_format_version: "3.0"
services:
  - name: s
    url: tcp://127.0.0.1:1
    routes:
      - { name: r, protocols: [tcp], destinations: [{ port: 1 }] }
  - name: web
    url: http://127.0.0.1:80
`;
const BAD = `_format_version: "3.0"
services:
  - name: a
    url: tcp://127.0.0.1:1
    routes:
      - name: r
        protocols: [tcp]
        sources: [{ ip: 10.0.0.300 }]
  - name: a
    host: 127.0.0.1
`;

test('config parse --format github: one annotation per problem of every file, on stdout', async () => {
  const f = files('parse-gh', { 'good.yml': GOOD, 'bad.yml': BAD });
  const r = await runCli(['config', 'parse', '--format', 'github', f['good.yml']!, f['bad.yml']!]);
  assert.equal(r.code, 1);
  const esc = (p: string) => p.replace(/:/g, '%3A').replace(/,/g, '%2C');
  const lines = r.stdout.trim().split('\n');
  assert.match(
    lines[0]!,
    new RegExp(`^::warning file=${esc(f['good.yml']!)},line=8,col=10,title=services\\[1\\]\\.url::`),
  );
  assert.equal(lines[1], `${f['good.yml']}: parse successful`);
  assert.match(
    lines[2]!,
    new RegExp(
      `^::error file=${esc(f['bad.yml']!)},line=8,col=\\d+,title=services\\[0\\]\\.routes\\[0\\]\\.sources\\[0\\]\\.ip::.*10\\.0\\.0\\.300`,
    ),
  );
  assert.match(lines[3]!, /^::error file=.*,line=9,col=\d+,title=services\[1\]\.name::uniqueness violation/);
  assert.equal(lines.length, 4);
  assert.equal(r.stderr, `${f['bad.yml']}: Failed parsing: 2 errors\n`);
});

test('config parse --format json: the documented shape', async () => {
  const f = files('parse-json', { 'good.yml': GOOD, 'bad.yml': BAD });
  const r = await runCli(['config', 'parse', '--format', 'json', f['good.yml']!, f['bad.yml']!]);
  assert.equal(r.code, 1);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(j), ['valid', 'files']);
  assert.equal(j.valid, false);
  assert.deepEqual(
    j.files.map((x: { valid: boolean }) => x.valid),
    [true, false],
  );
  assert.match(j.files[1].hash, /^[0-9a-f]{32}$/);
  const p = j.files[1].problems[1];
  assert.deepEqual(Object.keys(p).slice(0, 6), ['severity', 'file', 'line', 'column', 'path', 'message']);
  assert.equal(p.severity, 'error');
  assert.equal(p.line, 9);
  assert.equal(p.entity.type, 'services');
});

test('config parse text: every file, warnings on stdout, errors on stderr; exit 0 when all are valid', async () => {
  const f = files('parse-text', { 'good.yml': GOOD, 'good2.yml': GOOD });
  const r = await runCli(['config', 'parse', f['good.yml']!, f['good2.yml']!]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /good\.yml:8:10: warning: services\[1\]\.url: /);
  assert.match(r.stdout, /good2\.yml: parse successful$/m);
  const fmt = await runCli(['config', 'parse', '--format', 'yaml', f['good.yml']!]);
  assert.equal(fmt.code, 2);
});
