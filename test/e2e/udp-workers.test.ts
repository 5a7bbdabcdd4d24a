/**
 * UDP with nginx_worker_processes=2 end to end: the compiled CLI runs a primary and two workers; worker 1 serves the
 * udp listeners (one process sees all of a flow's datagrams), with the native relay where it is built. Every client's
 * datagrams come back, in order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exited, runCli, startCli, tempDir } from '../helpers/cli.js';
import { freeUdpPort, startUdpEcho, udpClient, type UdpClient } from '../udp/helpers.js';

test('with two workers: 12 udp clients each get their 5 datagrams back in order; stop ends every process', async (t) => {
  const echo = await startUdpEcho('127.0.0.1', 'E:');
  t.after(() => echo.close());
  const dir = tempDir('udp-workers');
  const file = join(dir, 'kong.yml');
  const prefix = join(dir, 'prefix');
  const listen = await freeUdpPort();
  writeFileSync(
    file,
    `_format_version: "3.0"
services:
  - name: echo
    url: udp://127.0.0.1:${echo.port}
    routes:
      - name: echo
        protocols: [udp]
        destinations: [{ port: ${listen} }]
`,
  );
  const { child, out } = await startCli([
    '-c',
    file,
    '-p',
    prefix,
    '--stream-listen',
    `127.0.0.1:${listen} udp`,
    '--admin-listen',
    'off',
    '--set',
    'nginx_worker_processes=2',
  ]);
  t.after(() => child.kill('SIGKILL'));
  const clients: UdpClient[] = [];
  t.after(() => Promise.all(clients.map((c) => c.close())));
  for (let i = 0; i < 12; i++) clients.push(await udpClient(listen));
  for (let n = 0; n < 5; n++) {
    for (const [i, c] of clients.entries()) c.send(`c${i}-${n}`);
    await Promise.all(clients.map((c) => c.waitFor(n + 1, 5000)));
  }
  for (const [i, c] of clients.entries())
    assert.deepEqual(
      c.received.map(String),
      [0, 1, 2, 3, 4].map((n) => `E:c${i}-${n}`),
    );
  assert.equal(echo.seen.length, 60, 'each datagram reached the upstream once');
  const stop = await runCli(['stop', '-p', prefix]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal(await exited(child), 0, out());
  // nothing listens on the port any more: a new socket binds it
  const again = createSocket('udp4');
  again.bind(listen, '127.0.0.1');
  await once(again, 'listening');
  again.close();
});
