import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { compileBalancer } from '../../src/balancer/balancer.js';
import { systemResolver } from '../../src/balancer/dns.js';
import { BalancerRegistry } from '../../src/balancer/registry.js';
import { parseTarget } from '../../src/balancer/target.js';
import { FakeResolver, targets, upstream, waitFor } from './helpers.js';

function capture(): { logger: pino.Logger; lines: Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)));
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

describe('targets named by host name', () => {
  it('resolves in the background, marks DNS_ERROR once when the name fails, recovers', async (t) => {
    const dns = new FakeResolver();
    dns.set('svc.test', [{ address: '127.0.0.1', ttl: 0 }]);
    const { logger, lines } = capture();
    const registry = new BalancerRegistry({ resolver: dns, logger, minTtl: 0.03, errorTtl: 0.03 });
    t.after(() => registry.close());
    const b = compileBalancer(upstream({ id: 'dns-1' }), targets({ 'svc.test:9000': 100 }, 'dns-1'), registry);
    await b.ready();
    assert.deepEqual(b.pick('10.0.0.1'), {
      ip: '127.0.0.1',
      port: 9000,
      hostname: 'svc.test',
      targetId: 't-svc.test:9000',
    });

    dns.set('svc.test', Object.assign(new Error('gone'), { code: 'ENOTFOUND' }));
    await waitFor(() => b.health()[0]!.health === 'DNS_ERROR', 1000, 'DNS_ERROR');
    assert.equal(b.pick('10.0.0.1'), undefined);
    const failedAt = dns.calls.get('svc.test')!;
    await waitFor(() => dns.calls.get('svc.test')! >= failedAt + 3, 1000, 'retries');
    const warnings = lines.filter((l) => l.msg.includes('does not resolve'));
    assert.equal(warnings.length, 1, 'DNS_ERROR logged more than once');

    dns.set('svc.test', [{ address: '127.0.0.1', ttl: 0 }]);
    await waitFor(() => b.pick('10.0.0.1') !== undefined, 1000, 'recovery');
    assert.equal(b.health()[0]!.health, 'HEALTHCHECKS_OFF');
  });

  it('re-resolves when the TTL runs out, picks up a new address and keeps the state of a kept one', async (t) => {
    const dns = new FakeResolver();
    dns.set('pool.test', [
      { address: '127.0.0.2', ttl: 0.2 },
      { address: '127.0.0.1', ttl: 0.3 },
    ]);
    const registry = new BalancerRegistry({ resolver: dns, minTtl: 0.01 });
    t.after(() => registry.close());
    const b = compileBalancer(upstream({ id: 'dns-2' }), targets({ 'pool.test:9000': 100 }, 'dns-2'), registry);
    await b.ready();
    assert.deepEqual(
      b.health()[0]!.addresses.map((a) => a.ip),
      ['127.0.0.1', '127.0.0.2'],
    );
    b.setHealth('127.0.0.1', false);
    dns.set('pool.test', [
      { address: '127.0.0.1', ttl: 5 },
      { address: '127.0.0.3', ttl: 5 },
    ]);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(dns.calls.get('pool.test'), 1, 'resolved again before the shortest TTL ran out');
    await waitFor(() => b.health()[0]!.addresses.some((a) => a.ip === '127.0.0.3'), 1000, 'new address');
    assert.deepEqual(b.health()[0]!.addresses, [
      { ip: '127.0.0.1', port: 9000, health: 'UNHEALTHY' },
      { ip: '127.0.0.3', port: 9000, health: 'HEALTHCHECKS_OFF' },
    ]);
    for (let i = 0; i < 5; i++) assert.equal(b.pick('10.0.0.1')!.ip, '127.0.0.3');
  });

  it("gives every address of a name the target's full weight and never waits for DNS in pick", async (t) => {
    const dns = new FakeResolver();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    dns.resolve = async (host) => {
      await gate;
      return FakeResolver.prototype.resolve.call(dns, host);
    };
    dns.set('two.test', [
      { address: '127.0.0.1', ttl: 60 },
      { address: '127.0.0.2', ttl: 60 },
    ]);
    const registry = new BalancerRegistry({ resolver: dns });
    t.after(() => registry.close());
    const b = compileBalancer(
      upstream({ id: 'dns-3' }),
      targets({ 'two.test:9000': 100, '127.0.0.9:9000': 100 }, 'dns-3'),
      registry,
    );
    assert.equal(b.pick('10.0.0.1')!.ip, '127.0.0.9', 'only the IP target before the name resolves');
    release();
    await b.ready();
    let named = 0;
    for (let i = 0; i < 300; i++) if (b.pick('10.0.0.1')!.hostname === 'two.test') named++;
    assert.equal(named, 200);
  });

  it('stops re-resolving a target that a new snapshot removed', async (t) => {
    const dns = new FakeResolver();
    dns.set('old.test', [{ address: '127.0.0.1', ttl: 0 }]);
    const registry = new BalancerRegistry({ resolver: dns, minTtl: 0.02 });
    t.after(() => registry.close());
    const u = upstream({ id: 'dns-4' });
    await compileBalancer(u, targets({ 'old.test:9000': 100 }, 'dns-4'), registry).ready();
    await waitFor(() => dns.calls.get('old.test')! >= 3, 1000, 're-resolution');
    const next = compileBalancer(u, targets({ '127.0.0.1:9001': 100 }, 'dns-4'), registry);
    registry.retain([next]);
    const calls = dns.calls.get('old.test')!;
    await new Promise((r) => setTimeout(r, 150));
    assert.ok(dns.calls.get('old.test')! <= calls + 1, 'still resolving');
  });
});

describe('system resolver and target strings', () => {
  it('finds localhost through getaddrinfo when DNS has no answer', async () => {
    const found = await systemResolver().resolve('localhost');
    assert.ok(
      found.some((f) => f.address === '127.0.0.1' || f.address === '::1'),
      JSON.stringify(found),
    );
    assert.ok(found.every((f) => f.ttl > 0));
  });

  it('rejects a name that does not exist', async () => {
    await assert.rejects(systemResolver().resolve('no-such-host.invalid'));
  });

  it('parses host:port, [v6]:port and a bare host', () => {
    assert.deepEqual(parseTarget('example.com:1234'), { host: 'example.com', port: 1234 });
    assert.deepEqual(parseTarget('[::1]:99'), { host: '::1', port: 99 });
    assert.deepEqual(parseTarget('example.com'), { host: 'example.com', port: 8000 });
    assert.deepEqual(parseTarget('::1'), { host: '::1', port: 8000 });
  });
});
