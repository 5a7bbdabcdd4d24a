import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import {
  ask,
  backends,
  count,
  NamedBackend,
  poolYaml,
  sleep,
  startLb,
  waitFor,
  type LbInstance,
} from './balancer-helpers.js';
import type { ResolvedAddress, Resolver } from '../../src/balancer/index.js';

// Health checks, retries and DNS through the running proxy: backends are killed and restarted on the same port.

const FAST_ACTIVE = {
  active: {
    type: 'tcp',
    timeout: 1,
    healthy: { interval: 0.2, successes: 2 },
    unhealthy: { interval: 0.2, tcp_failures: 2 },
  },
};

function healthOf(lb: LbInstance, port: number): string {
  const t = lb.health().find((h) => h.target.endsWith(`:${port}`));
  return t?.health ?? 'missing';
}

/** Sequential short connections until `stop()`; names answered after `mark()` are kept apart. */
function traffic(lb: LbInstance) {
  const before: string[] = [];
  const after: string[] = [];
  let marked = false;
  let running = true;
  const done = (async () => {
    while (running) {
      const m = marked;
      const name = await ask(lb.port);
      (m ? after : before).push(name);
    }
  })();
  return {
    before,
    after,
    mark: () => {
      marked = true;
    },
    stop: async () => {
      running = false;
      await done;
    },
  };
}

test('active checks: a killed backend turns UNHEALTHY, traffic moves off with no failed connection, and it comes back', async (t) => {
  const [a, b] = await backends('a', 'b');
  t.after(() => Promise.all([a, b].map((x) => x!.kill())));
  const lb = await startLb(
    poolYaml(
      [
        [`127.0.0.1:${a!.port}`, 100],
        [`127.0.0.1:${b!.port}`, 100],
      ],
      { healthchecks: FAST_ACTIVE },
    ),
  );
  t.after(() => lb.stop());
  assert.equal(healthOf(lb, b!.port), 'HEALTHY');

  const run = traffic(lb);
  await waitFor(() => run.before.length >= 4, 5000, 'traffic before the kill');
  await b!.kill();
  run.mark();
  const killedAt = Date.now();
  // 2 failures at a 0.2 s interval: about 0.4 s, with slack for a loaded machine
  const tookDown = await waitFor(() => healthOf(lb, b!.port) === 'UNHEALTHY', 5000, 'b unhealthy');
  await sleep(200);
  await run.stop();
  t.diagnostic(`marked unhealthy ${tookDown} ms after the kill; ${run.after.length} connections after it`);
  // the configured bound is 2 × 0.2 s (less when a rescued connection's passive failure counts first); slack for load
  assert.ok(tookDown <= 400 + 1600, `unhealthy after ${tookDown} ms`);
  assert.ok(run.before.includes('b') && run.before.includes('a'), 'both served before the kill');
  assert.ok(run.after.length > 10);
  assert.ok(!run.after.includes(''), `a connection failed: ${JSON.stringify(count(run.after))}`);
  assert.ok(!run.after.includes('b'));
  // connections the retries rescued list the failed try first
  const rescued = lb.records.filter((r) => r.tries.length === 2);
  for (const r of rescued) {
    assert.equal(r.tries[0]!.port, b!.port);
    assert.equal(r.tries[0]!.state, 'failed');
    assert.equal(r.tries[1]!.port, a!.port);
  }
  // once unhealthy, b is not even tried
  lb.records.length = 0;
  for (let i = 0; i < 10; i++) assert.equal(await ask(lb.port), 'a');
  assert.ok(lb.records.every((r) => r.tries.length === 1 && r.tries[0]!.port === a!.port));
  assert.ok(lb.logs.some((l) => l.msg === 'target address is unhealthy' && l.address === `127.0.0.1:${b!.port}`));

  // restarted on the same port: 2 successes at a 0.2 s interval bring it back
  await b!.start();
  const tookUp = await waitFor(() => healthOf(lb, b!.port) === 'HEALTHY', 5000, 'b healthy again');
  t.diagnostic(`healthy again ${tookUp} ms after the restart (${Date.now() - killedAt} ms after the kill)`);
  assert.ok(tookUp <= 400 + 1600, `healthy after ${tookUp} ms`);
  assert.ok(count(await Promise.all(Array.from({ length: 10 }, () => ask(lb.port)))).b! >= 4);
});

