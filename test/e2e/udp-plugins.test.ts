import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { startYaml } from '../helpers/instance.js';

async function udpEcho(): Promise<{ port: number; close: () => void }> {
  const s = createSocket('udp4');
  s.on('message', (m, r) => s.send(m, r.port, r.address));
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return { port: s.address().port, close: () => s.close() };
}

/** Sends one datagram from `from`; resolves with the reply, or undefined after `ms`. */
async function ask(port: number, from: string, text: string, ms = 400): Promise<string | undefined> {
  const c: Socket = createSocket('udp4');
  c.bind(0, from);
  await once(c, 'listening');
  c.send(text, port, '127.0.0.1');
  const reply = await Promise.race([
    once(c, 'message').then(([m]) => String(m)),
    new Promise<undefined>((r) => setTimeout(r, ms)),
  ]);
  c.close();
  return reply;
}

test("udp sessions run the route's preread plugins: ip-restriction refuses a source (403), others pass", async (t) => {
  const echo = await udpEcho();
  t.after(() => echo.close());
  const ti = await startYaml(
    `_format_version: "3.0"
services:
  - name: dns
    url: udp://127.0.0.1:${echo.port}
    read_timeout: 200
    routes:
      - name: dns-in
        protocols: [udp]
        destinations: [{ ip: 127.0.0.1 }]
        plugins:
          - name: ip-restriction
            protocols: [udp]
            config:
              deny: [127.0.0.5]
`,
    { listen: '127.0.0.1:0 udp', tag: 'udp-plugins' },
  );
  t.after(() => ti.stop());
  const port = ti.ports[0]!;
  assert.equal(await ask(port, '127.0.0.1', 'hello'), 'hello');
  assert.equal(await ask(port, '127.0.0.5', 'let me in'), undefined, 'a denied source gets no answer');
  const records = [await ti.nextRecord(), await ti.nextRecord()];
  const denied = records.find((r) => r.client_ip === '127.0.0.5');
  const allowed = records.find((r) => r.client_ip === '127.0.0.1');
  assert.equal(denied?.session.status, 403);
  assert.equal(denied?.upstream.sent, 0, 'nothing of a denied session reached the upstream');
  assert.equal(allowed?.session.status, 200);
  assert.equal(allowed?.session.datagrams_received, 1);
});
