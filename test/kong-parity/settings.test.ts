/**
 * Settings parity with Kong's conf loader: each case names the Kong source, the value, and Kong's verdict.
 * stream_listen: kong/conf_loader/listeners.lua parse_listeners (tag 3.9.3), arrays split by
 * kong/conf_loader/parse.lua:91; port_maps: spec/01-unit/03-conf_loader_spec.lua:590 and conf_loader/parse.lua:286.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseStreamListen } from '../../src/settings/listen.js';
import { parsePortMaps, resolveSettings } from '../../src/settings/settings.js';

const L = 'kong/conf_loader/listeners.lua';
const USAGE =
  'stream_listen must be of form: [off] | <ip>:<port> [udp] [ssl] [proxy_protocol] [bind] [reuseport] [backlog=%d+] [ipv6only=on] [ipv6only=off] [so_keepalive=on] [so_keepalive=off] [so_keepalive=%w*:%w*:%d*], [... next entry ...]';

/** value → number of listeners Kong makes, or 'error' (Kong's usage text) */
const STREAM: Array<[string, string, number | 'error']> = [
  [`${L}:97 an empty value is refused (#values == 0)`, '', 'error'],
  [`${L}:97 blanks only are refused`, '   ', 'error'],
  [`${L}:101 off: no stream listener`, 'off', 0],
  [`${L}:101 off first: what follows is not read`, 'off, 127.0.0.1:9000', 0],
  [`${L}:124 off after an entry is not an address`, '127.0.0.1:9000, off', 'error'],
  [`${L}:124 an empty entry after a comma`, '127.0.0.1:9000,', 'error'],
  [`${L}:124 an address without a port`, '127.0.0.1', 'error'],
  [`${L}:124 a port alone`, '9000', 'error'],
  [`${L}:124 an HTTP-only flag (http2) is not a stream flag`, '127.0.0.1:9000 http2', 'error'],
  [`${L}:124 an unknown flag`, '127.0.0.1:9000 sssl', 'error'],
  [`${L}:124 a port above 65535`, '127.0.0.1:99999', 'error'],
  [
    `${L}:20 every stream flag`,
    '127.0.0.1:9000 ssl proxy_protocol bind reuseport backlog=16384 ipv6only=off so_keepalive=on',
    1,
  ],
  [`${L}:20 udp`, '0.0.0.0:5353 udp', 1],
  [`${L}:115 IPv6 in brackets`, '[::1]:9000, [::]:9001 ssl', 2],
  [`${L}:112 a host name with a port`, 'localhost:9000', 1],
  [`${L}:20 so_keepalive=idle:intvl:cnt`, '127.0.0.1:9000 so_keepalive=30s:10:3', 1],
  [`${L}:106 several entries`, '127.0.0.1:9000, 127.0.0.1:9001 ssl, 127.0.0.1:9002 udp', 3],
];

describe("settings parity: stream_listen as Kong's conf loader", () => {
  for (const [spec, value, want] of STREAM) {
    test(`${spec}: '${value}'`, () => {
      const r = parseStreamListen(value);
      if (want === 'error') {
        assert.equal(r.ok, false);
        if (!r.ok) assert.ok(r.error.startsWith(USAGE), r.error);
      } else {
        assert.ok(r.ok, r.ok ? '' : r.error);
        if (r.ok) assert.equal(r.listeners.length, want);
      }
    });
  }
  test(`${L}:97 through the settings: KONG_STREAM_LISTEN="" refuses to start`, () => {
    assert.throws(() => resolveSettings({ env: { KONG_STREAM_LISTEN: '' }, cwd: '/tmp' }), /must be of form/);
  });
});

describe('settings parity: port_maps', () => {
  const C = 'spec/01-unit/03-conf_loader_spec.lua';
  test(`${C}:591 empty when not specified`, () => {
    assert.equal(resolveSettings({ env: {}, cwd: '/tmp' }).hostPorts.size, 0);
  });
  test(`${C}:596 "80:8000,443:8443": listener 8000 is host port 80, 8443 is 443`, () => {
    const s = resolveSettings({ env: { KONG_PORT_MAPS: '80:8000,443:8443' }, cwd: '/tmp' });
    assert.deepEqual(
      [...s.hostPorts],
      [
        [8000, 80],
        [8443, 443],
      ],
    );
  });
  for (const bad of ['src:dst', '80', '0:8000', '80:70000']) {
    test(`${C}:611 gives an error with invalid value (${bad})`, () => {
      const r = parsePortMaps(bad);
      assert.deepEqual(r, { ok: false, error: `invalid port mapping (\`port_maps\`): ${bad}` });
      assert.throws(() => resolveSettings({ env: { KONG_PORT_MAPS: bad }, cwd: '/tmp' }), /invalid port mapping/);
    });
  }
});
