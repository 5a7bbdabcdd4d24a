import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { startYaml } from '../helpers/instance.js';
import { tempDir } from '../helpers/cli.js';
import { EXAMPLE_PLUGIN, echoServer, exchange } from './plugins-helpers.js';

/** A TLS client through the proxy: resolves with what came back ('' when the proxy closed the connection). */
function tlsExchange(port: number, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ port, host: '127.0.0.1', servername, rejectUnauthorized: false });
    let data = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error('tls exchange timed out'));
    }, 8000);
    s.on('secureConnect', () => s.end('ping'));
    s.on('data', (d) => (data += d));
    s.on('error', () => undefined);
    s.on('end', () => s.destroy());
    s.on('close', () => {
      clearTimeout(t);
      resolve(data);
    });
  });
}

test('the example deny-sni plugin, loaded from its path by the plugins setting, closes listed SNIs', async (t) => {
  const backend = await echoServer();
  t.after(() => backend.close());
  const ti = await startYaml(
    `_format_version: "3.0"
services:
  - name: backend
    url: tcp://127.0.0.1:${backend.port}
    routes:
      - name: tls-in
        protocols: [tls]
        snis: ["*.example.com"]
        plugins:
          - name: deny-sni
            protocols: [tls]
            config:
              snis: [blocked.example.com, "*.internal.example.com"]
`,
    { listen: '127.0.0.1:0 ssl', settings: { plugins: `bundled,${EXAMPLE_PLUGIN}` }, tag: 'dsni' },
  );
  t.after(() => ti.stop());
  const port = ti.ports[0]!;
  assert.equal(await tlsExchange(port, 'ok.example.com'), 'ping');
  let r = await ti.nextRecord();
  assert.equal(r.session.status, 200);
  assert.equal(r.session.tls?.sni, 'ok.example.com');

  for (const sni of ['blocked.example.com', 'db.internal.example.com']) {
    const before = backend.accepted();
    assert.equal(await tlsExchange(port, sni), '');
    r = await ti.nextRecord();
    assert.equal(r.session.status, 403, sni);
    assert.equal((r as { plugin_values?: Record<string, unknown> }).plugin_values?.deny_sni, sni);
    assert.equal(backend.accepted(), before, `${sni} never reaches the upstream`);
  }
});

const SLOW_PLUGIN = `
export default {
  name: 'slow-check',
  priority: 500,
  configSchema: {
    type: 'object',
    properties: {
      delay_ms: { type: 'integer', minimum: 0, default: 20 },
      deny: { type: 'array', items: { type: 'string' }, default: [] },
    },
    additionalProperties: false,
  },
  create(config) {
    const deny = new Set(config.deny);
    return {
      // an asynchronous look-up, as a call to a side service would be
      preread(ctx) {
        return new Promise((resolve) => {
          setTimeout(() => {
            ctx.setLogValue('checked.by', 'slow-check');
            resolve(deny.has(ctx.clientIp) ? { close: true, status: 403, reason: 'look-up said no' } : undefined);
          }, config.delay_ms).unref();
        });
      },
    };
  },
};
`;

test(
  'a custom plugin with an async preread: its answer is awaited, up to the deadline',
  { timeout: 30_000 },
  async (t) => {
    const dir = tempDir('slowplug');
    const file = join(dir, 'slow-check.mjs');
    writeFileSync(file, SLOW_PLUGIN);
    const backend = await echoServer();
    t.after(() => backend.close());
    const yaml = (delay: number) => `_format_version: "3.0"
services:
  - name: svc
    url: tcp://127.0.0.1:${backend.port}
    routes:
      - name: r
        protocols: [tcp]
        destinations: [{ ip: 127.0.0.1 }]
plugins:
  - name: slow-check
    protocols: [tcp]
    config: { delay_ms: ${delay}, deny: [127.0.0.7] }
`;
    const ti = await startYaml(yaml(50), { settings: { plugins: `bundled,${file}` }, tag: 'slow' });
    t.after(() => ti.stop());
    const port = ti.ports[0]!;

    let t0 = Date.now();
    assert.equal(await exchange(port, '127.0.0.1', '127.0.0.1'), 'ping');
    assert.ok(Date.now() - t0 >= 45, 'the session waited for the look-up');
    let r = await ti.nextRecord();
    assert.equal(r.session.status, 200);
    assert.deepEqual((r as { plugin_values?: Record<string, unknown> }).plugin_values, { 'checked.by': 'slow-check' });

    assert.equal(await exchange(port, '127.0.0.1', '127.0.0.7'), '');
    r = await ti.nextRecord();
    assert.equal(r.session.status, 403);

    // a look-up slower than the deadline (3 s): the session goes on without its answer, even for a denied client
    assert.equal(await ti.reload(yaml(20_000)), 'loaded');
    t0 = Date.now();
    assert.equal(await exchange(port, '127.0.0.1', '127.0.0.7'), 'ping');
    const waited = Date.now() - t0;
    assert.ok(waited >= 2900 && waited < 6000, `waited ${waited} ms`);
    r = await ti.nextRecord();
    assert.equal(r.session.status, 200);
  },
);

test('a plugin config error in the file stops the start with its file:line:column', async () => {
  const yaml = `_format_version: "3.0"
services:
  - name: svc
    url: tcp://127.0.0.1:9
    routes:
      - name: r
        protocols: [tcp]
        destinations: [{ ip: 127.0.0.1 }]
        plugins:
          - name: deny-sni
            protocols: [tls]
            config:
              snis: []
              status: 99
`;
  await assert.rejects(
    startYaml(yaml, { settings: { plugins: `bundled,${EXAMPLE_PLUGIN}` }, tag: 'badcfg' }),
    (err: Error) => {
      const text = String((err as { detail?: string }).detail ?? '') + err.message;
      assert.match(text, /kong\.yml:13:\d+: error: .*snis/, text);
      assert.match(text, /kong\.yml:14:\d+: error: .*status/, text);
      return true;
    },
  );
  // the loaded plugin's own schema is what says no: a plugin the setting did not load is another error
  await assert.rejects(startYaml(yaml, { tag: 'badcfg2' }), (err: Error) => {
    const text = String((err as { detail?: string }).detail ?? '') + err.message;
    assert.match(
      text,
      /kong\.yml:10:\d+: error: .*plugin 'deny-sni' not enabled; add it to the 'plugins' configuration property/,
      text,
    );
    return true;
  });
});
