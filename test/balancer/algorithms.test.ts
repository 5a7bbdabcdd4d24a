import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { compileBalancer } from '../../src/balancer/balancer.js';
import { BalancerRegistry } from '../../src/balancer/registry.js';
import type { Peer } from '../../src/balancer/types.js';
import { targets, upstream } from './helpers.js';

const registry = new BalancerRegistry();
after(() => registry.close());

let n = 0;
/** a fresh upstream id per balancer so runtime state never leaks between tests */
function uid(): string {
  return `algo-${++n}`;
}

function clientIp(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
}

describe('smooth weighted round-robin', () => {
  it('follows weights 1:2:5 within 2% over 8000 picks, interleaved, never picking weight 0', () => {
    const id = uid();
    const b = compileBalancer(
      upstream({ id }),
      targets({ '127.0.0.1:1001': 1, '127.0.0.1:1002': 2, '127.0.0.1:1005': 5, '127.0.0.1:1000': 0 }, id),
      registry,
    );
    const count = new Map<number, number>();
    const longest = new Map<number, number>();
    let last = -1;
    let run = 0;
    for (let i = 0; i < 8000; i++) {
      const p = b.pick('10.0.0.1')!;
      count.set(p.port, (count.get(p.port) ?? 0) + 1);
      run = p.port === last ? run + 1 : 1;
      last = p.port;
      longest.set(p.port, Math.max(longest.get(p.port) ?? 0, run));
    }
    assert.equal(count.get(1000), undefined, 'weight 0 picked');
    for (const [port, weight] of [
      [1001, 1],
      [1002, 2],
      [1005, 5],
    ] as const) {
      const share = count.get(port)! / 8000;
      assert.ok(Math.abs(share - weight / 8) <= 0.02, `port ${port}: share ${share}`);
      assert.ok(longest.get(port)! <= weight, `port ${port}: ${longest.get(port)} in a row`);
    }
    // nginx's sequence for 5:1:1-like weights has no burst: the heavy peer never takes more than 2 in a row here
    assert.ok(longest.get(1005)! <= 2, `weight 5 ran ${longest.get(1005)} in a row`);
  });

  it('moves a retry to another target and returns undefined when all were tried', () => {
    const id = uid();
    const b = compileBalancer(upstream({ id }), targets({ '127.0.0.1:2001': 1, '127.0.0.1:2002': 1 }, id), registry);
    const first = b.pick('10.0.0.1')!;
    const second = b.pick('10.0.0.1', [first])!;
    assert.notEqual(second.port, first.port);
    assert.equal(b.pick('10.0.0.1', new Set([first, second])), undefined);
  });

  it('returns undefined when every target has weight 0', () => {
    const id = uid();
    const b = compileBalancer(upstream({ id }), targets({ '127.0.0.1:2101': 0 }, id), registry);
    assert.equal(b.pick('10.0.0.1'), undefined);
    assert.equal(b.healthy(), false);
  });
});

describe('least-connections', () => {
  it('sends new connections to the least loaded peer relative to weight, ties taking turns', () => {
    const id = uid();
    const b = compileBalancer(
      upstream({ id, algorithm: 'least-connections' }),
      targets({ '127.0.0.1:3001': 100, '127.0.0.1:3002': 100, '127.0.0.1:3003': 200 }, id),
      registry,
    );
    const open: Peer[] = [];
    for (let i = 0; i < 40; i++) {
      const p = b.pick('10.0.0.1')!;
      b.connected(p);
      open.push(p);
    }
    const per = (port: number) => open.filter((p) => p.port === port).length;
    // (c + 1) / w balanced: the weight-200 peer holds about twice as many long-lived connections
    assert.ok(Math.abs(per(3001) - 10) <= 1 && Math.abs(per(3002) - 10) <= 1, `${per(3001)} ${per(3002)}`);
    assert.ok(Math.abs(per(3003) - 20) <= 1, `${per(3003)}`);
    // closing the connections of one peer makes it the preferred one
    for (const p of open.filter((p) => p.port === 3001)) b.released(p);
    for (let i = 0; i < 5; i++) {
      const p = b.pick('10.0.0.1')!;
      assert.equal(p.port, 3001);
      b.connected(p);
    }
  });

  it('rotates among equal scores', () => {
    const id = uid();
    const b = compileBalancer(
      upstream({ id, algorithm: 'least-connections' }),
      targets({ '127.0.0.1:3101': 1, '127.0.0.1:3102': 1, '127.0.0.1:3103': 1 }, id),
      registry,
    );
    const seen = new Set<number>();
    for (let i = 0; i < 3; i++) seen.add(b.pick('10.0.0.1')!.port);
    assert.equal(seen.size, 3);
  });
});

