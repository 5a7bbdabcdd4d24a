import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipRestriction } from '../../src/plugins/bundled/ip-restriction.js';
import { compilePluginChains } from '../../src/plugins/chain.js';
import { SessionContext } from '../../src/plugins/context.js';
import { PluginError } from '../../src/plugins/errors.js';
import type { PrereadResult } from '../../src/plugins/types.js';
import { silentLogger } from '../../src/log.js';
import { entity } from './helpers.js';

const available = new Map([['ip-restriction', ipRestriction]]);

function verdicts(config: Record<string, unknown>, ips: string[]): Array<number | 'ok'> {
  const chain = compilePluginChains([entity('ip-restriction', { config })], available, silentLogger).forRoute();
  return ips.map((ip) => {
    let r: PrereadResult;
    chain.preread(new SessionContext(ip, 1234, 9000), 100, (x) => {
      r = x;
    });
    return r! ? r.status : 'ok';
  });
}

test('allow list: IPv4 addresses and CIDRs, IPv4-mapped clients match IPv4 entries', () => {
  assert.deepEqual(
    verdicts({ allow: ['10.0.0.0/8', '192.168.1.7'] }, [
      '10.1.2.3',
      '192.168.1.7',
      '192.168.1.8',
      '::ffff:10.9.9.9',
      '::ffff:11.0.0.1',
      '2001:db8::1',
    ]),
    ['ok', 'ok', 403, 'ok', 403, 403],
  );
});

test('deny list: IPv6 CIDRs and addresses, IPv4-mapped entries match IPv4 clients', () => {
  assert.deepEqual(
    verdicts({ deny: ['2001:db8::/32', '::1', '::ffff:127.0.0.1'] }, [
      '2001:db8:1::5',
      '2001:db9::5',
      '::1',
      '127.0.0.1',
      '127.0.0.2',
    ]),
    [403, 'ok', 403, 403, 'ok'],
  );
});

test('deny is checked first; custom status and message', () => {
  const chain = compilePluginChains(
    [
      entity('ip-restriction', {
        config: { allow: ['10.0.0.0/8'], deny: ['10.0.0.5'], status: 401, message: 'go away' },
      }),
    ],
    available,
    silentLogger,
  ).forRoute();
  const out: PrereadResult[] = [];
  for (const ip of ['10.0.0.5', '10.0.0.6'])
    chain.preread(new SessionContext(ip, 1, 2), 100, (r) => {
      out.push(r);
    });
  assert.deepEqual(out, [{ close: true, status: 401, reason: 'go away' }, undefined]);
  assert.deepEqual(verdicts({ deny: ['1.2.3.4'] }, ['1.2.3.4']), [403]);
});

test('the default reason names the address; bad entries and empty configs are refused', () => {
  const chain = compilePluginChains(
    [entity('ip-restriction', { config: { allow: ['::1'] } })],
    available,
    silentLogger,
  ).forRoute();
  chain.preread(new SessionContext('127.0.0.1', 1, 2), 100, (r) =>
    assert.equal(r && r.reason, 'IP address not allowed: 127.0.0.1'),
  );
  assert.throws(
    () => verdicts({ allow: ['10.0.0.300'] }, []),
    (e: unknown) => e instanceof PluginError && /'10\.0\.0\.300' is not an IP address or CIDR/.test(e.message),
  );
  assert.throws(() => verdicts({ deny: ['10.0.0.0/33'] }, []), PluginError);
  assert.throws(() => verdicts({}, []), /must match a schema in anyOf/);
});
