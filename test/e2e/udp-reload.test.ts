import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { startYaml } from '../helpers/instance.js';
import { until } from './plugins-helpers.js';

async function udpEcho(): Promise<{ port: number; close: () => void }> {
  const s = createSocket('udp4');
  s.on('message', (m, r) => s.send(m, r.port, r.address));
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return { port: s.address().port, close: () => s.close() };
}

/** A client socket that keeps its port (one UDP session) across several datagrams. */
async function client(): Promise<{ ask(port: number, text: string): Promise<string>; close(): void }> {
  const c: Socket = createSocket('udp4');
  c.bind(0, '127.0.0.1');
  await once(c, 'listening');
  return {
    ask: async (port, text) => {
      c.send(text, port, '127.0.0.1');
      const [m] = await once(c, 'message');
      return String(m);
    },
    close: () => c.close(),
  };
}

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

function lines(path: string): Record<string, any>[] {
  return existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    : [];
}

test(
  "a UDP session across a reload is logged by its own snapshot's file-log, which closes only after the session ends",
  { skip: !existsSync('/proc/self/fd') },
  async (t) => {
    const echo = await udpEcho();
    t.after(() => echo.close());
    const ti = await startYaml('_format_version: "3.0"\n', { listen: '127.0.0.1:0 udp', tag: 'udp-reload' });
    t.after(() => ti.stop());
    // read_timeout: long enough for the session to outlive a reload on a busy machine, short enough to end on its own
    const yaml = (path: string) => `_format_version: "3.0"
services:
  - name: dns
    url: udp://127.0.0.1:${echo.port}
    read_timeout: 2500
    routes:
      - name: dns-in
        protocols: [udp]
        destinations: [{ ip: 127.0.0.1 }]
plugins:
  - name: file-log
    protocols: [udp]
    config: { path: ${path} }
`;
    const first = join(ti.dir, 'first.log');
    const second = join(ti.dir, 'second.log');
    assert.equal(await ti.reload(yaml(first)), 'loaded');
    const port = ti.ports[0]!;
    const a = await client();
    t.after(() => a.close());
    assert.equal(await a.ask(port, 'one'), 'one');
    assert.equal(await ti.reload(yaml(second)), 'loaded');
    // the same session (same client port), still on the first snapshot
    assert.equal(await a.ask(port, 'two'), 'two');
    const b = await client();
    t.after(() => b.close());
    assert.equal(await b.ask(port, 'new'), 'new');

    await until(
      () => lines(first).length === 1,
      'the session that spans the reload, logged by the first file-log',
      10_000,
    );
    const rec = lines(first)[0]!;
    assert.equal(rec.session.datagrams_received, 2, 'one session carried both datagrams');
    assert.equal(rec.protocol, 'udp');
    await until(() => !isOpen(first), 'the retired file-log closed once its last UDP session ended', 10_000);
    await until(() => lines(second).length === 1, 'the new session logged by the new file-log', 10_000);
    assert.equal(lines(second)[0]!.session.datagrams_received, 1);
    assert.equal(lines(first).length, 1, 'nothing of the new snapshot in the old file');
  },
);

test('the reload policy sees UDP sessions: a changed route tagged kong-ts.reload=close ends its open session', async (t) => {
  const echo = await udpEcho();
  t.after(() => echo.close());
  const yaml = (sources: string) => `_format_version: "3.0"
services:
  - name: dns
    url: udp://127.0.0.1:${echo.port}
    read_timeout: 60000
    routes:
      - name: dns-in
        protocols: [udp]
        destinations: [{ ip: 127.0.0.1 }]
        tags: [kong-ts.reload=close]${sources}
`;
  const ti = await startYaml(yaml(''), { listen: '127.0.0.1:0 udp', tag: 'udp-policy' });
  t.after(() => ti.stop());
  const port = ti.ports[0]!;
  const a = await client();
  t.after(() => a.close());
  assert.equal(await a.ask(port, 'hello'), 'hello');
  assert.equal(await ti.reload(yaml('\n        sources: [{ ip: 127.0.0.1 }]')), 'loaded');
  const rec = await ti.nextRecord();
  assert.equal(rec.session.closed_by, 'reload');
  assert.equal(rec.session.datagrams_received, 1);
  const line = await ti.waitLog(/^reload touched/);
  assert.equal(line.closed, 1);
  // the client's next datagram starts a new session on the new configuration
  assert.equal(await a.ask(port, 'again'), 'again');
});
