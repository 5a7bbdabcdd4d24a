import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundledPlugins, loadPlugins, pluginSchemas } from '../../src/plugins/registry.js';
import { PluginError } from '../../src/plugins/errors.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'kong-ts-plugins-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const GOOD = `export default { name: 'hello', priority: 5, configSchema: { type: 'object' }, create: () => ({}) };\n`;

test('bundled, off, single bundled names', async () => {
  const all = await loadPlugins('bundled', '/');
  assert.deepEqual([...all.keys()].sort(), [
    'file-log',
    'ip-restriction',
    'mtls-auth',
    'prometheus',
    'syslog',
    'tcp-log',
    'udp-log',
  ]);
  assert.equal((await loadPlugins('off', '/')).size, 0);
  assert.deepEqual([...(await loadPlugins(['file-log', ' tcp-log '], '/')).keys()], ['file-log', 'tcp-log']);
  const schemas = pluginSchemas(all);
  assert.equal((schemas['tcp-log'] as any).properties.timeout.default, 10000);
  assert.equal((schemas['tcp-log'] as any).properties.keepalive.default, 60000);
  for (const p of bundledPlugins.values()) assert.equal(typeof schemas[p.name], 'object');
});

test('custom plugins by relative path, absolute path, named exports and npm package name', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'hello.mjs'), GOOD);
  writeFileSync(
    join(dir, 'named.mjs'),
    `export const name = 'named'; export const priority = 1;
export const configSchema = {}; export function create() { return {}; }\n`,
  );
  mkdirSync(join(dir, 'node_modules', 'kong-plugin-pkg'), { recursive: true });
  writeFileSync(
    join(dir, 'node_modules', 'kong-plugin-pkg', 'package.json'),
    JSON.stringify({ name: 'kong-plugin-pkg', type: 'module', main: 'index.js' }),
  );
  writeFileSync(join(dir, 'node_modules', 'kong-plugin-pkg', 'index.js'), GOOD.replace("'hello'", "'from-pkg'"));
  const map = await loadPlugins(`bundled,./hello.mjs,${join(dir, 'named.mjs')},kong-plugin-pkg`, dir);
  assert.equal(map.get('hello')!.priority, 5);
  assert.equal(typeof map.get('named')!.create, 'function');
  assert.ok(map.has('from-pkg'));
  assert.ok(map.has('file-log'));
});

test('clear errors: missing module, wrong shape, duplicate name', async (t) => {
  const dir = tempDir(t);
  await assert.rejects(
    loadPlugins('./nope.mjs', dir),
    (e: unknown) =>
      e instanceof PluginError &&
      e.code === 'KONG_PLUGIN_LOAD' &&
      e.message.startsWith("cannot load plugin './nope.mjs'"),
  );
  await assert.rejects(
    loadPlugins('no-such-package-kong-ts', dir),
    (e: unknown) => e instanceof PluginError && e.code === 'KONG_PLUGIN_LOAD',
  );
  writeFileSync(join(dir, 'bad.mjs'), `export default { name: 'bad', priority: 'high' };\n`);
  await assert.rejects(
    loadPlugins('./bad.mjs', dir),
    (e: unknown) =>
      e instanceof PluginError &&
      e.code === 'KONG_PLUGIN_SHAPE' &&
      /'priority' must be a number/.test(e.message) &&
      /'configSchema'/.test(e.message) &&
      /'create/.test(e.message),
  );
  writeFileSync(join(dir, 'dup.mjs'), GOOD.replace("'hello'", "'file-log'"));
  await assert.rejects(
    loadPlugins('bundled,./dup.mjs', dir),
    (e: unknown) =>
      e instanceof PluginError &&
      e.code === 'KONG_PLUGIN_DUPLICATE' &&
      /'file-log' from '\.\/dup\.mjs' is already loaded from 'bundled'/.test(e.message),
  );
});

/** A package `name` under `<dir>/node_modules` whose plugin is called `plugin`. */
function writePackage(
  dir: string,
  name: string,
  plugin: string,
  pkg: Record<string, unknown> = { type: 'module', main: 'index.js' },
): void {
  const at = join(dir, 'node_modules', name);
  mkdirSync(at, { recursive: true });
  writeFileSync(join(at, 'package.json'), JSON.stringify({ name, ...pkg }));
  writeFileSync(join(at, 'index.js'), GOOD.replace("'hello'", `'${plugin}'`));
}

test('npm names come from the packages folder only, never from a parent folder', async (t) => {
  const parent = tempDir(t);
  const project = join(parent, 'project');
  mkdirSync(project);
  writePackage(parent, 'kong-plugin-up', 'from-parent');
  // Node's own resolution from `project` would find the parent's copy; kong-ts refuses it and says where it looked
  await assert.rejects(
    loadPlugins('kong-plugin-up', '/', project),
    (e: unknown) =>
      e instanceof PluginError &&
      e.code === 'KONG_PLUGIN_LOAD' &&
      e.message.includes(`no package 'kong-plugin-up' in ${join(project, 'node_modules')}`) &&
      /never from parent folders/.test(e.message),
  );
  assert.ok((await loadPlugins('kong-plugin-up', '/', parent)).has('from-parent'));

  // a package in the project without an entry file does not fall through to the parent's good copy
  mkdirSync(join(project, 'node_modules', 'kong-plugin-up'), { recursive: true });
  writeFileSync(
    join(project, 'node_modules', 'kong-plugin-up', 'package.json'),
    JSON.stringify({ name: 'kong-plugin-up', main: 'missing.js' }),
  );
  await assert.rejects(
    loadPlugins('kong-plugin-up', '/', project),
    (e: unknown) =>
      e instanceof PluginError &&
      e.code === 'KONG_PLUGIN_LOAD' &&
      !/from-parent/.test(e.message) &&
      /kong-plugin-up/.test(e.message),
  );

  for (const bad of ['kong-plugin-up/../../x', 'a b', '@scope']) {
    await assert.rejects(
      loadPlugins(bad, '/', project),
      (e: unknown) => e instanceof PluginError && e.code === 'KONG_PLUGIN_LOAD',
      bad,
    );
  }
});

test('ESM-only and scoped packages in the packages folder load; paths stay relative to the base folder', async (t) => {
  const dir = tempDir(t);
  writePackage(dir, 'kong-plugin-esm', 'esm-only', { type: 'module', exports: { '.': { import: './index.js' } } });
  writePackage(dir, '@acme/kong-plugin', 'scoped');
  const base = join(dir, 'elsewhere');
  mkdirSync(base);
  writeFileSync(join(base, 'local.mjs'), GOOD.replace("'hello'", "'local'"));
  const map = await loadPlugins('kong-plugin-esm,@acme/kong-plugin,./local.mjs', base, dir);
  assert.deepEqual([...map.keys()].sort(), ['esm-only', 'local', 'scoped']);
});
