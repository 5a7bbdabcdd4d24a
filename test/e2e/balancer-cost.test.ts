import { test } from 'node:test';
import assert from 'node:assert/strict';
import { askMany, backends, poolYaml, startLb, type LbInstance } from './balancer-helpers.js';
import { exclusive } from '../helpers/exclusive.js';

// What balancing costs a new connection end to end: short connections through a plain url service against the
// same through an upstream of 2 and of 200 targets (round-robin and consistent-hashing), rounds interleaved.

const N = 1000;
const ROUNDS = 3;

test('new-connection rate through an upstream of 2 or 200 targets is close to a plain url service', async (t) => {
  t.after(await exclusive());
  const pool = await backends(...Array.from({ length: 200 }, (_, i) => `b${i}`));
  t.after(() => Promise.all(pool.map((b) => b.kill())));
  const target = (i: number): [string, number] => [`127.0.0.1:${pool[i]!.port}`, 100];
  const plain = JSON.stringify({
    _format_version: '3.0',
    services: [
      {
        name: 'svc',
        url: `tcp://127.0.0.1:${pool[0]!.port}`,
        routes: [{ name: 'r', protocols: ['tcp'], destinations: [{ ip: '127.0.0.1' }] }],
      },
    ],
  });
  const setups: Array<[string, string]> = [
    ['plain url', plain],
    ['round-robin 2', poolYaml([target(0), target(1)])],
    ['round-robin 200', poolYaml(pool.map((_, i) => target(i)))],
    [
      'hashing 200',
      poolYaml(
        pool.map((_, i) => target(i)),
        { algorithm: 'consistent-hashing', hash_on: 'ip' },
      ),
    ],
  ];
  const lbs: LbInstance[] = [];
  for (const [, yaml] of setups) lbs.push(await startLb(yaml));
  t.after(() => Promise.all(lbs.map((lb) => lb.stop())));
  const rates: number[][] = setups.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < setups.length; i++) {
      const start = performance.now();
      const names = await askMany(lbs[i]!.port, N, 16);
      const s = (performance.now() - start) / 1000;
      assert.ok(!names.includes(''), `${setups[i]![0]}: a connection failed`);
      rates[i]!.push(N / s);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const base = median(rates[0]!);
  for (let i = 0; i < setups.length; i++) {
    const m = median(rates[i]!);
    t.diagnostic(`${setups[i]![0].padEnd(16)} ${m.toFixed(0)} conn/s (${(m / base).toFixed(2)}x plain)`);
    // generous: the tests run two at a time on two cores (ratios of 0.33-2.6 seen under load), so this catches a
    // balancer gone slow by an order of magnitude, not noise
    assert.ok(m > base * 0.15, `${setups[i]![0]}: ${m.toFixed(0)} conn/s against ${base.toFixed(0)}`);
  }
  // the 200-target round-robin really spread the load
  assert.ok(pool.filter((b) => b.accepted > 0).length === 200);
});
