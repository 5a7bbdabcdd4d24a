import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../../src/paths.js';
import { loadConfigFile, loadConfigText, formatProblem, formatProblems } from '../../src/config/load.js';
import { uuidv5 } from '../../src/config/ids.js';
import { HEAD, lines, load, onlyProblems } from './helpers.js';

test('YAML syntax errors: all of them, with positions', () => {
  const r = load(lines(HEAD, 'services:', '  - name: a', '    host: [unclosed', '  - name: "b'));
  onlyProblems(
    r,
    'kong.yml:5:3: error: Flow sequence in block collection must be sufficiently indented and end with a ]',
    'kong.yml:6:1: error: Missing closing "quote',
  );
});

test('duplicate keys are errors', () => {
  onlyProblems(
    load(lines(HEAD, 'services: []', 'services: []', 'routes:', '- name: a', '  name: b')),
    'kong.yml:3:1: error: Map keys must be unique',
    'kong.yml:6:3: error: Map keys must be unique',
  );
});

test('one document per file; tabs refused', () => {
  onlyProblems(
    load(lines(HEAD, '---', 'a: 1')),
    'kong.yml:2:1: error: a declarative config file holds a single YAML document',
  );
  onlyProblems(
    load(lines(HEAD, 'services:', '\t- name: a')),
    'kong.yml:3:1: error: Tabs are not allowed as indentation',
  );
});

test('.json files must be JSON', () => {
  onlyProblems(
    load('{"_format_version": "3.0", }', undefined, 'kong.json'),
    'kong.json:1:28: error: invalid JSON: Expected double-quoted property name in JSON at position 27',
  );
  const r = load(lines(HEAD), undefined, 'kong.json');
  assert.equal(r.ok, false);
  assert.match(r.problems[0]!.message, /^invalid JSON: /);
  assert.equal(load('{"_format_version": "3.0"}', undefined, 'KONG.JSON').ok, true);
});

test('anchors and aliases work; alias bombs are refused at the alias that went over the limit', () => {
  const ok = load(lines(HEAD, 'services:', '- &base', '  name: a', '  url: tcp://h:1', '- <<: *base', '  name: b'));
  assert.equal(ok.ok, true);
  assert.deepEqual(ok.ok && ok.config.services.map((s) => [s.name, s.host]), [
    ['a', 'h'],
    ['b', 'h'],
  ]);
  const bomb = [
    'a: &a [1,2]',
    'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
    'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
    'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
    'e: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]',
  ];
  onlyProblems(
    load(lines(...bomb)),
    'kong.yml:5:5: error: Excessive alias count indicates a resource exhaustion attack',
  );
});

test('nesting deeper than 200 levels is refused by the parser before anything recurses (V8 aborts on regexps at the stack edge)', () => {
  onlyProblems(load('['.repeat(20000)), 'kong.yml:1:201: error: nesting deeper than 200 levels');
  onlyProblems(
    load('config: ' + '['.repeat(100000) + ']'.repeat(100000)),
    'kong.yml:1:208: error: nesting deeper than 200 levels',
  );
  onlyProblems(
    load('{"config": ' + '['.repeat(5000) + ']'.repeat(5000) + '}', undefined, 'kong.json'),
    'kong.json:1:211: error: nesting deeper than 200 levels',
  );
  onlyProblems(load('- '.repeat(5000) + 'x'), 'kong.yml:1:400: error: nesting deeper than 200 levels');
  onlyProblems(
    load(Array.from({ length: 300 }, (_, i) => `${' '.repeat(i)}a:`).join('\n')),
    'kong.yml:200:201: error: nesting deeper than 200 levels',
  );
  // quoting cannot fool the bound either way: an escaped quote or a plain a'b before brackets is a scalar
  assert.equal(load(lines(HEAD, `_comment: "a\\"${'['.repeat(500)}"`)).ok, true);
  assert.equal(load(lines(HEAD, `_comment: a'b ${'['.repeat(500)}`)).ok, true);
  onlyProblems(
    load(lines(HEAD, `_comment: "a\\"", x: ${'['.repeat(500)}`)),
    'kong.yml:2:219: error: nesting deeper than 200 levels',
  );
  // brackets inside quotes and comments do not count
  assert.equal(load(lines(HEAD, `_comment: "${'['.repeat(500)}"`, `# ${'{'.repeat(500)}`)).ok, true);
});

test('hash is the md5 of the raw text, whatever the outcome', () => {
  for (const text of [lines(HEAD), 'not: [valid', '']) {
    assert.equal(load(text).hash, createHash('md5').update(text).digest('hex'));
  }
});

