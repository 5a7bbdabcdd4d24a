import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileLog } from '../../src/plugins/bundled/file-log.js';
import { compilePluginChains } from '../../src/plugins/chain.js';
import { silentLogger } from '../../src/log.js';
import { entity, record, waitFor } from './helpers.js';

const available = new Map([['file-log', fileLog]]);

function lines(path: string): any[] {
  return existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    : [];
}

test('file-log writes one JSON line per session, with plugin values merged at the top', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kong-ts-file-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'sessions.log');
  const chains = compilePluginChains([entity('file-log', { config: { path } })], available, silentLogger);
  const chain = chains.forRoute('r1-id', 's1-id');
  for (let i = 0; i < 100; i++) chain.log(record({ client_port: i, plugin_values: { 'tags.team': 'blue' } }));
  await waitFor(() => lines(path).length === 100, 3000, '100 lines');
  const got = lines(path);
  assert.deepEqual(
    got.map((l) => l.client_port),
    [...Array(100).keys()],
  );
  assert.equal(got[0].session.status, 200);
  assert.deepEqual(got[0].tags, { team: 'blue' });
  assert.equal(got[0].plugin_values, undefined);
  await chains.close();
  assert.equal(chains.stats()[Object.keys(chains.stats())[0]!]!.written, 100);
});

test('file-log with reopen follows a renamed file (log rotation)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kong-ts-file-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'access.log');
  const chains = compilePluginChains([entity('file-log', { config: { path, reopen: true } })], available, silentLogger);
  const chain = chains.forRoute();
  chain.log(record({ client_port: 1 }));
  await waitFor(() => lines(path).length === 1, 3000, 'first line');
  renameSync(path, path + '.1');
  chain.log(record({ client_port: 2 }));
  await waitFor(() => lines(path).length === 1, 3000, 'a new file at the path');
  assert.deepEqual(
    lines(path + '.1').map((l) => l.client_port),
    [1],
  );
  assert.deepEqual(
    lines(path).map((l) => l.client_port),
    [2],
  );
  await chains.close();
});

test('file-log without reopen keeps writing to the open file; an unwritable path drops and counts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kong-ts-file-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'access.log');
  const chains = compilePluginChains(
    [
      entity('file-log', { config: { path }, route: 'a' }),
      entity('file-log', { config: { path: join(dir, 'missing', 'x.log') }, route: 'b' }),
    ],
    available,
    silentLogger,
  );
  chains.forRoute('a').log(record({ client_port: 1 }));
  await waitFor(() => lines(path).length === 1);
  renameSync(path, path + '.1');
  chains.forRoute('a').log(record({ client_port: 2 }));
  await waitFor(() => lines(path + '.1').length === 2, 3000, 'second line in the renamed file');
  chains.forRoute('b').log(record());
  await waitFor(() => Object.values(chains.stats()).some((s) => s.dropped === 1), 3000, 'a drop');
  await chains.close();
});
