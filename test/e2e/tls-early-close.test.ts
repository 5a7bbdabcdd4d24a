import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { execFile } from 'node:child_process';
import { startYaml } from '../helpers/instance.js';

// A client that sends its FIN right after the handshake (openssl s_time -new does) closes before the session listens
// for 'end': found leaking one upstream connection per handshake under load.
test('TLS clients that close right after the handshake leave no session open', async (t) => {
  const backend = createServer((s) => {
    s.resume();
    s.on('error', () => {});
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
  t.after(() => backend.close());
  const ti = await startYaml(
    `_format_version: "3.0"
services:
  - name: s
    url: tcp://127.0.0.1:${(backend.address() as { port: number }).port}
    routes:
      - name: r
        protocols: [tls]
        destinations: [{ ip: 127.0.0.1 }]
`,
    { listen: '127.0.0.1:0 ssl', tag: 'tls-early' },
  );
  t.after(() => ti.stop());
  // another process, as the race needs the client's FIN to arrive while the proxy is between handshake and session
  const out = await new Promise<string>((resolve, reject) => {
    execFile(
      'openssl',
      ['s_time', '-connect', `127.0.0.1:${ti.ports[0]}`, '-new', '-time', '1'],
      (err: Error | null, stdout: string) => (err ? reject(err) : resolve(stdout)),
    );
  });
  const n = Number(/(\d+) connections in/.exec(out)?.[1] ?? 0);
  assert.ok(n > 20, `openssl s_time made ${n} connections`);
  const deadline = Date.now() + 3000;
  while (ti.inst.stream.activeSessions > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(ti.inst.stream.activeSessions, 0, 'every session ended');
});
