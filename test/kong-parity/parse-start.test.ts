/**
 * `kong-ts config parse` runs the checks `start` runs (one code path, plugin configs included), as `kong config
 * parse` does for Kong (spec/02-integration/02-cmd/11-config_spec.lua): a tcp-log without `host` and an unknown
 * plugin are errors in both, with the same messages.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort, runCli, tempDir } from '../helpers/cli.js';

const FILE = `_format_version: "3.0"
services:
- name: s
  url: tcp://127.0.0.1:1
  routes:
  - protocols: [tcp]
    destinations: [{port: 1}]
  plugins:
  - name: tcp-log
    protocols: [tcp]
    config: {port: 1}
  - name: not-a-plugin
    protocols: [tcp]
`;
const EXPECTED = [
  'services[0].plugins[0].config.host: required field missing',
  "services[0].plugins[1].name: plugin 'not-a-plugin' not enabled; add it to the 'plugins' configuration property",
];

test('config parse and start refuse the same file with the same errors', async () => {
  const dir = tempDir('parse-start');
  const file = join(dir, 'kong.yml');
  writeFileSync(file, FILE);
  const parse = await runCli(['config', 'parse', file]);
  assert.equal(parse.code, 1, parse.stdout + parse.stderr);
  const start = await runCli([
    'start',
    '-c',
    file,
    '-p',
    join(dir, 'prefix'),
    '--stream-listen',
    `127.0.0.1:${await freePort()}`,
    '--admin-listen',
    'off',
  ]);
  assert.notEqual(start.code, 0, start.stdout + start.stderr);
  for (const m of EXPECTED) {
    assert.ok(parse.stderr.includes(m), `parse: ${m}\n${parse.stderr}`);
    assert.ok((start.stdout + start.stderr).includes(m), `start: ${m}\n${start.stdout}${start.stderr}`);
  }
});
