import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffConfigs } from '../../src/gitops/diff.js';
import { affectedRoutes } from '../../src/runtime/affected-routes.js';
import { pki, block } from '../config/certs.js';
import { cfg, files, NEW, OLD, runCli } from './helpers.js';

const EXPECTED_TEXT = (a: string, b: string) => `--- ${a}
+++ ${b}
- service 'gone' (d76580f8-7787-5681-a70b-9c93c57447ed)
~ service 'web' (9894a857-fa31-5b40-b31f-5891cc67ff73)
    host: '10.0.0.3' → '10.0.0.4'
    retries: 5 → 2
- route 'gone-route' (a85619d3-d31a-53c8-bf2e-95fd3c5044e9)
+ route 'new-route' (351c2be1-70bb-576f-b753-8c0b2f9a7dfa)
~ route 'redis' (4b840350-a37a-51a2-84cc-05a8ca63efa7)
    service: 'redis-a' → 'redis-b'
~ route 'web-sni' (eb6b359a-01ab-5e1b-90d7-59469492755b)
    snis: [app.example.com] → [*.example.org, app.example.com]
    tags: [] → [kong-ts.reload=drain]
~ upstream 'up' (e3952b43-d156-5909-ba53-9844423fdecf)
    algorithm: 'round-robin' → 'least-connections'
    healthchecks.active.healthy.interval: 0 → 5
~ target 'up 10.1.0.1:80' (3def35e8-9362-5905-b16f-157c12c276c5)
    weight: 100 → 50

routing:
  route 'gone-route' no longer sends dst :7000 to service 'gone'
  route 'new-route' now sends dst 192.168.0.1:80 to service 'web'
  route 'redis' now sends dst :6379 from 10.0.0.0/8 to service 'redis-b' (was 'redis-a')
  route 'web-sni' now sends tls sni *.example.org,app.example.com to service 'web' (was tls sni app.example.com)

1 added, 2 removed, 5 changed
`;

test('config diff: exact text, sorted by type then name; exit 1 when different, 0 when the same', async () => {
  const f = files('diff-text', {
    'old.yml': OLD,
    'new.yml': NEW,
    'same.yml': OLD.replace('services:', '# a comment\nservices:'),
  });
  const r = await runCli(['config', 'diff', f['old.yml']!, f['new.yml']!]);
  assert.equal(r.stderr, '');
  assert.equal(r.stdout, EXPECTED_TEXT(f['old.yml']!, f['new.yml']!));
  assert.equal(r.code, 1);
  const same = await runCli(['config', 'diff', f['old.yml']!, f['same.yml']!]);
  assert.equal(same.code, 0);
  assert.equal(same.stdout, `--- ${f['old.yml']}\n+++ ${f['same.yml']}\nno differences\n`);
});

test('config diff --format json: entities, fields, routing and counts', async () => {
  const f = files('diff-json', { 'old.yml': OLD, 'new.yml': NEW });
  const r = await runCli(['config', 'diff', '--format', 'json', f['old.yml']!, f['new.yml']!]);
  assert.equal(r.code, 1);
  const j = JSON.parse(r.stdout);
  assert.equal(j.identical, false);
  assert.deepEqual(j.counts, { added: 1, removed: 2, changed: 5 });
  assert.match(j.old.hash, /^[0-9a-f]{32}$/);
  const redis = j.entities.find((e: { label: string }) => e.label === 'redis');
  assert.deepEqual(redis, {
    type: 'routes',
    id: '4b840350-a37a-51a2-84cc-05a8ca63efa7',
    label: 'redis',
    kind: 'changed',
    fields: [{ field: 'service', old: 'redis-a', new: 'redis-b' }],
  });
  const rr = j.routing.find((c: { route: string }) => c.route === 'redis');
  assert.equal(rr.kind, 'changed');
  assert.equal(rr.old.service, 'redis-a');
  assert.equal(rr.new.service, 'redis-b');
  assert.deepEqual(rr.new.sources, ['10.0.0.0/8']);
  assert.equal(rr.new.target, 'tcp://10.0.0.2:6379');
});

test('config diff: an invalid file is trouble (exit 2) with its errors; usage errors exit 2', async () => {
  const f = files('diff-bad', { 'old.yml': OLD, 'bad.yml': OLD.replace('10.0.0.0/8', '10.0.0.300') });
  const r = await runCli(['config', 'diff', f['old.yml']!, f['bad.yml']!]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /bad\.yml:8:\d+: error: services\[0\]\.routes\[0\]\.sources\[0\]\.ip/);
  const usage = await runCli(['config', 'diff', f['old.yml']!]);
  assert.equal(usage.code, 2);
  const fmt = await runCli(['config', 'diff', '--format', 'xml', f['old.yml']!, f['old.yml']!]);
  assert.equal(fmt.code, 2);
  assert.match(fmt.stderr, /--format must be text, json or github/);
});

