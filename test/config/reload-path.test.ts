/**
 * The reload path's parts in process: bounded reads, strict UTF-8, the manager over its load thread (status truth,
 * reload events, a load thread out of memory), and the incremental builder's reuse.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { ConfigManager, type ReloadEvent } from '../../src/config/manager.js';
import { decodeUtf8, firstInvalidUtf8, readConfigFile, readConfigFileSync } from '../../src/config/read.js';
import { silentLogger } from '../../src/log.js';
import { bundledPlugins } from '../../src/plugins/registry.js';
import { SnapshotBuilder } from '../../src/runtime/builder.js';
import { createRuntime } from '../../src/runtime/runtime.js';
import type { Snapshot } from '../../src/runtime/snapshot.js';
import { tempDir } from '../helpers/cli.js';
import { pki } from './certs.js';

test('only regular files under the size limit are read; nothing blocks on a FIFO', async () => {
  const dir = tempDir('read');
  try {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    mkdirSync(join(dir, 'dir'));
    writeFileSync(join(dir, 'big'), 'x'.repeat(2000));
    writeFileSync(join(dir, 'ok'), 'a: 1\n');
    for (const read of [readConfigFileSync, readConfigFile]) {
      const r = async (p: string, max = 1000) => await read(p, max);
      assert.match(((await r(fifo)) as { message: string }).message, /is a FIFO \(named pipe\), not a regular file/);
      assert.match(
        ((await r('/dev/zero')) as { message: string }).message,
        /is a character device, not a regular file/,
      );
      assert.match(((await r(join(dir, 'dir'))) as { message: string }).message, /is a directory, not a regular file/);
      const big = await r(join(dir, 'big'));
      assert.deepEqual([big.ok, (big as { tooLarge?: boolean }).tooLarge], [false, true]);
      assert.match(
        (big as { message: string }).message,
        /is 2000 bytes, over declarative_config_max_size \(1000 bytes\)/,
      );
      assert.match(((await r(join(dir, 'missing'))) as { message: string }).message, /no such file/);
      const ok = await r(join(dir, 'ok'));
      assert.equal(ok.ok && ok.bytes.toString(), 'a: 1\n');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bytes that are not UTF-8 are found with their line and column', () => {
  assert.equal(firstInvalidUtf8(Buffer.from('héllo ✓ 𝄞')), -1);
  assert.deepEqual(decodeUtf8(Buffer.from('a: 1\nb: "x\xffy"\n', 'latin1')), {
    line: 2,
    column: 6,
    message: 'invalid UTF-8: byte 0xff (declarative files are UTF-8 text)',
  });
  // overlong encodings and lone surrogates are invalid too
  assert.equal(firstInvalidUtf8(Buffer.from([0x41, 0xc0, 0x80])), 1);
  assert.equal(firstInvalidUtf8(Buffer.from([0xed, 0xa0, 0x80])), 0);
  assert.equal(firstInvalidUtf8(Buffer.from([0x41, 0xe2, 0x82])), 1);
});

const config = (port: number, extra = '') => `_format_version: "3.0"
services:
  - name: svc
    url: tcp://127.0.0.1:${port}
    routes:
      - name: r
        protocols: [tcp]
        destinations: [{ port: 5000 }]
${extra}`;

function manager(file: string, heapMb?: number) {
  const runtime = createRuntime({ logger: silentLogger, plugins: bundledPlugins });
  const builder = new SnapshotBuilder(runtime);
  const m = new ConfigManager<Snapshot>({
    file,
    logger: silentLogger,
    compile: (i) => builder.build(i),
    loadHeapMb: heapMb,
  });
  const events: ReloadEvent[] = [];
  m.onReload((e) => events.push(e));
  return {
    m,
    events,
    close: async () => {
      await m.close();
      runtime.registry.close();
    },
  };
}

test('last_config_error clears on the next good or unchanged load; every reload is an event with its timing', async () => {
  const dir = tempDir('mgr');
  const file = join(dir, 'kong.yml');
  const { m, events, close } = manager(file);
  try {
    writeFileSync(file, config(1));
    assert.equal((await m.reloadFile('start')).status, 'loaded');
    writeFileSync(file, 'services: [ {');
    assert.equal((await m.reloadFile('file')).status, 'invalid');
    assert.ok(m.stats.lastError);
    writeFileSync(file, config(1));
    assert.equal((await m.reloadFile('file')).status, 'unchanged');
    assert.equal(m.stats.lastError, undefined);
    assert.deepEqual(
      events.map((e) => e.status),
      ['loaded', 'invalid', 'unchanged'],
    );
    for (const e of events) {
      assert.ok(
        e.durationMs > 0 && e.loopBlockedMs >= 0 && e.slices >= 1 && e.longestSliceCpuMs >= 0,
        JSON.stringify(e),
      );
    }
    assert.match(events[1]!.message ?? '', /^\d+ error\(s\) in /);
  } finally {
    await close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The nice value of each thread of this process (Linux: /proc/self/task/N/stat, field 19). */
