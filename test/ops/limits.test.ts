import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CapTable, ConnectionCap } from '../../src/limits/counters.js';
import { IpLimiter } from '../../src/limits/ip-limiter.js';
import { parseConnectionRate, parseMaxConnections, routeMaxConnections } from '../../src/limits/settings.js';

function clock() {
  let t = 1000;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

test('token bucket: burst at once, then exactly the rate (fake clock)', () => {
  const c = clock();
  const l = new IpLimiter({ ratePerSec: 10, burst: 5, now: c.now });
  let admitted = 0;
  for (let i = 0; i < 8; i++)
    if (l.admit('1.1.1.1')) {
      admitted++;
      l.release('1.1.1.1');
    }
  assert.equal(admitted, 5, 'the burst');
  assert.equal(l.refusal, 'rate');
  c.advance(99);
  assert.equal(l.admit('1.1.1.1'), false, '0.99 of a token is not a token');
  c.advance(1);
  assert.equal(l.admit('1.1.1.1'), true, 'one token per 100 ms');
  assert.equal(l.admit('1.1.1.1'), false);
  c.advance(10_000);
  let again = 0;
  for (let i = 0; i < 20; i++) if (l.admit('1.1.1.1')) again++;
  assert.equal(again, 5, 'refill caps at the burst');
  // over one simulated second of steady attempts every 1 ms, exactly rate connections pass
  c.advance(10_000);
  for (let i = 0; i < 5; i++) l.admit('2.2.2.2'); // spend 2.2.2.2's burst
  let steady = 0;
  for (let ms = 0; ms < 1000; ms++) {
    c.advance(1);
    if (l.admit('2.2.2.2')) steady++;
  }
  assert.equal(steady, 10);
  assert.equal(l.admit('3.3.3.3'), true, 'IPs are independent');
});

test('a fractional rate (30/m, burst 1)', () => {
  const c = clock();
  const r = parseConnectionRate('k', '30/m burst=1')!;
  const l = new IpLimiter({ ...r, now: c.now });
  assert.equal(l.admit('a'), true);
  assert.equal(l.admit('a'), false);
  c.advance(1999);
  assert.equal(l.admit('a'), false);
  c.advance(1);
  assert.equal(l.admit('a'), true);
});

test('concurrency cap and release bookkeeping', () => {
  const l = new IpLimiter({ maxPerIp: 2 });
  assert.equal(l.admit('10.0.0.1'), true);
  assert.equal(l.admit('10.0.0.1'), true);
  assert.equal(l.admit('10.0.0.1'), false);
  assert.equal(l.refusal, 'concurrency');
  assert.equal(l.active('10.0.0.1'), 2, 'a refusal counts nothing');
  l.release('10.0.0.1');
  assert.equal(l.admit('10.0.0.1'), true);
  l.release('10.0.0.1');
  l.release('10.0.0.1');
  assert.equal(l.active('10.0.0.1'), 0);
  l.release('10.0.0.1');
  l.release('never.seen');
  assert.equal(l.active('10.0.0.1'), 0, 'extra releases never go negative');
  assert.equal(l.admit('10.0.0.1') && l.admit('10.0.0.1'), true);
  assert.equal(l.admit('10.0.0.1'), false, 'and the cap still holds after them');
});

test('the table is bounded: the longest-idle IP is evicted, IPs with open connections never', () => {
  const c = clock();
  const l = new IpLimiter({ ratePerSec: 1, burst: 1, maxEntries: 100, now: c.now });
  assert.equal(l.admit('busy'), true); // stays open
  for (let i = 0; i < 100_000; i++) {
    const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    if (l.admit(ip)) l.release(ip);
    assert.ok(l.size <= 100);
  }
  assert.equal(l.size, 100);
  assert.equal(l.active('busy'), 1, 'an entry with an open connection is kept');
  // 'busy' is still rate limited: its bucket was not reset by eviction
  l.release('busy');
  assert.equal(l.admit('busy'), false);
  // the most recent IPs are remembered, the oldest were evicted (and come back with a full bucket)
  assert.equal(l.admit('10.1.134.159'), false, 'recent: still limited');
  assert.equal(l.admit('10.0.0.5'), true, 'evicted long ago: new entry');
});

test('a table full of open connections refuses new IPs instead of growing', () => {
  const l = new IpLimiter({ maxPerIp: 10, maxEntries: 3 });
  for (const ip of ['a', 'b', 'c']) assert.equal(l.admit(ip), true);
  assert.equal(l.admit('d'), false);
  assert.equal(l.refusal, 'table-full');
  assert.equal(l.size, 3);
  l.release('b');
  assert.equal(l.admit('d'), true, "b's idle entry is reused");
  assert.equal(l.active('b'), 0);
});

test('per-listener and per-route counters', () => {
  const cap = new ConnectionCap(2);
  assert.equal(cap.tryAcquire() && cap.tryAcquire(), true);
  assert.equal(cap.tryAcquire(), false);
  cap.release();
  assert.equal(cap.active, 1);
  cap.max = 0;
  for (let i = 0; i < 10; i++) assert.equal(cap.tryAcquire(), true, '0 = unlimited');
  const t = new CapTable();
  assert.equal(t.tryAcquire('route-1', 1), true);
  assert.equal(t.tryAcquire('route-1', 1), false);
  assert.equal(t.tryAcquire('route-2', 0), true);
  assert.equal(t.tryAcquire('route-1', 2), true, 'a reload raising the max applies at once');
  t.release('route-1');
  t.release('route-1');
  t.release('route-2');
  assert.equal(t.size, 0, 'entries go at zero (removed routes leave nothing behind)');
});

test('settings parsers and their errors', () => {
  assert.equal(parseMaxConnections('stream_max_connections', ' 5000 '), 5000);
  assert.equal(parseMaxConnections('stream_max_connections', '0'), 0);
  assert.throws(
    () => parseMaxConnections('stream_max_connections_per_ip', '-1'),
    /invalid setting stream_max_connections_per_ip: expected a whole number >= 0/,
  );
  assert.throws(() => parseMaxConnections('stream_max_connections', '1e3'));
  assert.deepEqual(parseConnectionRate('r', '100/s burst=200'), { ratePerSec: 100, burst: 200 });
  assert.deepEqual(parseConnectionRate('r', '100/s'), { ratePerSec: 100, burst: 100 });
  assert.deepEqual(parseConnectionRate('r', '0.5/s'), { ratePerSec: 0.5, burst: 1 });
  assert.deepEqual(parseConnectionRate('r', '120/m'), { ratePerSec: 2, burst: 120 });
  assert.equal(parseConnectionRate('r', 'off'), undefined);
  assert.equal(parseConnectionRate('r', ''), undefined);
  assert.throws(
    () => parseConnectionRate('stream_connection_rate_per_ip', '100'),
    /invalid setting stream_connection_rate_per_ip: expected 'off' or '<N>\/s \[burst=<B>\]'/,
  );
  assert.throws(() => parseConnectionRate('r', '100/h'));
  assert.throws(() => parseConnectionRate('r', '0/s'), /above 0/);
  assert.throws(() => parseConnectionRate('r', '5/s burst=0'), /burst/);
  assert.deepEqual(routeMaxConnections(['a', 'kong-ts.max_connections=50']), { max: 50 });
  assert.deepEqual(routeMaxConnections(undefined), { max: undefined });
  assert.match(routeMaxConnections(['kong-ts.max_connections=lots']).error!, /expected 'kong-ts.max_connections=<N>'/);
  assert.match(
    routeMaxConnections(['kong-ts.max_connections=1', 'kong-ts.max_connections=2']).error!,
    /more than once/,
  );
});

test('micro-benchmark: admit + release of a known IP', () => {
  const l = new IpLimiter({ ratePerSec: 1e9, burst: 1e9, maxPerIp: 1000 });
  const ips = Array.from({ length: 1000 }, (_, i) => `192.0.${i >> 8}.${i & 255}`);
  for (const ip of ips) {
    l.admit(ip);
    l.release(ip);
  }
  const N = 2_000_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const ip = ips[i % 1000]!;
    l.admit(ip);
    l.release(ip);
  }
  const ns = Number(process.hrtime.bigint() - t0) / N;
  // flood of new IPs on a full table: eviction path
  const f = new IpLimiter({ ratePerSec: 100, burst: 100, maxEntries: 10_000 });
  const fresh = Array.from({ length: 50_000 }, (_, i) => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
  const t1 = process.hrtime.bigint();
  for (let r = 0; r < 10; r++)
    for (const ip of fresh) {
      if (f.admit(ip)) f.release(ip);
    }
  const nsEvict = Number(process.hrtime.bigint() - t1) / (fresh.length * 10);
  console.log(
    `# IpLimiter: ${ns.toFixed(0)} ns per admit+release (known IP), ${nsEvict.toFixed(0)} ns per admit+release with eviction`,
  );
  assert.ok(ns < 5000, `${ns} ns`);
  assert.equal(f.size, 10_000);
});
