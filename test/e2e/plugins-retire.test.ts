import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { startYaml } from '../helpers/instance.js';
import { echoServer, exchange, until } from './plugins-helpers.js';

/** True while this process holds `path` open (Linux: /proc/self/fd). */
function isOpen(path: string): boolean {
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(join('/proc/self/fd', fd)) === path) return true;
    } catch {
      /* the fd closed meanwhile */
    }
  }
  return false;
}

function count(path: string): number {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean).length : 0;
}

test(
  'a retired snapshot keeps its file-log until its last session ends, then closes it',
  { skip: !existsSync('/proc/self/fd') },
  async (t) => {
    const backend = await echoServer();
    t.after(() => backend.close());
    const ti = await startYaml('_format_version: "3.0"\n', { tag: 'retire' });
    t.after(() => ti.stop());
    const yaml = (path: string) => `_format_version: "3.0"
services:
  - name: svc
    url: tcp://127.0.0.1:${backend.port}
    routes:
      - name: r
        protocols: [tcp]
        destinations: [{ ip: 127.0.0.1 }]
plugins:
  - name: file-log
    protocols: [tcp]
    config: { path: ${path} }
`;
    const first = join(ti.dir, 'first.log');
    const second = join(ti.dir, 'second.log');
    assert.equal(await ti.reload(yaml(first)), 'loaded');
    const port = ti.ports[0]!;
    assert.equal(await exchange(port), 'ping');
    await until(() => count(first) === 1, 'the first line');
    assert.ok(isOpen(first), 'file-log keeps its file open');

    // a long session opened under the first configuration, still open across the reload
    const held = connect(port, '127.0.0.1');
    await once(held, 'connect');
    held.write('long');
    await once(held, 'data');
    assert.equal(await ti.reload(yaml(second)), 'loaded');
    assert.equal(await exchange(port), 'ping');
    await until(() => count(second) === 1, 'the new session logged by the new file-log');
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(isOpen(first), 'the retired instance is not closed while its session is open');
    assert.equal(count(first), 1);

    held.end();
    await once(held, 'close');
    await until(() => count(first) === 2, 'the long session logged by its original file-log');
    await until(() => !isOpen(first), 'the retired file-log closed its file');
    const last = JSON.parse(readFileSync(first, 'utf8').trim().split('\n')[1]!);
    assert.equal(last.session.received, 4);
    assert.equal(count(second), 1, 'the long session is not in the new file');
    assert.ok(isOpen(second), 'the live instance keeps its file');
  },
);
