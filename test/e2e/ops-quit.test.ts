/**
 * `kong-ts quit` under load, on a spawned CLI: sessions that finish within `-t` lose no byte (digests checked
 * both ways), new connections are refused at once, sessions that outlive `-t` are cut and counted in the log,
 * and the process exits 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { exited, freePort, runCli, tempDir } from '../helpers/cli.js';
import { delay, echoBackend, spawnKong } from './ops-helpers.js';

/** Streams `chunks` x 32 KiB, one chunk every `everyMs`, and resolves with both digests once the echo ended. */
async function slowStream(
  port: number,
  chunks: number,
  everyMs: number,
): Promise<{ sent: string; got: string; bytes: number; gotBytes: number }> {
  const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  s.on('error', () => {});
  await once(s, 'connect');
  const hs = createHash('sha256');
  const hr = createHash('sha256');
  let gotBytes = 0;
  s.on('data', (d: Buffer) => {
    hr.update(d);
    gotBytes += d.length;
  });
  const ended = new Promise<void>((r) => s.once('close', () => r()));
  for (let i = 0; i < chunks; i++) {
    const b = randomBytes(32 * 1024);
    hs.update(b);
    s.write(b);
    await delay(everyMs);
  }
  s.end();
  await ended;
  return { sent: hs.digest('hex'), got: hr.digest('hex'), bytes: chunks * 32 * 1024, gotBytes };
}

test('quit under load: finished sessions intact, the rest cut and counted, exit 0', { timeout: 30_000 }, async (t) => {
  const echo = await echoBackend();
  t.after(() => echo.close());
  const dir = tempDir('opse2e-quit');
  const file = join(dir, 'kong.yml');
  writeFileSync(
    file,
    `_format_version: "3.0"
services:
  - name: echo
    url: tcp://127.0.0.1:${echo.port}
    routes:
      - { name: r, protocols: [tcp], destinations: [{ ip: 127.0.0.1 }] }
`,
  );
  const port = await freePort();
  const prefix = join(dir, 'prefix');
  const kong = await spawnKong([
    '-c',
    file,
    '-p',
    prefix,
    '--stream-listen',
    `127.0.0.1:${port}`,
    '--admin-listen',
    'off',
    '--set',
    'proxy_stream_access_log=off',
    '--set',
    'watch=off',
  ]);
  t.after(() => kong.kill());

  // 20 sessions that take ~0.6 s each, and 3 idle ones that never finish by themselves
  const streams = Array.from({ length: 20 }, () => slowStream(port, 30, 20));
  const idle: Socket[] = [];
  for (let i = 0; i < 3; i++) {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    await once(s, 'connect');
    s.write('hi');
    await once(s, 'data');
    idle.push(s);
  }
  await delay(100);
  const t0 = Date.now();
  const quit = runCli(['quit', '-p', prefix, '-t', '2'], { timeoutMs: 15_000 });
  await kong.waitLog(/^kong-ts stopping$/);
  // no new sessions once quitting (the log line may come a moment before the listener closes)
  let lateErr = '';
  for (const end = Date.now() + 2000; lateErr !== 'ECONNREFUSED' && Date.now() < end;) {
    const late = connect(port, '127.0.0.1');
    lateErr = await new Promise<string>((resolve) => {
      late.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      late.on('connect', () => resolve('connected'));
    });
    late.destroy();
    if (lateErr !== 'ECONNREFUSED') await delay(20);
  }
  assert.equal(lateErr, 'ECONNREFUSED');

  const results = await Promise.all(streams);
  for (const r of results) {
    assert.equal(r.gotBytes, r.bytes, 'every byte came back');
    assert.equal(r.got, r.sent);
  }
  const q = await quit;
  assert.equal(q.code, 0, q.stderr);
  assert.equal(await exited(kong.child), 0);
  const elapsed = Date.now() - t0;
  // -t 2 bounds the wait: without it the idle sessions would hold the process until the quit command's own 15 s
  // timeout. The upper margin is wide because spawning the CLI alone can take seconds on a loaded machine.
  assert.ok(elapsed >= 1800 && elapsed < 12_000, `the idle sessions were given -t 2 s (${elapsed} ms)`);
  const cut = await kong.waitLog(/cut at shutdown/);
  assert.equal(cut.msg, '3 open session(s) cut at shutdown');
  assert.match(kong.out(), /"msg":"kong-ts stopped"/);
  await Promise.all(idle.filter((s) => !s.closed).map((s) => once(s, 'close'))); // the cut ones were closed, not left hanging
});