test('passive checks: failed connects mark a killed backend UNHEALTHY after tcp_failures tries; retries hide them', async (t) => {
  const [a, b] = await backends('a', 'b');
  t.after(() => Promise.all([a, b].map((x) => x!.kill())));
  const lb = await startLb(
    poolYaml(
      [
        [`127.0.0.1:${b!.port}`, 100],
        [`127.0.0.1:${a!.port}`, 100],
      ],
      { healthchecks: { passive: { type: 'tcp', unhealthy: { tcp_failures: 3 } } } },
    ),
  );
  t.after(() => lb.stop());
  assert.deepEqual(count([await ask(lb.port), await ask(lb.port)]), { a: 1, b: 1 });
  await b!.kill();
  const got: string[] = [];
  for (let i = 0; i < 20; i++) got.push(await ask(lb.port));
  assert.deepEqual(count(got), { a: 20 });
  assert.equal(healthOf(lb, b!.port), 'UNHEALTHY');
  // exactly 3 connections tried b (and were rescued by a retry), none after it tripped
  const failedTries = lb.records.flatMap((r) => r.tries).filter((x) => x.port === b!.port && x.state === 'failed');
  assert.equal(failedTries.length, 3);
  assert.ok(failedTries.every((x) => x.code === 'ECONNREFUSED'));
  assert.ok(lb.records.every((r) => r.session.status === 200));
  // passive checks alone never bring it back: nothing probes it (Kong's behaviour)
  await b!.start();
  for (let i = 0; i < 5; i++) assert.equal(await ask(lb.port), 'a');
});

test('the session record lists every try with ip, port, balancer_latency and state', async (t) => {
  const [live] = await backends('live');
  const dead = [new NamedBackend('d1'), new NamedBackend('d2')];
  for (const d of dead) {
    await d.start();
    await d.kill();
  }
  t.after(() => live!.kill());
  const targets: Array<[string, number]> = [
    [`127.0.0.1:${dead[0]!.port}`, 100],
    [`127.0.0.1:${dead[1]!.port}`, 100],
    [`127.0.0.1:${live!.port}`, 100],
  ];
  const lb = await startLb(poolYaml(targets));
  t.after(() => lb.stop());
  assert.equal(await ask(lb.port), 'live');
  await waitFor(() => lb.records.length === 1, 2000, 'record');
  const r = lb.records[0]!;
  assert.equal(r.session.status, 200);
  assert.equal(r.tries.length, 3, JSON.stringify(r.tries));
  assert.deepEqual(new Set(r.tries.slice(0, 2).map((x) => x.port)), new Set(dead.map((d) => d.port)));
  for (const x of r.tries.slice(0, 2)) {
    assert.equal(x.ip, '127.0.0.1');
    assert.equal(x.state, 'failed');
    assert.equal(x.code, 'ECONNREFUSED');
    assert.equal(typeof x.balancer_latency, 'number');
  }
  assert.deepEqual({ ...r.tries[2]!, balancer_latency: 0 }, { ip: '127.0.0.1', port: live!.port, balancer_latency: 0 });

  // retries: 1 allows two tries in all: both dead ones fail and the client is closed with 502
  const lb1 = await startLb(poolYaml(targets, {}, { retries: 1 }));
  t.after(() => lb1.stop());
  assert.equal(await ask(lb1.port), '');
  await waitFor(() => lb1.records.length === 1, 2000, 'record');
  assert.equal(lb1.records[0]!.session.status, 502);
  assert.deepEqual(
    lb1.records[0]!.tries.map((x) => x.state),
    ['failed', 'failed'],
  );
});

