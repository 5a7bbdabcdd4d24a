/**
 * Slow start (upstream tag kong-ts.slow_start): counts of real connections at several instants after a target
 * turns healthy (round-robin) and after one is added by a reload (least-connections). Loose bounds: the machine
 * may be busy, so only the shape is asserted (a small share early, the full share after the ramp).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyRamp } from '../../src/balancer/slow-start.js';
import type { Slot } from '../../src/balancer/types.js';
import { exclusive } from '../helpers/exclusive.js';
import { ask, backends, count, hold, poolYaml, sleep, startLb, waitFor, type Held } from './balancer-helpers.js';

const RAMP_MS = 2000;

async function shareOf(port: number, name: string, n: number): Promise<{ share: number; ms: number }> {
  const t0 = Date.now();
  const names: string[] = [];
  for (let i = 0; i < n; i++) names.push(await ask(port));
  return { share: (count(names)[name] ?? 0) / n, ms: Date.now() - t0 };
}

test('applyRamp: weights ramp linearly from 1% to 100% over the duration', () => {
  const slot = (rampStart: number): Slot => ({
    peer: {} as Slot['peer'],
    state: { rampStart } as Slot['state'],
    weight: 100,
    eff: 100,
    current: 0,
  });
  const slots = [slot(0), slot(1000), slot(1000)];
  slots[2]!.state.rampStart = 500;
  assert.equal(applyRamp(slots, 2000, 1000), true);
  assert.deepEqual(
    slots.map((s) => s.eff),
    [100, 1, 25],
  );
  assert.equal(applyRamp(slots, 2000, 2000), true);
  assert.deepEqual(
    slots.map((s) => s.eff),
    [100, 50, 75],
  );
  assert.equal(applyRamp(slots, 2000, 3000), false);
  assert.deepEqual(
    slots.map((s) => s.eff),
    [100, 100, 100],
  );
});

test('round-robin: a target that turns healthy again ramps from a small share to half of the connections', async (t) => {
  t.after(await exclusive());
  const [a, b] = await backends('a', 'b');
  t.after(() => Promise.all([a, b].map((x) => x!.kill())));
  const lb = await startLb(
    poolYaml(
      [
        [`127.0.0.1:${a!.port}`, 100],
        [`127.0.0.1:${b!.port}`, 100],
      ],
      {
        tags: [`kong-ts.slow_start=${RAMP_MS}ms`],
        healthchecks: {
          active: {
            type: 'tcp',
            timeout: 1,
            healthy: { interval: 0.1, successes: 1 },
            unhealthy: { interval: 0.1, tcp_failures: 1 },
          },
        },
      },
    ),
  );
  t.after(() => lb.stop());
  const health = () => lb.health().find((h) => h.target.endsWith(`:${b!.port}`))?.health;
  // the first targets of an upstream start at full weight
  assert.ok((await shareOf(lb.port, 'b', 20)).share >= 0.35);

  await b!.kill();
  await waitFor(() => health() === 'UNHEALTHY', 5000, 'b unhealthy');
  await b!.start();
  await waitFor(() => health() === 'HEALTHY', 5000, 'b healthy');
  const upAt = Date.now();
  const early = await shareOf(lb.port, 'b', 40);
  const earlyAge = Date.now() - upAt;
  await sleep(Math.max(0, upAt + RAMP_MS / 2 - Date.now()));
  const mid = await shareOf(lb.port, 'b', 40);
  await sleep(Math.max(0, upAt + RAMP_MS + 300 - Date.now()));
  const late = await shareOf(lb.port, 'b', 40);
  t.diagnostic(
    `b's share: ${early.share} over the first ${earlyAge} ms, ${mid.share} around ${RAMP_MS / 2} ms, ${late.share} after the ramp`,
  );
  // linear: at age x the share is x/(x+1) of the ramp fraction; generous bounds for a slow machine
  if (earlyAge < RAMP_MS / 2) assert.ok(early.share <= 0.3, `early share ${early.share}`);
  assert.ok(mid.share >= early.share - 0.05, `mid ${mid.share} below early ${early.share}`);
  assert.ok(late.share >= 0.4 && late.share <= 0.6, `late share ${late.share}`);
  assert.ok(late.share > early.share, 'the share grew');
});

test('least-connections: a target added by a reload takes few held connections at first, its full share after the ramp', async (t) => {
  t.after(await exclusive());
  const [a, b] = await backends('a', 'b');
  t.after(() => Promise.all([a, b].map((x) => x!.kill())));
  const upstream = { algorithm: 'least-connections', tags: [`kong-ts.slow_start=${RAMP_MS}ms`] };
  const lb = await startLb(poolYaml([[`127.0.0.1:${a!.port}`, 100]], upstream));
  t.after(() => lb.stop());
  assert.equal(await ask(lb.port), 'a');
  assert.equal(
    await lb.reload(
      poolYaml(
        [
          [`127.0.0.1:${a!.port}`, 100],
          [`127.0.0.1:${b!.port}`, 100],
        ],
        upstream,
      ),
    ),
    'loaded',
  );
  const addedAt = Date.now();
  const holdMany = async (n: number): Promise<Held[]> => {
    const held: Held[] = [];
    for (let i = 0; i < n; i++) held.push(await hold(lb.port));
    return held;
  };
  const first = await holdMany(20);
  const firstAge = Date.now() - addedAt;
  const early = count(first.map((h) => h.name));
  for (const h of first) h.close();
  await waitFor(() => a!.live + b!.live === 0, 5000, 'connections closed');
  await sleep(Math.max(0, addedAt + RAMP_MS + 300 - Date.now()));
  const second = await holdMany(20);
  const late = count(second.map((h) => h.name));
  for (const h of second) h.close();
  t.diagnostic(
    `held connections on b: ${early.b ?? 0} of 20 within ${firstAge} ms of the reload, ${late.b ?? 0} of 20 after the ramp`,
  );
  // at age x of a 2 s ramp b's weight is x/2 s of a's: least-connections gives it about that share of what a holds
  if (firstAge < RAMP_MS / 2) assert.ok((early.b ?? 0) <= 6, `early: ${JSON.stringify(early)}`);
  assert.ok((late.b ?? 0) >= 8 && (late.b ?? 0) <= 12, `late: ${JSON.stringify(late)}`);
});
