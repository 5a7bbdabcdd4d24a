/**
 * The reload policy's memory of recent reloads (runtime/reload-policy.ts): a session accepted several reloads ago
 * is asked about the routes those reloads touched, with the same answer as `affectedRoutes` over the whole files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { affectedRoutes, indexConfig, type ReloadChange } from '../../src/runtime/affected-routes.js';
import { applyReloadPolicy, ReloadChanges, type PolicySnapshot } from '../../src/runtime/reload-policy.js';
import type { DeclarativeConfig } from '../../src/config/types.js';
import { cfg } from '../gitops/helpers.js';
import { pino } from 'pino';

const routes = (ports: number[]) => `_format_version: "3.0"
services:
  - name: s
    url: tcp://10.0.0.1:1
    routes:
${ports.map((p, i) => `      - { name: r${i}, protocols: [tcp], destinations: [{ port: ${p} }] }`).join('\n')}
`;

function snapshots(configs: DeclarativeConfig[], known = true): PolicySnapshot[] {
  return configs.map((c, i) => ({
    generation: i + 1,
    index: indexConfig(c),
    changes:
      i > 0 && known ? ({ from: i, affected: affectedRoutes(configs[i - 1]!, c) } satisfies ReloadChange) : undefined,
  }));
}

function policyOn(snaps: PolicySnapshot[], changes: ReloadChanges, openOn: PolicySnapshot, routeIds: string[]) {
  const closed: string[] = [];
  const sessions = routeIds.map((id) => ({ route: { id }, snap: openOn, abort: () => closed.push(id) }));
  const next = snaps.at(-1)!;
  const out = applyReloadPolicy(sessions, next, (s) => s as PolicySnapshot, {
    policy: 'close',
    drainMs: 10,
    logger: pino({ level: 'silent' }),
    changes,
  });
  return { closed, out };
}

test('a session three reloads old is closed for exactly the routes some reload since touched', () => {
  const configs = [routes([1, 2, 3, 4]), routes([1, 20, 3, 4]), routes([1, 20, 30, 4]), routes([1, 2, 30, 4])].map(
    (y) => cfg(y),
  );
  const snaps = snapshots(configs);
  const changes = new ReloadChanges();
  for (const s of snaps) changes.note(s);
  const ids = configs[0]!.routes.map((r) => r.id);
  const { closed, out } = policyOn(snaps, changes, snaps[0]!, ids);
  // r1 went 2 -> 20 -> 2: changed and changed back, untouched over the whole span (the same answer as one diff)
  const expected = [...affectedRoutes(configs[0]!, configs[3]!).keys()];
  assert.deepEqual(closed, expected);
  assert.deepEqual(
    closed.map((id) => configs[0]!.routes.find((r) => r.id === id)!.name),
    ['r2'],
  );
  assert.deepEqual(out, { kept: 0, drained: 0, closed: 1 });
  assert.deepEqual([...changes.touched(1, 4)!].sort(), [ids[1]!, ids[2]!].sort(), 'the candidates: r1 and r2');
});

test('a reload whose build did not tell what changed: the question is asked of every route', () => {
  const configs = [routes([1, 2]), routes([1, 20]), routes([10, 20])].map((y) => cfg(y));
  const snaps = snapshots(configs, false);
  const changes = new ReloadChanges();
  for (const s of snaps) changes.note(s);
  assert.equal(changes.touched(1, 3), undefined);
  const ids = configs[0]!.routes.map((r) => r.id);
  assert.deepEqual(policyOn(snaps, changes, snaps[0]!, ids).closed.sort(), [...ids].sort());
  // a session of the snapshot just replaced, with no changes recorded: worked out in full as well
  assert.deepEqual(policyOn(snaps, changes, snaps[1]!, ids).closed, [ids[0]!]);
});