test('formatProblem and formatProblems', () => {
  const p = { severity: 'warning' as const, file: 'kong.yml', line: 3, column: 7, path: 'routes[0]', message: 'm' };
  assert.equal(formatProblem(p), 'kong.yml:3:7: warning: routes[0]: m');
  assert.equal(formatProblem({ ...p, path: '', severity: 'error' }), 'kong.yml:3:7: error: m');
  assert.equal(formatProblems([p, p]), 'kong.yml:3:7: warning: routes[0]: m\nkong.yml:3:7: warning: routes[0]: m');
});

test('problems are sorted by position', () => {
  const r = load(
    lines(
      HEAD,
      'upstreams:',
      '- name: u',
      '  slots: 1',
      'services:',
      '- name: s',
      '  port: x',
      '  protocol: tcp',
      '  host: h',
      'bogus: 1',
    ),
  );
  const pos = r.problems.map((p) => p.line);
  assert.deepEqual(
    pos,
    [...pos].sort((a, b) => a - b),
  );
  assert.equal(pos.length, 3);
});

test('loadConfigFile reads a file; a missing file is one problem', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kong-ts-load-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'kong.yml');
  writeFileSync(file, lines(HEAD, 'services:', '- name: s', '  url: tcp://h:1'));
  const r = await loadConfigFile(file);
  assert.equal(r.ok, true);
  assert.equal(r.file, file);
  assert.equal(r.ok && r.config.services[0]!.id, uuidv5('services:s'));
  const missing = await loadConfigFile(join(dir, 'nope.yml'));
  assert.equal(missing.ok, false);
  assert.deepEqual(missing.problems.map(formatProblem), [
    `${join(dir, 'nope.yml')}:1:1: error: cannot read declarative config file: no such file`,
  ]);
  const isDir = await loadConfigFile(dir);
  assert.equal(isDir.problems[0]!.message, 'cannot read declarative config file: is a directory');
});

test('UUIDv5 matches the RFC 4122 test vector', () => {
  assert.equal(
    uuidv5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8'),
    '2ed6657d-e927-568b-95e1-2665a8aea6a2',
  );
});

test('no exception escapes for any input: random bytes, truncations, deep nesting, junk shapes', () => {
  const full = readFileSync(join(ROOT, 'test', 'fixtures', 'config', 'full.yml'), 'utf8');
  const inputs: string[] = [
    '['.repeat(20000),
    '{'.repeat(5000) + '}'.repeat(5000),
    '- '.repeat(3000) + 'x',
    'a: '.repeat(3000),
    `${HEAD}\n_ignore: ${'['.repeat(2000)}${']'.repeat(2000)}\n`,
    `${HEAD}\nservices: ${JSON.stringify([{ name: 'a', routes: [[[{}]]], plugins: { x: 1 } }, 5, null, 'str'])}\n`,
    `${HEAD}\nroutes: [{protocols: tcp, sources: {ip: 1}}, {snis: [1, null]}, {sources: [1, [2]]}]\n`,
    `${HEAD}\ncertificates: [{cert: 1, key: [], snis: [null, 1]}]\nupstreams: [{name: 1, targets: 3, healthchecks: []}]\n`,
    `${HEAD}\nplugins: [{name: x, config: null, route: [], service: {}, consumer: 3, protocols: {}}]\n`,
    `${HEAD}\nservices: [{url: 1}, {url: "tcp://[::1"}, {url: "tcp://:80"}, {name: s, ca_certificates: [1, x]}]\n`,
    `${HEAD}\ntargets: [{target: "[zz]:1", upstream: {id: 1}}, {target: ":::::", upstream: {}}]\n`,
    `${HEAD}\nconsumers: [{plugins: [{name: p, consumer: x}]}]\nsnis: [{name: '*', certificate: {name: x}}]\n`,
  ];
  for (let cut = 0; cut < full.length; cut += 97) inputs.push(full.slice(0, cut));
  let seed = 42;
  const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 100; i++) inputs.push(randomBytes(1 + Math.floor(rand() * 300)).toString('latin1'));
  for (let i = 0; i < 100; i++) {
    // shuffle lines of a good file: structurally plausible junk
    const ls = full.split('\n');
    for (let j = 0; j < 5; j++) {
      const a = Math.floor(rand() * ls.length);
      const b = Math.floor(rand() * ls.length);
      [ls[a], ls[b]] = [ls[b]!, ls[a]!];
    }
    inputs.push(ls.join('\n'));
  }
  for (const text of inputs) {
    for (const file of ['kong.yml', 'kong.json']) {
      const r = loadConfigText(text, file, { pluginSchemas: { p: { type: 'object' } } });
      assert.equal(typeof r.ok, 'boolean');
      for (const p of r.problems) {
        assert.ok(p.line >= 1 && p.column >= 1 && typeof p.message === 'string', JSON.stringify(p));
        assert.doesNotMatch(p.message, /internal error/, `input: ${JSON.stringify(text.slice(0, 200))}`);
      }
    }
  }
});
