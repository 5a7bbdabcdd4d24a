import { test } from 'node:test';
import assert from 'node:assert/strict';
import { netContains, parseAddr, parseNet } from '../../src/router/ip.js';

test('parseAddr: IPv4, IPv6 forms, mapped, invalid', () => {
  assert.deepEqual(parseAddr('1.2.3.4'), { v6: false, w0: 0, w1: 0, w2: 0, w3: 0x01020304 });
  assert.deepEqual(parseAddr('::ffff:1.2.3.4'), parseAddr('1.2.3.4'));
  assert.deepEqual(parseAddr('::1'), { v6: true, w0: 0, w1: 0, w2: 0, w3: 1 });
  assert.deepEqual(parseAddr('fe80::1%eth0'), parseAddr('fe80::1'));
  assert.deepEqual(parseAddr('2001:db8:0:0:0:0:0:1'), parseAddr('2001:db8::1'));
  assert.deepEqual(parseAddr('::'), { v6: true, w0: 0, w1: 0, w2: 0, w3: 0 });
  assert.deepEqual(parseAddr('64:ff9b::10.0.0.1')?.w3, 0x0a000001);
  for (const bad of [
    '1.2.3',
    '1.2.3.256',
    '01.2.3.4',
    'a.b.c.d',
    '1::2::3',
    '12345::',
    '1:2:3:4:5:6:7:8:9',
    '',
    'localhost',
  ]) {
    assert.equal(parseAddr(bad), undefined, bad);
  }
});

test('parseNet and netContains', () => {
  const n = parseNet('10.1.2.3/16')!;
  assert.equal(n.cidr, true);
  assert.equal(netContains(n, parseAddr('10.1.200.1')!), true);
  assert.equal(netContains(n, parseAddr('10.2.0.1')!), false);
  assert.equal(netContains(parseNet('2001:db8::/33')!, parseAddr('2001:db8:7fff::1')!), true);
  assert.equal(netContains(parseNet('2001:db8::/33')!, parseAddr('2001:db8:8000::1')!), false);
  assert.equal(netContains(parseNet('::ffff:10.0.0.0/104')!, parseAddr('10.9.9.9')!), true);
  assert.equal(parseNet('1.2.3.4')!.cidr, false);
  assert.equal(parseNet('1.2.3.4/33'), undefined);
  assert.equal(parseNet('::/129'), undefined);
  assert.equal(parseNet('1.2.3.4/x'), undefined);
});
