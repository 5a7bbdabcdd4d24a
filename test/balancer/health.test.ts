import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileBalancer } from '../../src/balancer/balancer.js';
import { BalancerRegistry } from '../../src/balancer/registry.js';
import { Backend, closedPort, targets, upstream, waitFor } from './helpers.js';

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe('active tcp checks', () => {
  it('marks a backend that stops listening unhealthy, and healthy again once it listens', async (t) => {
    const backend = await new Backend().start();
    const spare = await new Backend().start();
    const registry = new BalancerRegistry();
    t.after(async () => {
      registry.close();
      await backend.stop();
      await spare.stop();
    });
    const u = upstream({
      id: 'act-1',
      healthchecks: {
        active: { healthy: { interval: 0.1, successes: 2 }, unhealthy: { interval: 0.1, tcp_failures: 2 } },
      },
    });
    const b = compileBalancer(
      u,
      targets({ [`127.0.0.1:${backend.port}`]: 100, [`127.0.0.1:${spare.port}`]: 100 }, 'act-1'),
      registry,
    );
    const target = b.health()[0]!;
    assert.equal(target.health, 'HEALTHY');

    await backend.stop();
    const down = await waitFor(() => b.health()[0]!.health === 'UNHEALTHY', 0.1 * 2 * 1000 + 400, 'unhealthy');
    for (let i = 0; i < 10; i++) assert.equal(b.pick('10.0.0.1')!.port, spare.port);

    await backend.start();
    const up = await waitFor(() => b.health()[0]!.health === 'HEALTHY', 0.1 * 2 * 1000 + 400, 'healthy');
    const ports = new Set([b.pick('10.0.0.1')!.port, b.pick('10.0.0.1')!.port]);
    assert.equal(ports.size, 2);
    t.diagnostic(`unhealthy after ${down} ms, healthy again after ${up} ms (interval 100 ms, 2 results)`);
  });

  it('counts timeouts apart from refusals and checks a new target at once', async (t) => {
    const registry = new BalancerRegistry();
    t.after(() => registry.close());
    const dead = await closedPort();
    // intervals far longer than the test: only the immediate check of a new target can trip it
    const u = upstream({
      id: 'act-2',
      healthchecks: { active: { healthy: { interval: 60 }, unhealthy: { interval: 60, tcp_failures: 1 } } },
    });
    const b = compileBalancer(u, targets({ [`127.0.0.1:${dead}`]: 100 }, 'act-2'), registry);
    await waitFor(() => b.health()[0]!.health === 'UNHEALTHY', 1000, 'immediate check');
    assert.equal(b.pick('10.0.0.1'), undefined);
    assert.equal(b.healthy(), false);
  });
});

describe('passive checks and manual override', () => {
  it('trips after passive.unhealthy.tcp_failures reported failures; successes in between reset the count', () => {
    const registry = new BalancerRegistry();
    try {
      const u = upstream({ id: 'pas-1', healthchecks: { passive: { unhealthy: { tcp_failures: 3, timeouts: 2 } } } });
      const b = compileBalancer(u, targets({ '127.0.0.1:6001': 100, '127.0.0.1:6002': 100 }, 'pas-1'), registry);
      const p = b.pick('10.0.0.1')!;
      b.report(p, 'failed');
      b.report(p, 'failed');
      b.report(p, 'ok');
      b.report(p, 'failed');
      b.report(p, 'failed');
      assert.equal(b.health().find((h) => h.id === p.targetId)!.health, 'HEALTHY');
      b.report(p, 'failed');
      assert.equal(b.health().find((h) => h.id === p.targetId)!.health, 'UNHEALTHY');
      for (let i = 0; i < 5; i++) assert.notEqual(b.pick('10.0.0.1'), p);

      const q = b.pick('10.0.0.1')!;
      b.report(q, 'timeout', 1000);
      b.report(q, 'timeout', 1000);
      assert.equal(b.pick('10.0.0.1'), undefined, 'no healthy peer left');
      assert.deepEqual(
        b.health().map((h) => h.addresses[0]!.health),
        ['UNHEALTHY', 'UNHEALTHY'],
      );

      assert.equal(b.setHealth('127.0.0.1:6002', true), true);
      assert.equal(b.pick('10.0.0.1')!.port, 6002);
      assert.equal(b.setHealth('no-such-target:1', true), false);
    } finally {
      registry.close();
    }
  });

  it('reports HEALTHCHECKS_OFF when no check is configured', () => {
    const registry = new BalancerRegistry();
    try {
      const b = compileBalancer(upstream({ id: 'off-1' }), targets({ '127.0.0.1:6101': 7 }, 'off-1'), registry);
      assert.deepEqual(b.health(), [
        {
          target: '127.0.0.1:6101',
          id: 't-127.0.0.1:6101',
          weight: 7,
          addresses: [{ ip: '127.0.0.1', port: 6101, health: 'HEALTHCHECKS_OFF' }],
          health: 'HEALTHCHECKS_OFF',
        },
      ]);
      assert.equal(b.healthy(), true);
    } finally {
      registry.close();
    }
  });
});