test('every target down and marked unhealthy: 503 close, a clear log line, and health survives a trivial reload', async (t) => {
  const [a, b] = await backends('a', 'b');
  t.after(() => Promise.all([a, b].map((x) => x!.kill())));
  // unhealthy peers are never probed again here: the health seen after the reload can only be the kept one
  const hc = { active: { type: 'tcp', timeout: 1, healthy: { interval: 0.2 }, unhealthy: { tcp_failures: 1 } } };
  const targets: Array<[string, number]> = [
    [`127.0.0.1:${a!.port}`, 100],
    [`127.0.0.1:${b!.port}`, 100],
  ];
  const lb = await startLb(poolYaml(targets, { healthchecks: hc }));
  t.after(() => lb.stop());
  await b!.kill();
  await waitFor(() => healthOf(lb, b!.port) === 'UNHEALTHY', 2000, 'b unhealthy');
  const gen = lb.inst.manager.current!.generation;
  assert.equal(await lb.reload(poolYaml(targets, { healthchecks: hc, tags: ['trivial-change'] })), 'loaded');
  assert.ok(lb.inst.manager.current!.generation > gen, 'a new snapshot is live');
  assert.equal(healthOf(lb, b!.port), 'UNHEALTHY');
  assert.equal(healthOf(lb, a!.port), 'HEALTHY');
  lb.records.length = 0;
  for (let i = 0; i < 6; i++) assert.equal(await ask(lb.port), 'a');
  assert.ok(lb.records.every((r) => r.tries.length === 1));

  await a!.kill();
  try {
    await waitFor(() => healthOf(lb, a!.port) === 'UNHEALTHY', 5000, 'a unhealthy');
  } catch (err) {
    t.diagnostic(JSON.stringify(lb.logs.filter((l) => l.level >= 30 || String(l.msg).includes('probe'))));
    throw err;
  }
  lb.records.length = 0;
  assert.equal(await ask(lb.port), '');
  await waitFor(() => lb.records.length === 1, 2000, 'record');
  assert.equal(lb.records[0]!.session.status, 503);
  assert.equal(lb.records[0]!.session.closed_by, 'proxy');
  assert.deepEqual(lb.records[0]!.tries, []);
  const line = lb.logs.find((l) => String(l.msg).startsWith('failure to get a peer from the ring-balancer'));
  assert.ok(line, 'the no-peer log line');
  assert.equal(line.upstream, 'pool');
  assert.equal(line.level, 40);
});

class SwitchResolver implements Resolver {
  answer: ResolvedAddress[] | NodeJS.ErrnoException = [];
  async resolve(host: string): Promise<ResolvedAddress[]> {
    if (host !== 'named.test') throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    if (this.answer instanceof Error) throw this.answer;
    return this.answer;
  }
}

test('a target name that stops resolving shows DNS_ERROR, is not picked, and comes back when it resolves', async (t) => {
  const [a, n] = await backends('a', 'n');
  t.after(() => Promise.all([a, n].map((x) => x!.kill())));
  const resolver = new SwitchResolver();
  resolver.answer = [{ address: '127.0.0.1', ttl: 0 }];
  const lb = await startLb(
    poolYaml([
      [`named.test:${n!.port}`, 100],
      [`127.0.0.1:${a!.port}`, 100],
    ]),
    { resolver },
  );
  t.after(() => lb.stop());
  const named = () => lb.health().find((h) => h.target.startsWith('named.test'))!;
  assert.equal(named().health, 'HEALTHCHECKS_OFF');
  assert.deepEqual(
    named().addresses.map((x) => x.ip),
    ['127.0.0.1'],
  );
  assert.deepEqual(count(await Promise.all(Array.from({ length: 4 }, () => ask(lb.port)))), { a: 2, n: 2 });
  await waitFor(() => lb.records.length === 4, 2000, 'records');
  const peer = lb.records.find((r) => r.tries[0]!.port === n!.port);
  assert.equal(peer?.tries[0]!.ip, '127.0.0.1');

  resolver.answer = Object.assign(new Error('queryA ENOTFOUND named.test'), { code: 'ENOTFOUND' });
  // re-resolved at the 1 s minimum TTL
  await waitFor(() => named().health === 'DNS_ERROR', 3000, 'DNS_ERROR');
  assert.deepEqual(named().addresses, []);
  for (let i = 0; i < 6; i++) assert.equal(await ask(lb.port), 'a');
  const warn = lb.logs.filter((l) => String(l.msg).includes('does not resolve'));
  assert.equal(warn.length, 1);
  assert.equal(warn[0]!.code, 'ENOTFOUND');

  resolver.answer = [{ address: '127.0.0.1', ttl: 0 }];
  await waitFor(() => named().health !== 'DNS_ERROR', 3000, 'resolves again');
  assert.deepEqual(count(await Promise.all(Array.from({ length: 4 }, () => ask(lb.port)))), { a: 2, n: 2 });
});

