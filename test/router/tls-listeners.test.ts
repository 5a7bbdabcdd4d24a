import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import type { RouteEntity } from '../../src/config/types.js';
import { loadConfigText } from '../../src/config/load.js';
import { compileRouter, compileService } from '../../src/router/compile.js';
import type { CompiledService } from '../../src/router/types.js';
import { tlsDetectSet, tlsListeners, tlsListenersSliced } from '../../src/router/tls-listeners.js';
import { routerOf, tlsDetectWarnings } from '../../src/runtime/tls-warnings.js';
import { listenSpec, route, service } from '../helpers/entities.js';
import { runCli, tempDir } from '../helpers/cli.js';

function build(routes: RouteEntity[]) {
  const map = new Map<string, CompiledService>([['s1', compileService(service({ id: 's1' }))]]);
  return compileRouter(routes, map);
}

const plain = listenSpec('127.0.0.1', 5555);
const other = listenSpec('127.0.0.2', 6000);
const wildcard = listenSpec('0.0.0.0', 7000);
const ssl = listenSpec('127.0.0.1', 443, { ssl: true, text: '127.0.0.1:443 ssl' });
const udp = listenSpec('127.0.0.1', 53, { udp: true, text: '127.0.0.1:53 udp' });

test('a TLS route without destinations applies on every plain TCP listener, never on ssl or udp ones', () => {
  const r = build([route({ id: 't', service: 's1', protocols: ['tls'], snis: ['a.example'] })]);
  const found = tlsListeners(r, [plain, other, wildcard, ssl, udp]);
  assert.deepEqual(
    found.map((x) => x.listener),
    [plain, other, wildcard],
  );
  assert.deepEqual(
    found[0]!.open.map((x) => x.id),
    ['t'],
  );
  assert.equal(found[0]!.tcp, false);
  assert.deepEqual([...tlsDetectSet(r, [plain, ssl], 'auto')], [plain]);
  assert.equal(tlsDetectSet(r, [plain, ssl], 'off').size, 0);
});

test("destinations decide: the listener's address and port, a wildcard listener by port, port 0 by address", () => {
  const r = build([
    route({
      id: 'by-port',
      service: 's1',
      protocols: ['tls_passthrough'],
      snis: ['p.example'],
      destinations: [{ port: 5555 }],
    }),
    route({ id: 'by-ip', service: 's1', protocols: ['tls'], destinations: [{ ip: '127.0.0.2' }] }),
    route({ id: 'by-net', service: 's1', protocols: ['tls'], destinations: [{ ip: '10.0.0.0/8', port: 7000 }] }),
    route({ id: 'plain-tcp', service: 's1', protocols: ['tcp'], destinations: [{ port: 6000 }] }),
  ]);
  const ids = (l: ReturnType<typeof listenSpec>) =>
    tlsListeners(r, [l])[0]
      ?.routes.map((x) => x.id)
      .sort() ?? [];
  assert.deepEqual(ids(plain), ['by-port']);
  assert.deepEqual(ids(other), ['by-ip']);
  assert.equal(tlsListeners(r, [other])[0]!.tcp, true, 'a tcp route applies on 127.0.0.2:6000 too');
  assert.deepEqual(
    ids(wildcard),
    ['by-ip', 'by-net'],
    'any local address may be the destination on a wildcard listener',
  );
  assert.deepEqual(ids(listenSpec('127.0.0.3', 8000)), [], 'no TLS route applies: this listener never waits');
  assert.deepEqual(ids(listenSpec('127.0.0.1', 0)), ['by-port'], 'port 0 is chosen later: any port entry may match');
  assert.deepEqual(ids(listenSpec('::1', 5555)), ['by-port']);
});

