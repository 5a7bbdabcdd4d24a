import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseStreamListen, parseHostPort } from '../../src/settings/listen.js';
import { parseKongConf, resolveSettings } from '../../src/settings/settings.js';
import { KongTsError } from '../../src/errors.js';

test('stream_listen: Kong syntax with every flag, IPv6 and off', () => {
  const r = parseStreamListen(
    '127.0.0.1:5555, [::1]:5556 ssl reuseport backlog=511, 0.0.0.0:5353 udp, *:7000 proxy_protocol bind ipv6only=off so_keepalive=30s:10:3',
  );
  assert.ok(r.ok);
  assert.equal(r.listeners.length, 4);
  assert.deepEqual(
    r.listeners.map((l) => [l.host, l.port]),
    [
      ['127.0.0.1', 5555],
      ['::1', 5556],
      ['0.0.0.0', 5353],
      ['0.0.0.0', 7000],
    ],
  );
  assert.equal(r.listeners[1]!.ssl, true);
  assert.equal(r.listeners[1]!.reuseport, true);
  assert.equal(r.listeners[1]!.backlog, 511);
  assert.equal(r.listeners[2]!.udp, true);
  assert.equal(r.listeners[3]!.proxyProtocol, true);
  assert.equal(r.listeners[3]!.ipv6only, false);
  assert.deepEqual(r.listeners[3]!.soKeepalive, { enabled: true, idle: 30, interval: 10, count: 3 });
  const off = parseStreamListen('off');
  assert.ok(off.ok && off.listeners.length === 0);
});

test('stream_listen: bad values get Kong usage text', () => {
  for (const bad of [
    '5555',
    '127.0.0.1:99999',
    '127.0.0.1:5555 sssl',
    '[zz]:1',
    '127.0.0.1:1 backlog=x',
    '1.2.3.4:5 udp ssl',
  ]) {
    const r = parseStreamListen(bad);
    assert.equal(r.ok, false, bad);
    if (!r.ok) assert.match(r.error, /^stream_listen /);
  }
  const r = parseStreamListen('nope');
  assert.ok(!r.ok && r.error.includes('must be of form: [off] | <ip>:<port>'));
  assert.deepEqual(parseHostPort('[::]:80'), { host: '::', port: 80 });
});

test('kong.conf parsing: comments, escaped #, spacing', () => {
  const c = parseKongConf(
    '# comment\nstream_listen = 127.0.0.1:1 ssl # trailing\n  log_level=debug\nadmin_token = a\\#b\n\n',
    'k.conf',
  );
  assert.deepEqual(c, { stream_listen: '127.0.0.1:1 ssl', log_level: 'debug', admin_token: 'a#b' });
  assert.throws(() => parseKongConf('garbage line', 'k.conf'), /k\.conf:1/);
});

test('precedence: defaults < kong.conf < KONG_* env < flags', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kts-settings-'));
  const conf = join(dir, 'kong.conf');
  writeFileSync(
    conf,
    'stream_listen = 127.0.0.1:1000\nlog_level = warn\nadmin_listen = 127.0.0.1:9001\ndeclarative_config = kong.yml\nproxy_listen = 0.0.0.0:8000\n',
  );
  const s = resolveSettings({
    conf,
    cwd: dir,
    env: { KONG_LOG_LEVEL: 'error', KONG_ADMIN_LISTEN: 'off' },
    flags: { admin_listen: '127.0.0.1:9002' },
  });
  assert.equal(s.streamListen[0]!.port, 1000);
  assert.equal(s.values.stream_listen!.source, 'conf');
  assert.equal(s.logLevel, 'error');
  assert.equal(s.values.log_level!.source, 'env');
  assert.deepEqual(s.adminListen, [{ host: '127.0.0.1', port: 9002 }]);
  assert.equal(s.declarativeConfig, join(dir, 'kong.yml'));
  assert.deepEqual(s.ignored, ['proxy_listen']);
  assert.equal(s.accessLog !== 'off' && s.accessLog.path, join(dir, 'kong-ts-prefix', 'logs', 'access.log'));
});

test("-c with a .yml names the declarative file; defaults are Kong's", () => {
  const s = resolveSettings({ conf: 'x/kong.yml', cwd: '/tmp', env: {} });
  assert.equal(s.declarativeConfig, '/tmp/x/kong.yml');
  assert.deepEqual(s.streamListen, []);
  assert.deepEqual(s.adminListen, [{ host: '127.0.0.1', port: 8001 }]);
  assert.equal(s.logLevel, 'info');
});

test('bad settings are user errors naming the key', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ KONG_STREAM_LISTEN: 'bogus' }, /stream_listen/],
    [{ KONG_LOG_LEVEL: 'loud' }, /log_level/],
    [{ KONG_DATABASE: 'postgres' }, /DB-less/],
    [{ KONG_PROXY_STREAM_ACCESS_LOG: 'logs/a.log combined' }, /basic\|json/],
    [{ KONG_SSL_CERT: '/x.crt' }, /ssl_cert_key/],
  ];
  for (const [env, re] of cases) {
    assert.throws(
      () => resolveSettings({ env }),
      (err: unknown) => err instanceof KongTsError && err.code === 'KTS_SETTINGS_INVALID' && re.test(err.message),
    );
  }
  assert.throws(
    () => resolveSettings({ conf: '/nonexistent/kong.conf', env: {} }),
    (e: unknown) => e instanceof KongTsError && e.code === 'KTS_CONF_UNREADABLE',
  );
});
