import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEscapes } from '../../src/config/escapes.js';
import { durationSeconds } from '../../src/config/kong-ts-tags.js';
import { assertOk, formatted, HEAD, lines, load } from './helpers.js';

function upstreamYaml(extra: string[], tags: string[] = []): string {
  return lines(
    HEAD,
    'upstreams:',
    '- name: pool',
    ...(tags.length ? ['  tags:', ...tags.map((t) => `  - ${t}`)] : []),
    '  healthchecks:',
    '    active:',
    ...extra.map((l) => `      ${l}`),
  );
}

describe('healthchecks.active rules', () => {
  it('fills Kong defaults for http probes', () => {
    const r = load(upstreamYaml(['type: http']));
    assertOk(r);
    const a = r.config.upstreams[0]!.healthchecks.active;
    assert.equal(a.http_path, '/');
    assert.equal(a.https_verify_certificate, true);
    assert.deepEqual(a.healthy.http_statuses, [200, 302]);
    assert.deepEqual(a.unhealthy.http_statuses, [429, 404, 500, 501, 502, 503, 504, 505]);
    assert.equal(a.unhealthy.http_failures, 0);
  });

  it('rejects a bad http_path, https_sni, header name and statuses with their place', () => {
    const r = load(
      upstreamYaml([
        'http_path: health',
        'https_sni: 10.0.0.1',
        'headers:',
        '  "bad header": [x]',
        'healthy:',
        '  http_statuses: [99]',
        'unhealthy:',
        '  http_failures: 256',
      ]),
    );
    assert.equal(r.ok, false);
    const all = formatted(r).join('\n');
    assert.match(all, /healthchecks\.active\.http_path: must start with '\/' and must not have empty segments/);
    assert.match(all, /healthy\.http_statuses\[0\]: value should be between 100 and 999/);
    assert.match(all, /unhealthy\.http_failures: value should be between 0 and 255/);
    const r2 = load(
      upstreamYaml(['https_sni: example.com:443', 'http_path: /a%zz', 'headers:', '  "bad header": [x]']),
    );
    const all2 = formatted(r2).join('\n');
    assert.match(all2, /https_sni: must not have a port/);
    assert.match(all2, /invalid percent-encoding/);
    assert.match(all2, /bad header name 'bad header'/);
    assert.match(formatted(load(upstreamYaml(['https_sni: 10.0.0.1']))).join('\n'), /https_sni: must not be an IP/);
  });

  it('takes send/expect tags on a tcp upstream only, with valid escapes', () => {
    assertOk(
      load(upstreamYaml(['type: tcp'], ['kong-ts.healthcheck.send=PING\\r\\n', 'kong-ts.healthcheck.expect=+PONG'])),
    );
    assert.match(
      formatted(load(upstreamYaml(['type: http'], ['kong-ts.healthcheck.expect=+PONG']))).join('\n'),
      /need healthchecks.active.type 'tcp' \(it is 'http'\)/,
    );
    assert.match(
      formatted(load(upstreamYaml(['type: tcp'], ['kong-ts.healthcheck.send=A\\x4']))).join('\n'),
      /tag 'kong-ts.healthcheck.send=A\\x4': bad escape/,
    );
    assert.match(
      formatted(load(upstreamYaml(['type: tcp'], ['kong-ts.healthcheck.send=A\\q']))).join('\n'),
      /unknown escape '\\q'/,
    );
    assert.match(
      formatted(load(upstreamYaml(['type: tcp'], ['kong-ts.reload=keep']))).join('\n'),
      /belongs on routes, not on upstreams/,
    );
  });

  it('takes kong-ts.slow_start as a duration on upstreams', () => {
    assertOk(load(upstreamYaml(['type: tcp'], ['kong-ts.slow_start=30s'])));
    assertOk(load(upstreamYaml(['type: tcp'], ['kong-ts.slow_start=500ms'])));
    assert.match(
      formatted(load(upstreamYaml(['type: tcp'], ['kong-ts.slow_start=soon']))).join('\n'),
      /tag 'kong-ts.slow_start=soon': expected a duration such as 30s, 500ms or 2m/,
    );
    assert.equal(durationSeconds('2m'), 120);
    assert.equal(durationSeconds('250ms'), 0.25);
  });

  it('decodes \\r \\n \\t \\s \\\\ and \\xHH', () => {
    assert.deepEqual(decodeEscapes('PING\\r\\n'), Buffer.from('PING\r\n'));
    assert.deepEqual(decodeEscapes('a\\sb\\t\\\\\\x00\\xff'), Buffer.from([0x61, 0x20, 0x62, 9, 0x5c, 0, 0xff]));
    assert.deepEqual(decodeEscapes('é'), Buffer.from('é', 'utf8'));
    assert.equal(typeof decodeEscapes('x\\'), 'string');
  });
});
