import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { exited, freePort, runCli, startCli, tempDir } from '../helpers/cli.js';

const GOOD = (adminPort: number, listenPort: number) => `_format_version: "3.0"
services:
  - name: admin
    url: tcp://127.0.0.1:${adminPort}
    routes:
      - name: via-proxy
        protocols: [tcp]
        destinations: [{ port: ${listenPort} }]
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

/** One HTTP/1.0 request through a raw socket: what curl would do. */
function httpGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.end(`GET ${path} HTTP/1.0\r\nHost: x\r\n\r\n`));
    let data = '';
    s.setEncoding('utf8');
    s.on('data', (d) => (data += String(d)));
    s.on('end', () => resolve(data));
    s.on('error', reject);
  });
}

test('config parse: success, failure with file:line:column, usage errors exit 2', async () => {
  const dir = tempDir('cli-parse');
  writeFileSync(join(dir, 'good.yml'), GOOD(1, 2));
  writeFileSync(join(dir, 'bad.yml'), BAD);
  const ok = await runCli(['config', 'parse', join(dir, 'good.yml')]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /parse successful/);
  const bad = await runCli(['config', 'parse', join(dir, 'bad.yml')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /Failed parsing:/);
  assert.match(bad.stderr, /bad\.yml:8:\d+: error: .*sources\[0\]\.ip/);
  assert.match(bad.stderr, /bad\.yml:9:\d+: error: .*uniqueness violation/);
  assert.doesNotMatch(bad.stderr, /at .*\.js:\d+/); // no stack trace
  const usage = await runCli(['config', 'parse']);
  assert.equal(usage.code, 2);
  const json = await runCli(['config', 'parse', '--format', 'json', join(dir, 'bad.yml')]);
  assert.equal(json.code, 1);
  assert.equal(JSON.parse(json.stdout).valid, false);
});

test('start refuses an invalid file with every error, before opening any port', async () => {
  const dir = tempDir('cli-bad');
  writeFileSync(join(dir, 'kong.yml'), BAD);
  const port = await freePort();
  const r = await runCli([
    'start',
    '-c',
    join(dir, 'kong.yml'),
    '-p',
    join(dir, 'prefix'),
    '--stream-listen',
    `127.0.0.1:${port}`,
    '--admin-listen',
    'off',
  ]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /kong\.yml:8:\d+/);
  assert.match(r.stderr, /kong\.yml:9:\d+/);
  assert.equal(existsSync(join(dir, 'prefix', 'pids', 'kong-ts.pid')), false);
});

test('start, traffic through the proxy, health, reload, a second instance refused, stop', async () => {
  const dir = tempDir('cli-life');
  const file = join(dir, 'kong.yml');
  const prefix = join(dir, 'prefix');
  mkdirSync(join(prefix, 'pids'), { recursive: true });
  let listen = 0,
    admin = 0,
    env: Record<string, string> = {},
    started;
  // ports found free a moment ago may be taken by a test running beside this one: try again with others then
  for (let attempt = 1; !started; attempt++) {
    [listen, admin] = [await freePort(), await freePort()];
    writeFileSync(file, GOOD(admin, listen));
    writeFileSync(join(prefix, 'pids', 'kong-ts.pid'), '999999\n'); // a stale pid file (a crash) must not block the start
    env = { KONG_PREFIX: prefix, KONG_ADMIN_LISTEN: `127.0.0.1:${admin}`, KONG_STREAM_LISTEN: `127.0.0.1:${listen}` };
    started = await startCli(['-c', file], { env }).catch((err: Error) => {
      if (attempt >= 3 || !/EADDRINUSE|already in use/.test(err.message)) throw err;
      return undefined;
    });
  }
  const { child, out } = started;
  try {
    const res = await httpGet(listen, '/status');
    assert.match(res, /^HTTP\/1\.1 200/);
    const status = JSON.parse(res.slice(res.indexOf('\r\n\r\n') + 4));
    assert.match(status.configuration_hash, /^[0-9a-f]{32}$/);
    assert.equal(status.configuration_generation, 1);

    const health = await runCli(['health', '-p', prefix], { env });
    assert.equal(health.code, 0, health.stderr);
    assert.match(health.stdout, /running \(pid \d+\)/);

    const second = await runCli(['start', '-c', file], {
      env: { ...env, KONG_STREAM_LISTEN: `127.0.0.1:${await freePort()}`, KONG_ADMIN_LISTEN: 'off' },
    });
    assert.equal(second.code, 1);
    assert.match(second.stderr, /already running/);

    writeFileSync(file, GOOD(admin, listen) + '# a change\n');
    const reload = await runCli(['reload', '-p', prefix], { env });
    assert.equal(reload.code, 0, reload.stderr);
    const deadline = Date.now() + 5000;
    let gen = 1;
    while (gen < 2 && Date.now() < deadline) {
      const r = await httpGet(listen, '/status');
      gen = JSON.parse(r.slice(r.indexOf('\r\n\r\n') + 4)).configuration_generation;
      if (gen < 2) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(gen, 2, 'the reload took effect');
    assert.match(
      readFileSync(join(prefix, 'logs', 'access.log'), 'utf8'),
      /^127\.0\.0\.1 \[[^\]]+\] TCP 200 \d+ \d+ \d+\.\d{3}$/m,
    );

    const stop = await runCli(['stop', '-p', prefix], { env });
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(await exited(child), 0);
    assert.equal(existsSync(join(prefix, 'pids', 'kong-ts.pid')), false);
    assert.match(out(), /kong-ts stopped/);
  } finally {
    child.kill('SIGKILL');
  }
});

test('stop and reload without a running instance say so', async () => {
  const prefix = join(tempDir('cli-none'), 'p');
  const r = await runCli(['reload', '-p', prefix]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /not running/);
});