function threadNiceValues(): number[] {
  return readdirSync('/proc/self/task').map((t) => {
    const stat = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

test('the load thread runs at the lowest priority, the rest of the process at its own', async () => {
  const dir = tempDir('nice');
  const file = join(dir, 'kong.yml');
  const { m, close } = manager(file);
  try {
    writeFileSync(file, config(1));
    assert.equal((await m.reloadFile('start')).status, 'loaded');
    const nice = threadNiceValues();
    const own = getPriority(); // this thread's (the main thread's) nice value, whatever the test runner was given
    assert.ok(nice.includes(own), 'the main thread keeps its priority');
    if (own !== 19) assert.equal(nice.filter((n) => n === 19).length, 1, `one thread at nice 19: ${nice.join(' ')}`);
  } finally {
    await close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a load thread that runs out of its heap is a refused load; the live config stays and the next load works', async () => {
  const dir = tempDir('oom');
  const file = join(dir, 'kong.yml');
  process.env.KONG_TS_TEST_LOAD_EXHAUST = '1';
  const { m, close } = manager(file, 64);
  try {
    writeFileSync(file, config(1));
    const first = await m.reloadFile('start');
    assert.equal(first.status, 'loaded');
    const r = await m.reloadText(config(2, '# kong-ts-test: exhaust-heap\n'), file, 'admin');
    assert.equal(r.status, 'unreadable');
    assert.match((r as { message: string }).message, /ran out of memory \(its heap limit is 64 MiB/);
    assert.equal(m.current, first.status === 'loaded' ? first.snapshot : undefined);
    const next = await m.reloadText(config(3), file, 'admin');
    assert.equal(next.status, 'loaded');
    assert.equal(next.status === 'loaded' && next.snapshot.config.services[0]!.port, 3);
  } finally {
    delete process.env.KONG_TS_TEST_LOAD_EXHAUST;
    await close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the builder reuses what did not change: contexts, balancers, services, routes, the router', async () => {
  const p = pki();
  const block = (t: string) =>
    '|\n' +
    t
      .trimEnd()
      .split('\n')
      .map((l) => '      ' + l)
      .join('\n');
  const file = (routePort: number, key: string, cert: string) => `_format_version: "3.0"
services:
  - name: a
    url: tcp://up:1
    routes:
      - { name: ra, protocols: [tcp], destinations: [{ port: ${routePort} }] }
  - name: b
    url: tcp://127.0.0.1:2
    routes:
      - { name: rb, protocols: [tcp], destinations: [{ port: 6000 }] }
upstreams:
  - name: up
    targets: [{ target: 127.0.0.1:9 }]
certificates:
  - cert: ${block(cert)}
    key: ${block(key)}
    snis: [one.example.com]
`;
  const dir = tempDir('build');
  const path = join(dir, 'kong.yml');
  const { m, close } = manager(path);
  try {
    let sent: { entities: number; reused: number } = { entities: 0, reused: 0 };
    const load = async (text: string) => {
      writeFileSync(path, text);
      const r = await m.reloadFile('file');
      assert.equal(r.status, 'loaded', JSON.stringify(r));
      if (r.status === 'loaded') sent = { entities: r.entities ?? -1, reused: r.reused ?? -1 };
      return (r as { snapshot: Snapshot }).snapshot;
    };
    const s1 = await load(file(5000, p.ecKey, p.ecCert));
    assert.equal(sent.reused, 0);
    // a comment only: every part is reused, the router too; every entity crossed as a reference to its live object
    const s2 = await load(file(5000, p.ecKey, p.ecCert) + '# touched\n');
    assert.notEqual(s2, s1);
    assert.ok(sent.entities >= 8 && sent.reused === sent.entities, JSON.stringify(sent));
    assert.equal(s2.config.routes[0], s1.config.routes[0]);
    assert.equal(s2.config.certificates[0], s1.config.certificates[0]);
    assert.equal(s2.router, s1.router);
    assert.equal(s2.certs.lookup('one.example.com'), s1.certs.lookup('one.example.com'));
    assert.equal(s2.balancers.values().next().value, s1.balancers.values().next().value);
    assert.equal(s2.plugins, s1.plugins);
    // one route changes: the router is rebuilt, the other route's compiled object and the certificate are kept
    const s3 = await load(file(5001, p.ecKey, p.ecCert));
    assert.equal(sent.reused, sent.entities - 1, 'only the changed route crossed as a new object');
    assert.notEqual(s3.router, s2.router);
    const rb = (s: Snapshot) => s.router.routes.find((r) => r.name === 'rb');
    assert.equal(rb(s3), rb(s2));
    assert.notEqual(
      s3.router.routes.find((r) => r.name === 'ra'),
      s2.router.routes.find((r) => r.name === 'ra'),
    );
    assert.equal(s3.certs.lookup('one.example.com'), s2.certs.lookup('one.example.com'));
    assert.deepEqual(
      [...(s3.changes?.affected ?? [])],
      [[s3.router.routes.find((r) => r.name === 'ra')!.id, 'changed']],
    );
    assert.equal(
      s3.router.match({ protocol: 'tcp', dstPort: 5001, dstIp: '127.0.0.1', srcIp: '127.0.0.1', srcPort: 1 })?.name,
      'ra',
    );
    // the certificate changes: a new context for it
    const s4 = await load(file(5001, p.rsaKey, p.rsaCert));
    assert.notEqual(s4.certs.lookup('one.example.com'), s3.certs.lookup('one.example.com'));
    assert.equal(s4.router, s3.router);
  } finally {
    await close();
    rmSync(dir, { recursive: true, force: true });
  }
});
