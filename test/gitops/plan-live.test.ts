import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { generateSelfSigned } from '../../src/tls/default-cert.js';
import { runCli } from '../helpers/cli.js';
import { startYaml } from '../helpers/instance.js';

const pair = generateSelfSigned({ commonName: 'live.test', altNames: ['live.test'] });
const pem = (s: string) => JSON.stringify(s);

const file = (port: number, routeDst: string, extraTag = '') => `_format_version: "3.0"
certificates:
  - id: 3b6c1d53-2c57-4a55-9a31-6f0b6f2d7e10
    cert: ${pem(pair.cert)}
    key: ${pem(pair.key)}
    snis: [live.test]
services:
  - name: echo
    url: tcp://127.0.0.1:${port}
    routes:
      - name: kept
        protocols: [tcp]
        sources: [{ ip: 127.0.0.1 }]
        destinations: [{ ip: ${routeDst} }]
        tags: [team-a${extraTag}]
`;

test('config plan against a real running kong-ts: the diff, the open sessions a reload touches, keys redacted yet unchanged', async (t) => {
  const held: Socket[] = [];
  const backend = createServer((s) => {
    s.pipe(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
  const port = (backend.address() as { port: number }).port;
  t.after(() => backend.close());
  const ti = await startYaml(file(port, '127.0.0.1'), {
    settings: { admin_listen: '127.0.0.1:0', reload_session_policy: 'drain' },
    tag: 'plan-live',
  });
  t.after(() => ti.stop());
  t.after(() => held.forEach((s) => s.destroy()));
  for (let i = 0; i < 2; i++) {
    const s = connect(ti.ports[0]!, '127.0.0.1');
    held.push(s);
    await new Promise<void>((r) => {
      s.write('x');
      s.once('data', () => r());
    });
  }

  const same = join(ti.dir, 'same.yml');
  writeFileSync(same, file(port, '127.0.0.1'));
  const unchanged = await runCli(['config', 'plan', same, '--admin', ti.admin!]);
  assert.equal(unchanged.code, 0, unchanged.stdout + unchanged.stderr);

  const next = join(ti.dir, 'next.yml');
  writeFileSync(next, file(port, '127.0.0.2', ', kong-ts.reload=close'));
  const plan = await runCli(['config', 'plan', next, '--admin', ti.admin!]);
  assert.equal(plan.code, 1, plan.stderr);
  assert.match(plan.stdout, /route 'kept'/);
  assert.match(plan.stdout, /route 'kept': 2 open sessions, changed → policy close/);
  assert.doesNotMatch(plan.stdout, /key changed/, 'a redacted key is not a change');
  assert.doesNotMatch(plan.stdout + plan.stderr, /PRIVATE KEY/);
});