describe('threshold', () => {
  it('makes the whole upstream unhealthy below the healthy share of weight', () => {
    const registry = new BalancerRegistry();
    try {
      const u = upstream({ id: 'thr-1', healthchecks: { threshold: 60 } });
      const b = compileBalancer(
        u,
        targets(
          {
            '127.0.0.1:7001': 100,
            '127.0.0.1:7002': 100,
            '127.0.0.1:7003': 100,
            '127.0.0.1:7004': 100,
          },
          'thr-1',
        ),
        registry,
      );
      b.setHealth('127.0.0.1:7001', false);
      assert.equal(b.healthy(), true, '75% healthy');
      assert.ok(b.pick('10.0.0.1'));
      b.setHealth('127.0.0.1:7002', false);
      assert.equal(b.healthy(), false, '50% healthy');
      assert.equal(b.pick('10.0.0.1'), undefined);
      b.setHealth('127.0.0.1:7002', true);
      assert.equal(b.pick('10.0.0.1') !== undefined, true);
    } finally {
      registry.close();
    }
  });
});

describe('recompiles', () => {
  it('keeps the health of a kept target, starts a new one healthy, stops checking a removed one', async (t) => {
    const kept = await new Backend().start();
    const removed = await new Backend().start();
    const registry = new BalancerRegistry();
    t.after(async () => {
      registry.close();
      await kept.stop();
      await removed.stop();
    });
    const u = upstream({
      id: 'rec-1',
      healthchecks: { active: { healthy: { interval: 0.05 }, unhealthy: { interval: 0.05 } } },
    });
    const first = compileBalancer(
      u,
      targets({ [`127.0.0.1:${kept.port}`]: 100, [`127.0.0.1:${removed.port}`]: 100 }, 'rec-1'),
      registry,
    );
    first.setHealth(`127.0.0.1:${kept.port}`, false);
    await waitFor(() => removed.accepted >= 2, 1000, 'probes of the soon removed target');

    const fresh = await new Backend().start();
    t.after(() => fresh.stop());
    const second = compileBalancer(
      u,
      targets({ [`127.0.0.1:${kept.port}`]: 100, [`127.0.0.1:${fresh.port}`]: 50 }, 'rec-1'),
      registry,
    );
    registry.retain(['rec-1']);
    const health = Object.fromEntries(second.health().map((h) => [h.target, h.health]));
    // no successes threshold is configured, so the manual mark stays until someone resets it
    assert.equal(health[`127.0.0.1:${kept.port}`], 'UNHEALTHY');
    assert.equal(health[`127.0.0.1:${fresh.port}`], 'HEALTHY');
    await waitFor(() => fresh.accepted >= 1, 500, 'the new target checked at once');

    const before = removed.accepted;
    await sleep(250);
    assert.equal(removed.accepted, before, 'a removed target is still probed');

    registry.close();
    await sleep(20); // probes in flight at close are destroyed
    const frozen = kept.accepted + fresh.accepted;
    await sleep(200);
    assert.equal(kept.accepted + fresh.accepted, frozen, 'probes after close()');
  });

  it('retain without an upstream stops its checker', async (t) => {
    const backend = await new Backend().start();
    const registry = new BalancerRegistry();
    t.after(async () => {
      registry.close();
      await backend.stop();
    });
    const u = upstream({ id: 'rec-2', healthchecks: { active: { healthy: { interval: 0.05 } } } });
    compileBalancer(u, targets({ [`127.0.0.1:${backend.port}`]: 100 }, 'rec-2'), registry);
    await waitFor(() => backend.accepted >= 2, 1000, 'probes');
    registry.retain([]);
    await sleep(20);
    const before = backend.accepted;
    await sleep(200);
    assert.equal(backend.accepted, before);
  });
});
