/**
 * The trust boundary (docs/operations.md, "Security model"): an admin API reachable from other machines without
 * admin_token is warned about once at start; custom plugins named by npm package name load from the project's
 * folder (the declarative file's, or plugins_path) and never from a parent folder.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { AdminServer, exposedAdminWarning, isLoopbackHost } from '../../src/admin/server.js';
import { startInstance } from '../../src/cli/start.js';
import { silentLogger } from '../../src/log.js';
import { resolveSettings } from '../../src/settings/settings.js';
import { startAdmin } from '../admin/helpers.js';
import { tempDir } from '../helpers/cli.js';
import { startYaml } from '../helpers/instance.js';

function captured(): { logger: pino.Logger; lines: { level: number; msg: string; [k: string]: unknown }[] } {
  const lines: { level: number; msg: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

test('loopback addresses: 127/8, ::1, IPv4-mapped loopback and localhost; nothing else', () => {
  for (const h of ['127.0.0.1', '127.9.8.7', '::1', '[::1]', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST'])
    assert.ok(isLoopbackHost(h), h);
  for (const h of [
    '0.0.0.0',
    '::',
    '10.0.0.1',
    '::ffff:10.0.0.1',
    '192.168.1.2',
    'fe80::1',
    'admin.internal',
    '128.0.0.1',
  ])
    assert.ok(!isLoopbackHost(h), h);
  assert.equal(exposedAdminWarning([{ host: '0.0.0.0', port: 8001 }], 's3cret'), undefined, 'a token: no warning');
  assert.equal(
    exposedAdminWarning(
      [
        { host: '127.0.0.1', port: 8001 },
        { host: '::1', port: 8001 },
      ],
      undefined,
    ),
    undefined,
  );
  assert.match(
    exposedAdminWarning(
      [
        { host: '127.0.0.1', port: 8001 },
        { host: '::', port: 8444 },
      ],
      undefined,
    )!,
    /^the admin API listens on \[::\]:8444 without admin_token: .*root-equivalent/,
  );
});

test('an admin API on a non-loopback address without admin_token warns once, naming every such address', async (t) => {
  // the state of a real admin API; the servers under test are built but never bound (tests stay on loopback)
  const h = await startAdmin('_format_version: "3.0"\n');
  t.after(() => h.close());
  const build = (listeners: { host: string; port: number }[], token?: string) => {
    const c = captured();
    void new AdminServer({
      listeners,
      token,
      logger: c.logger,
      state: {
        manager: h.manager,
        runtime: h.runtime,
        nodeId: 'n',
        startedAt: 0,
        settings: {},
        connections: () => ({ accepted: 0, active: 0, handled: 0 }),
        sessionsByRoute: () => ({}),
      },
    });
    return c.lines.filter((l) => l.level === 40);
  };
  const warned = build([
    { host: '0.0.0.0', port: 8001 },
    { host: '::', port: 8001 },
    { host: '127.0.0.1', port: 8002 },
  ]);
  assert.equal(warned.length, 1);
  assert.match(warned[0]!.msg, /listens on 0\.0\.0\.0:8001, \[::\]:8001 without admin_token/);
  assert.match(warned[0]!.msg, /Security model/);
  assert.deepEqual(build([{ host: '0.0.0.0', port: 8001 }], 'token'), []);
  assert.deepEqual(build([{ host: '127.0.0.1', port: 8001 }]), []);
});

test('a start with the admin API on loopback and no token logs no such warning', async (t) => {
  const ti = await startYaml('_format_version: "3.0"\n', {
    settings: { admin_listen: '127.0.0.1:0' },
    tag: 'security',
  });
  t.after(() => ti.stop());
  assert.ok(ti.admin);
  assert.equal(ti.logs.filter((l) => /admin_token/.test(l.msg)).length, 0);
});

const PLUGIN = (name: string) =>
  `export default { name: '${name}', priority: 5, configSchema: { type: 'object' }, create: () => ({}) };\n`;

function writePackage(dir: string, pkg: string, plugin: string): void {
  const at = join(dir, 'node_modules', pkg);
  mkdirSync(at, { recursive: true });
  writeFileSync(join(at, 'package.json'), JSON.stringify({ name: pkg, type: 'module', main: 'index.js' }));
  writeFileSync(join(at, 'index.js'), PLUGIN(plugin));
}

/** Starts on `file` with `plugins` from a working folder elsewhere; resolves with the loaded plugin names. */
async function startWith(file: string, settings: Record<string, string>): Promise<string[]> {
  const dir = tempDir('security-cwd');
  const s = resolveSettings({
    conf: file,
    env: {},
    cwd: dir,
    flags: {
      prefix: join(dir, 'prefix'),
      stream_listen: '127.0.0.1:0',
      admin_listen: 'off',
      proxy_stream_access_log: 'off',
      watch: 'off',
      ...settings,
    },
  });
  const inst = await startInstance(s, { logger: silentLogger, signals: false });
  const names = [...inst.runtime.plugins.keys()];
  await inst.stop('test');
  return names;
}

test("start loads npm-named plugins from the declarative file's folder or plugins_path, never from a parent folder", async () => {
  const root = tempDir('security-plugins');
  const project = join(root, 'project');
  mkdirSync(project);
  const file = join(project, 'kong.yml');
  writeFileSync(file, '_format_version: "3.0"\n');
  writePackage(root, 'kong-plugin-above', 'above');
  writePackage(project, 'kong-plugin-here', 'here');

  assert.deepEqual(
    await startWith(file, { plugins: 'kong-plugin-here' }),
    ['here'],
    "the declarative file's folder by default",
  );
  await assert.rejects(
    startWith(file, { plugins: 'kong-plugin-above' }),
    (e: Error) =>
      /plugins/.test(e.message) &&
      e.message.includes(`no package 'kong-plugin-above' in ${join(project, 'node_modules')}`),
  );
  assert.deepEqual(
    await startWith(file, { plugins: 'kong-plugin-above', plugins_path: root }),
    ['above'],
    'plugins_path chooses the folder',
  );
});