test('an upstream whose only target does not resolve closes connections with 503', async (t) => {
  const resolver = new SwitchResolver();
  resolver.answer = Object.assign(new Error('queryA ENOTFOUND named.test'), { code: 'ENOTFOUND' });
  const lb = await startLb(poolYaml([['named.test:9', 100]]), { resolver });
  t.after(() => lb.stop());
  assert.equal(lb.health()[0]!.health, 'DNS_ERROR');
  assert.equal(await ask(lb.port), '');
  await waitFor(() => lb.records.length === 1, 2000, 'record');
  assert.equal(lb.records[0]!.session.status, 503);
});

/**
 * A listener that never accepts, its backlog filled: the kernel drops further SYNs, so a connect to it hangs (the
 * only way to make a connect time out on loopback). A python3 child holds it; `close()` ends it.
 */
async function blackhole(): Promise<{ port: number; close: () => void }> {
  const py = spawn(
    'python3',
    [
      '-c',
      'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\n' +
        'print(s.getsockname()[1],flush=True)\nsys.stdin.read()',
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve) => py.stdout.once('data', (d) => resolve(Number(String(d).trim()))));
  const fillers: Socket[] = [];
  // fill the accept queue until a connect no longer completes at once
  for (let i = 0; i < 8; i++) {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    fillers.push(s);
    const ok = await new Promise<boolean>((resolve) => {
      s.once('connect', () => resolve(true));
      setTimeout(() => resolve(false), 150);
    });
    if (!ok) break;
  }
  return {
    port,
    close: () => {
      for (const s of fillers) s.destroy();
      py.kill();
    },
  };
}

test('a connect that times out is recorded as a timeout try, retried, and trips passive timeouts', async (t) => {
  const [a] = await backends('a');
  const hole = await blackhole();
  t.after(() => {
    hole.close();
    return a!.kill();
  });
  const lb = await startLb(
    poolYaml(
      [
        [`127.0.0.1:${hole.port}`, 100],
        [`127.0.0.1:${a!.port}`, 100],
      ],
      { healthchecks: { passive: { type: 'tcp', unhealthy: { timeouts: 1 } } } },
      { connect_timeout: 200 },
    ),
  );
  t.after(() => lb.stop());
  assert.equal(await ask(lb.port), 'a');
  await waitFor(() => lb.records.length === 1, 2000, 'record');
  const tries = lb.records[0]!.tries;
  assert.equal(tries.length, 2, JSON.stringify(tries));
  assert.equal(tries[0]!.port, hole.port);
  assert.equal(tries[0]!.state, 'timeout');
  assert.ok(tries[0]!.balancer_latency >= 190, `timed out after ${tries[0]!.balancer_latency} ms`);
  assert.equal(tries[1]!.port, a!.port);
  assert.equal(healthOf(lb, hole.port), 'UNHEALTHY');
  for (let i = 0; i < 4; i++) assert.equal(await ask(lb.port), 'a');
});