describe('consistent-hashing on ip', () => {
  const spec = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`127.0.0.1:${4000 + i}`, 100]));

  it('keeps a client on its target and spreads clients by weight', () => {
    const id = uid();
    const b = compileBalancer(
      upstream({ id, algorithm: 'consistent-hashing', hash_on: 'ip' }),
      targets(spec, id),
      registry,
    );
    const counts = new Map<number, number>();
    for (let i = 0; i < 5000; i++) {
      const p = b.pick(clientIp(i))!;
      assert.equal(b.pick(clientIp(i)), p, 'client moved');
      counts.set(p.port, (counts.get(p.port) ?? 0) + 1);
    }
    assert.equal(counts.size, 10);
    for (const c of counts.values()) assert.ok(c > 350 && c < 650, `uneven share ${c}`);
  });

  it("moves only the removed target's clients, and a recompiled registry state gives the same mapping", () => {
    const id = uid();
    const u = upstream({ id, algorithm: 'consistent-hashing', hash_on: 'ip' });
    const all = targets(spec, id);
    const before = compileBalancer(u, all, registry);
    const after = compileBalancer(
      u,
      all.filter((t) => t.target !== '127.0.0.1:4003'),
      registry,
    );
    let moved = 0;
    const clients = 5000;
    for (let i = 0; i < clients; i++) {
      const a = before.pick(clientIp(i))!;
      const b = after.pick(clientIp(i))!;
      if (a.port !== b.port) {
        moved++;
        assert.equal(a.port, 4003, `a client of ${a.port} moved to ${b.port}`);
      }
    }
    assert.ok(Math.abs(moved / clients - 0.1) < 0.03, `moved ${moved}`);
  });

  it("sends an unhealthy target's clients elsewhere and back when it recovers", () => {
    const id = uid();
    const b = compileBalancer(
      upstream({ id, algorithm: 'consistent-hashing', hash_on: 'ip' }),
      targets(spec, id),
      registry,
    );
    const home = b.pick('10.1.2.3')!;
    assert.ok(b.setHealth(`127.0.0.1:${home.port}`, false));
    const other = b.pick('10.1.2.3')!;
    assert.notEqual(other.port, home.port);
    assert.equal(b.pick('10.1.2.3'), other, 'fallback is not stable');
    b.setHealth(home.targetId, true);
    assert.equal(b.pick('10.1.2.3'), home);
  });

  it('falls back to round-robin without hash_on', () => {
    const id = uid();
    const b = compileBalancer(upstream({ id, algorithm: 'consistent-hashing' }), targets(spec, id), registry);
    const seen = new Set<number>();
    for (let i = 0; i < 10; i++) seen.add(b.pick('10.1.2.3')!.port);
    assert.equal(seen.size, 10);
  });
});

describe('latency', () => {
  it('tries unmeasured peers first, then prefers the fast one relative to weight', () => {
    const id = uid();
    const b = compileBalancer(
      upstream({ id, algorithm: 'latency' }),
      targets({ '127.0.0.1:5001': 100, '127.0.0.1:5002': 100 }, id),
      registry,
    );
    const first = b.pick('10.0.0.1')!;
    b.report(first, 'ok', first.port === 5001 ? 20 : 2);
    const second = b.pick('10.0.0.1')!;
    assert.notEqual(second.port, first.port, 'unmeasured peer not tried first');
    b.report(second, 'ok', second.port === 5001 ? 20 : 2);
    for (let i = 0; i < 20; i++) assert.equal(b.pick('10.0.0.1')!.port, 5002);
    // the fast peer slows down: the average follows and the other one takes over
    const fast = b.pick('10.0.0.1')!;
    for (let i = 0; i < 30; i++) b.report(fast, 'ok', 200);
    assert.equal(b.pick('10.0.0.1')!.port, 5001);
  });
});