test('certificate keys are never printed: `key changed`; certs show subject and fingerprint', () => {
  const p = pki();
  const doc = (key: string, cert: string) => `_format_version: "3.0"
certificates:
  - id: 7c0c7c3e-0d4b-4e4e-9a43-52bb5d1a4c01
    cert: ${block(cert, 6)}
    key: ${block(key, 6)}
    snis: [a.example.com]
`;
  const a = cfg(doc(p.rsaKey, p.rsaCert));
  const b = cfg(doc(p.ecKey, p.ecCert));
  const d = diffConfigs(a, b);
  const c = d.entities.find((e) => e.type === 'certificates')!;
  assert.equal(c.kind, 'changed');
  const key = c.fields!.find((f) => f.field === 'key')!;
  assert.deepEqual(key, { field: 'key', secret: true });
  const cert = c.fields!.find((f) => f.field === 'cert')!;
  assert.match(String(cert.old), /^CN=rsa\.example\.com \(sha256 [0-9a-f]{16}\)$/);
  assert.match(String(cert.new), /^CN=ec\.example\.com/);
  const json = JSON.stringify(d);
  assert.ok(!json.includes('PRIVATE KEY') && !json.includes(p.ecKey.split('\n')[1]!), 'no key material in the diff');
});

test('entities pair by name when only the id differs (an explicit id added)', () => {
  const a = cfg(OLD);
  const b = cfg(
    OLD.replace('  - name: redis-b\n', '  - name: redis-b\n    id: 11111111-2222-4333-8444-555555555555\n'),
  );
  const d = diffConfigs(a, b);
  assert.deepEqual(
    d.entities.map((e) => [e.type, e.label, e.kind]),
    [['services', 'redis-b', 'changed']],
  );
  assert.equal(d.entities[0]!.fields![0]!.field, 'id');
  assert.deepEqual(d.routing, []);
});

test('affectedRoutes: removed, service moved, matching changed, service target and TLS changed, disabled', () => {
  const base = `_format_version: "3.0"
services:
  - name: s1
    url: tcp://10.0.0.1:1
    routes:
      - { name: keep, protocols: [tcp], destinations: [{ port: 1 }] }
      - { name: moved, protocols: [tcp], destinations: [{ port: 2 }] }
      - { name: rematch, protocols: [tcp], destinations: [{ port: 3 }] }
      - { name: removed, protocols: [tcp], destinations: [{ port: 4 }] }
  - name: s2
    url: tcp://10.0.0.2:1
  - name: s3
    url: tls://10.0.0.3:1
    routes:
      - { name: tls-changed, protocols: [tcp], destinations: [{ port: 5 }] }
  - name: s4
    url: tcp://10.0.0.4:1
    routes:
      - { name: disabled, protocols: [tcp], destinations: [{ port: 6 }] }
  - name: s5
    url: tcp://10.0.0.5:1
    routes:
      - { name: host-changed, protocols: [tcp], destinations: [{ port: 7 }] }
`;
  const next = base
    .replace('      - { name: moved, protocols: [tcp], destinations: [{ port: 2 }] }\n', '')
    .replace('      - { name: removed, protocols: [tcp], destinations: [{ port: 4 }] }\n', '')
    .replace('destinations: [{ port: 3 }]', 'destinations: [{ port: 33 }]')
    .replace(
      '  - name: s2\n    url: tcp://10.0.0.2:1\n',
      '  - name: s2\n    url: tcp://10.0.0.2:1\n    routes:\n      - { name: moved, protocols: [tcp], destinations: [{ port: 2 }] }\n',
    )
    .replace('url: tls://10.0.0.3:1', 'url: tls://10.0.0.3:1\n    tls_verify: true')
    .replace('url: tcp://10.0.0.4:1', 'url: tcp://10.0.0.4:1\n    enabled: false')
    .replace('url: tcp://10.0.0.5:1', 'url: tcp://10.0.0.5:2');
  const a = cfg(base),
    b = cfg(next);
  const byName = new Map(a.routes.map((r) => [r.id, r.name]));
  const got = Object.fromEntries([...affectedRoutes(a, b)].map(([id, k]) => [byName.get(id), k]));
  assert.deepEqual(got, {
    moved: 'changed',
    rematch: 'changed',
    removed: 'removed',
    'tls-changed': 'changed',
    disabled: 'removed',
    'host-changed': 'changed',
  });
  assert.equal(affectedRoutes(a, a).size, 0);
  // field order and retries are not the data path's business
  assert.equal(
    affectedRoutes(a, cfg(base.replace('url: tcp://10.0.0.1:1', 'url: tcp://10.0.0.1:1\n    retries: 1'))).size,
    0,
  );
});

test('routing sentences: not served, no longer served, service target moved', () => {
  const a = cfg(OLD);
  const b = cfg(
    OLD.replace(
      '  - name: gone\n    url: tcp://10.0.0.9:1\n',
      '  - name: gone\n    url: tcp://10.0.0.9:1\n    enabled: false\n',
    ).replace('url: tcp://10.0.0.1:6379', 'url: tcp://10.0.0.1:6380'),
  );
  assert.deepEqual(
    diffConfigs(a, b).routing.map((r) => r.message),
    [
      "route 'gone-route' no longer sends dst :7000 to service 'gone' (service 'gone' is disabled)",
      "route 'redis' sends dst :6379 from 10.0.0.0/8 to service 'redis-a', now at tcp://10.0.0.1:6380 (was tcp://10.0.0.1:6379)",
    ],
  );
  assert.deepEqual(
    diffConfigs(b, a).routing.map((r) => r.message)[0],
    "route 'gone-route' now sends dst :7000 to service 'gone' (was not served: service 'gone' is disabled)",
  );
});
