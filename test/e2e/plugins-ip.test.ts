import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startYaml } from '../helpers/instance.js';
import { echoServer, exchange } from './plugins-helpers.js';

/**
 * Three listeners on 127.0.0.1/.2/.3 route to rA1, rA2 (service svcA) and rB (service svcB). ip-restriction is
 * set globally, on svcA and on rA2: Kong's precedence (route > service > global, per plugin name) decides which
 * one a connection meets. An http-only ip-restriction on rB must not run at all.
 */
function scopedYaml(backend: number): string {
  return `_format_version: "3.0"
plugins:
  - name: ip-restriction
    protocols: [tcp]
    config: { deny: [127.0.0.5] }
services:
  - name: svcA
    url: tcp://127.0.0.1:${backend}
    plugins:
      - name: ip-restriction
        protocols: [tcp]
        config: { allow: [127.0.0.0/30] }
    routes:
      - name: rA1
        protocols: [tcp]
        destinations: [{ ip: 127.0.0.1 }]
      - name: rA2
        protocols: [tcp]
        destinations: [{ ip: 127.0.0.2 }]
        plugins:
          - name: ip-restriction
            protocols: [tcp]
            config: { deny: [127.0.0.10/32] }
  - name: svcB
    url: tcp://127.0.0.1:${backend}
    routes:
      - name: rB
        protocols: [tcp]
        destinations: [{ ip: 127.0.0.3 }]
        plugins:
          - name: ip-restriction
            config: { deny: [127.0.0.0/8] }
`;
}

test('ip-restriction through the proxy: global, service and route scopes with Kong precedence', async (t) => {
  const backend = await echoServer();
  t.after(() => backend.close());
  const ti = await startYaml(scopedYaml(backend.port), { listen: '127.0.0.1:0, 127.0.0.2:0, 127.0.0.3:0', tag: 'ipr' });
  t.after(() => ti.stop());
  const [p1, p2, p3] = ti.ports as [number, number, number];
  const cases: [string, number, string, string, number][] = [
    // route, listener, host, client address, expected status
    ['rA1', p1, '127.0.0.1', '127.0.0.2', 200], // svcA allow list
    ['rA1', p1, '127.0.0.1', '127.0.0.5', 403], // not on svcA's allow (the global deny is overridden anyway)
    ['rA1', p1, '127.0.0.1', '127.0.0.9', 403],
    ['rA2', p2, '127.0.0.2', '127.0.0.5', 200], // the route's own deny replaces svcA's allow and the global deny
    ['rA2', p2, '127.0.0.2', '127.0.0.10', 403],
    ['rB', p3, '127.0.0.3', '127.0.0.5', 403], // global deny; the http-only route plugin does not run
    ['rB', p3, '127.0.0.3', '127.0.0.9', 200],
  ];
  for (const [route, port, host, from, status] of cases) {
    const before = backend.accepted();
    const answer = await exchange(port, host, from);
    const r = await ti.nextRecord();
    const what = `${route} from ${from}`;
    assert.equal(r.route?.name, route, what);
    assert.equal(r.client_ip, from, what);
    assert.equal(r.session.status, status, what);
    if (status === 200) {
      assert.equal(answer, 'ping', what);
      assert.equal(backend.accepted(), before + 1, what);
    } else {
      assert.equal(answer, '', `${what}: a refused client gets nothing`);
      assert.equal(backend.accepted(), before, `${what}: a refused client never reaches the upstream`);
      assert.equal(r.tries.length, 0, what);
      assert.equal(r.session.closed_by, 'proxy', what);
    }
  }
});

test('the loader warns about a plugin whose protocols hold no stream protocol', async (t) => {
  const backend = await echoServer();
  t.after(() => backend.close());
  const yaml = scopedYaml(backend.port);
  const ti = await startYaml(yaml, { listen: '127.0.0.1:0', tag: 'iprw' });
  t.after(() => ti.stop());
  // a reload (content changed by a comment) reports the same problems as the start did
  const out = await ti.inst.manager.reloadText(yaml + '# again\n', ti.file, 'signal');
  assert.equal(out.status, 'loaded');
  const problems = out.status === 'loaded' ? out.problems : [];
  const warn = problems.find((p) =>
    /plugin .*ignored: its protocols \(grpc, grpcs, http, https\) hold no stream protocol/.test(p.message),
  );
  assert.ok(warn, JSON.stringify(problems));
  assert.equal(warn.severity, 'warning');
  assert.ok(warn.line && warn.line > 30, `the warning points at the plugin's line, got ${warn.line}`);
});

test('ip-restriction with IPv6 clients and CIDRs', async (t) => {
  const backend = await echoServer('::1');
  t.after(() => backend.close());
  const yaml = (list: string) => `_format_version: "3.0"
services:
  - name: v6
    url: tcp://[::1]:${backend.port}
    routes:
      - name: r6
        protocols: [tcp]
        destinations: [{ ip: "::1" }]
        plugins:
          - name: ip-restriction
            protocols: [tcp]
            config: ${list}
`;
  const ti = await startYaml(yaml('{ allow: ["::1/128"] }'), { listen: '[::1]:0', tag: 'ipr6' });
  t.after(() => ti.stop());
  const port = ti.ports[0]!;
  assert.equal(await exchange(port, '::1'), 'ping');
  let r = await ti.nextRecord();
  assert.equal(r.session.status, 200);
  assert.equal(r.client_ip, '::1');

  assert.equal(await ti.reload(yaml('{ deny: ["::/8"] }')), 'loaded');
  assert.equal(await exchange(port, '::1'), '');
  r = await ti.nextRecord();
  assert.equal(r.session.status, 403);

  // an IPv4-only allow list refuses an IPv6 client
  assert.equal(await ti.reload(yaml('{ allow: [127.0.0.0/8], status: 451 }')), 'loaded');
  assert.equal(await exchange(port, '::1'), '');
  r = await ti.nextRecord();
  assert.equal(r.session.status, 451, 'the configured status is the record status');
});