test('warnings: a TLS route without destinations where a tcp route applies too, with file:line:column', () => {
  const text = `_format_version: "1.1"
services:
- name: tlsbin
  url: tcp://127.0.0.1:4242
  routes:
  - protocols: [tls]
    snis: [tlsbin-example]
- name: smtp
  url: tcp://127.0.0.1:25
  routes:
  - name: smtp-in
    protocols: [tcp]
    destinations: [{port: 2525}]
  - name: tls-2525
    protocols: [tls]
    destinations: [{port: 2525}]
`;
  const res = loadConfigText(text, 'kong.yml');
  assert.ok(res.ok);
  const router = routerOf(res.config);
  const l5555 = listenSpec('127.0.0.1', 5555);
  const l2525 = listenSpec('127.0.0.1', 2525);
  const w = tlsDetectWarnings(router, res.config, [l5555, l2525], { mode: 'auto', prereadMs: 5000 });
  // 5555: no tcp route there, waiting delays nothing; 2525: the unnamed route makes smtp-in wait (tls-2525 has destinations)
  assert.equal(w.length, 1);
  assert.equal(w[0]!.severity, 'warning');
  assert.deepEqual([w[0]!.file, w[0]!.line, w[0]!.path], ['kong.yml', 6, 'services[0].routes[0]']);
  assert.match(
    w[0]!.message,
    /route without a name \(id [0-9a-f-]+\) \(tls, no destinations\) makes the plain listener '127\.0\.0\.1:2525'/,
  );
  assert.match(w[0]!.message, /stream_preread_timeout \(5000 ms\)/);
  assert.deepEqual(tlsDetectWarnings(router, res.config, [l5555, l2525], { mode: 'off' }), []);
});

test('config parse warns (exit 0) naming the route and the listener; --stream-listen and KONG_STREAM_TLS_DETECT=off', async () => {
  const dir = tempDir('tlsdetect-parse');
  const file = join(dir, 'kong.yml');
  writeFileSync(
    file,
    `_format_version: "3.0"
services:
- name: tlsbin
  url: tcp://127.0.0.1:4242
  routes:
  - name: tls-any
    protocols: [tls]
    snis: [tlsbin-example]
- name: ssh
  url: tcp://127.0.0.1:22
  routes:
  - name: ssh-in
    protocols: [tcp]
    destinations: [{port: 2222}]
`,
  );
  const generic = await runCli(['config', 'parse', file], { env: { KONG_STREAM_LISTEN: undefined } });
  assert.equal(generic.code, 0, generic.stderr);
  assert.match(
    generic.stdout,
    /kong\.yml:6:5: warning: services\[0\]\.routes\[0\]: route 'tls-any' \(tls, no destinations\) makes every plain listener/,
  );
  assert.match(generic.stdout, /parse successful/);
  const named = await runCli([
    'config',
    'parse',
    file,
    '--stream-listen',
    '127.0.0.1:5555, 127.0.0.1:2222, 127.0.0.1:443 ssl',
  ]);
  assert.equal(named.code, 0);
  assert.equal(named.stdout.match(/warning:/g)?.length, 1, named.stdout);
  assert.match(named.stdout, /'tls-any'.*the plain listener '127\.0\.0\.1:2222'/);
  const off = await runCli(['config', 'parse', file], { env: { KONG_STREAM_TLS_DETECT: 'off' } });
  assert.equal(off.code, 0);
  assert.doesNotMatch(off.stdout, /warning/);
  const bad = await runCli(['config', 'parse', file, '--stream-listen', 'nope']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--stream-listen: .*must be of form/);
});

test('tlsListenersSliced (the build on the main thread) finds what tlsListeners finds, pausing when due', async () => {
  const routes: RouteEntity[] = [];
  for (let i = 0; i < 300; i++) {
    routes.push(
      i % 3 === 0
        ? route({ id: `t${i}`, service: 's1', protocols: ['tls'], snis: [`h${i}.example`] })
        : i % 3 === 1
          ? route({ id: `d${i}`, service: 's1', protocols: ['tls'], destinations: [{ ip: '127.0.0.2', port: 6000 }] })
          : route({ id: `p${i}`, service: 's1', protocols: ['tcp'], destinations: [{ port: 5555 }] }),
    );
  }
  const r = build(routes);
  let pauses = 0;
  let calls = 0;
  const sl = {
    due: () => ++calls % 50 === 0,
    pause: async () => {
      pauses++;
      await new Promise((res) => setImmediate(res));
    },
  };
  const listeners = [plain, other, wildcard, ssl, udp];
  const sliced = await tlsListenersSliced(r, listeners, sl);
  assert.deepEqual(sliced, tlsListeners(r, listeners));
  assert.deepEqual(
    sliced.map((x) => [x.listener.text, x.routes.length, x.open.length, x.tcp]),
    [
      [plain.text, 100, 100, true],
      [other.text, 200, 100, false],
      [wildcard.text, 100, 100, false],
    ],
  );
  assert.ok(pauses >= 5, `paused ${pauses} times`);
});
