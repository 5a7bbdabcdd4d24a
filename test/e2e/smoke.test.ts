import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import { startYaml } from '../helpers/instance.js';

test('in-process instance: a balanced service through an upstream with two targets', async (t) => {
  const seen: string[] = [];
  const backends = await Promise.all(
    ['A', 'B'].map(
      (name) =>
        new Promise<{ port: number; close: () => void }>((resolve) => {
          const srv = createServer((s) => {
            seen.push(name);
            s.end(name);
          });
          srv.listen(0, '127.0.0.1', () =>
            resolve({ port: (srv.address() as { port: number }).port, close: () => srv.close() }),
          );
        }),
    ),
  );
  t.after(() => backends.forEach((b) => b.close()));
  const ti = await startYaml(`_format_version: "3.0"
upstreams:
  - name: pool
    targets:
      - target: 127.0.0.1:${backends[0]!.port}
      - target: 127.0.0.1:${backends[1]!.port}
services:
  - name: svc
    host: pool
    protocol: tcp
    routes:
      - name: r
        protocols: [tcp]
        destinations: [{ ip: 127.0.0.1 }]
`);
  t.after(() => ti.stop());
  const got: string[] = [];
  for (let i = 0; i < 4; i++) {
    got.push(
      await new Promise<string>((resolve, reject) => {
        const s = connect(ti.ports[0]!, '127.0.0.1');
        let d = '';
        s.on('data', (x) => (d += String(x)));
        s.on('end', () => {
          s.end();
          resolve(d);
        });
        s.on('error', reject);
      }),
    );
  }
  assert.deepEqual(got.sort(), ['A', 'A', 'B', 'B']);
  const r = await ti.nextRecord();
  assert.equal(r.session.status, 200);
  assert.equal(r.tries.length, 1);
});
