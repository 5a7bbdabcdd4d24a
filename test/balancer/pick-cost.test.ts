import { it, after } from 'node:test';
import assert from 'node:assert/strict';
import { compileBalancer } from '../../src/balancer/balancer.js';
import { BalancerRegistry } from '../../src/balancer/registry.js';
import type { UpstreamEntity } from '../../src/config/types.js';
import { targets, upstream } from './helpers.js';

// Prints the cost of one pick per algorithm with 2 and 200 targets (all healthy, one excluded peer for retries).
const registry = new BalancerRegistry();
after(() => registry.close());

const algorithms: Array<UpstreamEntity['algorithm']> = [
  'round-robin',
  'least-connections',
  'latency',
  'consistent-hashing',
];
const ips = Array.from({ length: 256 }, (_, i) => `10.0.${i}.${(i * 7) & 255}`);

for (const size of [2, 200]) {
  it(`pick costs little with ${size} targets`, (t) => {
    const spec = Object.fromEntries(
      Array.from({ length: size }, (_, i) => [`127.0.${i >> 8}.${(i & 255) + 1}:8000`, 100 + (i % 3)]),
    );
    for (const algorithm of algorithms) {
      const id = `cost-${algorithm}-${size}`;
      const b = compileBalancer(upstream({ id, algorithm, hash_on: 'ip' }), targets(spec, id), registry);
      const picks = 200_000;
      for (let i = 0; i < 20_000; i++) b.pick(ips[i & 255]!);
      const start = process.hrtime.bigint();
      let found = 0;
      for (let i = 0; i < picks; i++) if (b.pick(ips[i & 255]!) !== undefined) found++;
      const ns = Number(process.hrtime.bigint() - start) / picks;
      const tried = [b.pick('10.9.9.9')!];
      const startRetry = process.hrtime.bigint();
      for (let i = 0; i < picks; i++) if (b.pick(ips[i & 255]!, tried) !== undefined) found++;
      const nsRetry = Number(process.hrtime.bigint() - startRetry) / picks;
      t.diagnostic(
        `${algorithm.padEnd(18)} ${size} targets: ${ns.toFixed(0)} ns/pick, ${nsRetry.toFixed(0)} ns/pick with exclude`,
      );
      assert.equal(found, 2 * picks);
      // generous bounds: these catch an accidental O(slots) path or per-call allocation storm, not noise
      assert.ok(ns < (size > 2 ? 20_000 : 2_000), `${algorithm}: ${ns} ns per pick`);
    }
  });
}
