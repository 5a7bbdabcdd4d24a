import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { udpLog } from '../../src/plugins/bundled/udp-log.js';
import { syslog } from '../../src/plugins/bundled/syslog.js';
import { compilePluginChains } from '../../src/plugins/chain.js';
import type { StreamPlugin } from '../../src/plugins/types.js';
import { silentLogger } from '../../src/log.js';
import { entity, record, waitFor } from './helpers.js';

const available = new Map<string, StreamPlugin>([
  ['udp-log', udpLog],
  ['syslog', syslog],
]);

async function udpCollector(t: { after(fn: () => void): void }): Promise<{ port: number; messages: string[] }> {
  const socket = createSocket('udp4');
  const messages: string[] = [];
  socket.on('message', (m) => messages.push(m.toString('utf8')));
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  t.after(() => socket.close());
  return { port: socket.address().port, messages };
}

// RFC 5424 section 6: <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP STRUCTURED-DATA [SP MSG]
const RFC5424 =
  /^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)) ([\x21-\x7e]{1,255}) ([\x21-\x7e]{1,48}) ([\x21-\x7e]{1,128}) ([\x21-\x7e]{1,32}) (-|\[.+\])(?: (.*))?$/s;

function parse5424(line: string): { pri: number; time: Date; app: string; msg: any } {
  const m = RFC5424.exec(line);
  assert.ok(m, `not RFC 5424: ${line.slice(0, 120)}`);
  return { pri: Number(m[1]), time: new Date(m[2]!), app: m[4]!, msg: JSON.parse(m[8]!) };
}

test('udp-log sends one JSON datagram per session', async (t) => {
  const c = await udpCollector(t);
  const chains = compilePluginChains(
    [entity('udp-log', { config: { host: '127.0.0.1', port: c.port } })],
    available,
    silentLogger,
  );
  t.after(() => chains.close());
  for (let i = 0; i < 20; i++) chains.forRoute().log(record({ client_port: i }));
  await waitFor(() => c.messages.length === 20, 3000, '20 datagrams');
  assert.deepEqual(
    c.messages.map((m) => JSON.parse(m).client_port).sort((a, b) => a - b),
    [...Array(20).keys()],
  );
  assert.equal(Object.values(chains.stats())[0]!.sent, 20);
});

test('syslog over UDP: RFC 5424 lines, severity by status, facility, log_level filter', async (t) => {
  const c = await udpCollector(t);
  const chains = compilePluginChains(
    [
      entity('syslog', {
        route: 'a',
        config: {
          target: `udp://127.0.0.1:${c.port}`,
          facility: 'local0',
          successful_severity: 'info',
          client_errors_severity: 'warning',
          server_errors_severity: 'crit',
        },
      }),
      entity('syslog', { route: 'b', config: { target: `udp://127.0.0.1:${c.port}`, log_level: 'warning' } }),
    ],
    available,
    silentLogger,
  );
  t.after(() => chains.close());
  const before = Date.now();
  chains.forRoute('a').log(record({}, 200));
  chains.forRoute('a').log(record({}, 403));
  chains.forRoute('a').log(record({}, 502));
  chains.forRoute('b').log(record({ client_port: 1 }, 200)); // info is below warning: not sent
  await waitFor(() => c.messages.length >= 3, 3000, '3 syslog messages');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(c.messages.length, 3);
  const parsed = c.messages.map(parse5424).sort((x, y) => y.pri - x.pri);
  assert.deepEqual(
    parsed.map((p) => p.pri),
    [16 * 8 + 6, 16 * 8 + 4, 16 * 8 + 2],
  );
  assert.deepEqual(
    parsed.map((p) => p.msg.session.status),
    [200, 403, 502],
  );
  assert.equal(parsed[0]!.app, 'kong');
  assert.ok(Math.abs(parsed[0]!.time.getTime() - before) < 5000);
});

test('syslog to a unix stream socket: one RFC 5424 message per line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kong-ts-syslog-'));
  const path = join(dir, 'log.sock');
  let text = '';
  const server = createServer((s) => {
    s.setEncoding('utf8');
    s.on('data', (d) => {
      text += String(d);
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  const chains = compilePluginChains([entity('syslog', { config: { target: path } })], available, silentLogger);
  t.after(async () => {
    await chains.close();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });
  chains.forRoute().log(record({ client_port: 7 }, 200));
  chains.forRoute().log(record({ client_port: 8 }, 500));
  await waitFor(() => text.split('\n').length === 3, 3000, '2 lines');
  const msgs = text.split('\n').filter(Boolean).map(parse5424);
  assert.deepEqual(
    msgs.map((m) => [m.pri, m.msg.client_port]),
    [
      [1 * 8 + 6, 7],
      [1 * 8 + 6, 8],
    ],
  );
});

test('syslog refuses a target it cannot use', () => {
  assert.throws(
    () => compilePluginChains([entity('syslog', { config: { target: 'udp://nope' } })], available, silentLogger),
    /must be udp:\/\/host:port/,
  );
  assert.throws(
    () => compilePluginChains([entity('syslog', { config: { facility: 'local9' } })], available, silentLogger),
    /config\.facility must be equal to one of the allowed values/,
  );
});
