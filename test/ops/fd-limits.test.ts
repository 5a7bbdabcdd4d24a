// Descriptors that UDP cannot exhaust (issue 14): under `ulimit -n 256`, a flood of UDP sources is held to the
// share the open-file limit leaves to UDP (logged at warn), TCP clients are still proxied, and TCP accepts beyond
// their own share are refused cleanly with a warn line instead of failing for want of descriptors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { CLI, exited, freePort, tempDir } from '../helpers/cli.js';
import { startEcho } from '../helpers/sockets.js';
import { fdBudget } from '../../src/limits/fd-budget.js';

test('fdBudget: a reserve, a third of the rest to UDP, TCP two descriptors per connection; unknown limit keeps fixed caps', () => {
  assert.deepEqual(fdBudget(256, { udp: true }), { limit: 256, reserve: 64, tcp: 64, udp: 64 });
  assert.deepEqual(fdBudget(1024, { udp: false }), { limit: 1024, reserve: 128, tcp: 448, udp: undefined });
  assert.deepEqual(fdBudget(1024, { udp: true }), { limit: 1024, reserve: 128, tcp: 299, udp: 298 });
  assert.equal(fdBudget(64, { udp: false }).tcp, 24);
  assert.equal(fdBudget(65536, { udp: true }).reserve, 128);
  assert.deepEqual(fdBudget(undefined, { udp: true }), { limit: undefined, reserve: 0, tcp: Infinity, udp: undefined });
});

async function udpEcho(): Promise<{ socket: UdpSocket; port: number }> {
  const socket = createSocket('udp4');
  socket.on('message', (m, r) => socket.send(m, r.port, r.address));
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  return { socket, port: socket.address().port };
}

function udpAsk(port: number, timeoutMs = 3000): Promise<{ socket: UdpSocket; answered: Promise<boolean> }> {
  const socket = createSocket('udp4');
  const answered = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    socket.once('message', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  return new Promise((resolve) =>
    socket.bind(0, '127.0.0.1', () => {
      socket.send('hello', port, '127.0.0.1');
      resolve({ socket, answered });
    }),
  );
}

async function tcpRoundTrip(port: number): Promise<Socket | undefined> {
  const c = connect(port, '127.0.0.1');
  c.on('error', () => {});
  try {
    await once(c, 'connect');
    c.write('ping');
    const got = await Promise.race([once(c, 'data').then(([d]) => String(d)), once(c, 'close').then(() => '')]);
    if (got === 'ping') return c;
  } catch {
    /* refused or reset */
  }
  c.destroy();
  return undefined;
}

test('ulimit -n 256: a UDP flood stays in its share, TCP is still proxied, TCP beyond its share is refused with a warn line', async (t) => {
  const dir = tempDir('fd');
  const echo = await startEcho();
  const uecho = await udpEcho();
  const tcpPort = await freePort();
  const udpPort = await freePort();
  const file = join(dir, 'kong.yml');
  writeFileSync(
    file,
    `_format_version: "3.0"
services:
  - name: tcp-echo
    url: tcp://127.0.0.1:${echo.port}
    routes: [{ name: t, protocols: [tcp], destinations: [{ port: ${tcpPort} }] }]
  - name: udp-echo
    url: udp://127.0.0.1:${uecho.port}
    routes: [{ name: u, protocols: [udp], destinations: [{ port: ${udpPort} }] }]
`,
  );
  const child = spawn('sh', ['-c', `ulimit -n 256 && exec "${process.execPath}" "${CLI}" start -c "${file}"`], {
    env: {
      ...process.env,
      KONG_PREFIX: dir,
      KONG_ADMIN_LISTEN: 'off',
      KONG_LOG_LEVEL: 'info',
      KONG_STREAM_LISTEN: `127.0.0.1:${tcpPort}, 127.0.0.1:${udpPort} udp`,
      KONG_PROXY_STREAM_ACCESS_LOG: 'off',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const clients: { destroy?: () => void; close?: () => void }[] = [];
  t.after(async () => {
    for (const c of clients) {
      try {
        c.destroy?.();
        c.close?.();
      } catch {
        /* closed */
      }
    }
    child.kill('SIGTERM');
    await exited(child);
    await echo.close();
    uecho.socket.close();
  });
  // log lines reach the pipe a little after the datagrams and sockets they are about
  const logged = async (re: RegExp): Promise<boolean> => {
    for (let i = 0; i < 100 && !re.test(out); i++) await new Promise((r) => setTimeout(r, 50));
    return re.test(out);
  };
  const started = Date.now();
  while (!out.includes('"kong-ts started"')) {
    assert.ok(Date.now() - started < 15_000 && child.exitCode === null, `kong-ts did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(out, /udp sessions capped by the open-file limit/);

  // 200 UDP sources (a spoofer needs no more than distinct ports): far more than the 64 sessions UDP may hold
  const flood = await Promise.all(Array.from({ length: 200 }, () => udpAsk(udpPort)));
  for (const f of flood) clients.push(f.socket);
  const answered = (await Promise.all(flood.map((f) => f.answered))).filter(Boolean).length;
  assert.ok(answered > 0, 'no UDP client got an answer');
  assert.ok(await logged(/"level":40[^\n]*udp sessions/), `no warn line about the udp cap:\n${out.slice(-2000)}`);

  // TCP still has its descriptors, and a new UDP client still gets a session
  const tcp = await tcpRoundTrip(tcpPort);
  assert.ok(tcp, 'a TCP client was not proxied after the UDP flood');
  clients.push(tcp);
  const late = await udpAsk(udpPort, 10_000);
  clients.push(late.socket);
  assert.ok(await late.answered, 'a new UDP client got no answer after the flood');

  // TCP beyond its share (64 connections): the extra ones are closed, with a warn line, and the process lives on
  const held: Socket[] = [];
  let refused = 0;
  for (let i = 0; i < 80; i++) {
    const c = await tcpRoundTrip(tcpPort);
    if (c) {
      held.push(c);
      clients.push(c);
    } else refused++;
  }
  assert.ok(refused > 0, 'no TCP connection was refused beyond the share');
  assert.ok(held.length >= 50, `only ${held.length} TCP connections were proxied`);
  assert.ok(
    await logged(/"level":40[^\n]*near the open-file limit/),
    `no warn line about TCP refusals:\n${out.slice(-2000)}`,
  );
  assert.doesNotMatch(out, /EMFILE/);
  for (const c of held) c.destroy();
  await new Promise((r) => setTimeout(r, 300));
  const after = await tcpRoundTrip(tcpPort);
  assert.ok(after, 'no TCP connection proxied after the others closed');
  clients.push(after);
});
