import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePluginChains } from '../../src/plugins/chain.js';
import { SessionContext } from '../../src/plugins/context.js';
import { PluginError } from '../../src/plugins/errors.js';
import type { PluginInstance, PrereadResult, StreamPlugin } from '../../src/plugins/types.js';
import { silentLogger } from '../../src/log.js';
import { entity, record } from './helpers.js';

/** A plugin whose instances record what they were built with and what they saw. */
function probe(
  name: string,
  priority: number,
  behave: (tag: string) => PluginInstance = () => ({}),
): StreamPlugin<{ tag: string }> {
  return {
    name,
    priority,
    configSchema: {
      type: 'object',
      properties: { tag: { type: 'string', default: 'none' } },
      additionalProperties: false,
    },
    create: (config) => ({ ...behave(config.tag), tag: config.tag }) as PluginInstance,
  };
}

const ctx = () => new SessionContext('10.0.0.1', 40000, 9000);
const tags = (chain: { names: readonly string[] }) => chain.names;

function runSync(chain: ReturnType<ReturnType<typeof compilePluginChains>['forRoute']>, c = ctx()) {
  let out: PrereadResult | 'pending' = 'pending';
  chain.preread(c, 100, (r) => {
    out = r;
  });
  return out as PrereadResult | 'pending';
}

test('scoping: route+service beats route beats service beats global, per plugin name', async () => {
  const seen: string[] = [];
  const p = probe('p', 1, (tag) => ({
    preread() {
      seen.push(tag);
    },
  }));
  const available = new Map([['p', p]]);
  const chains = compilePluginChains(
    [
      entity('p', { config: { tag: 'global' } }),
      entity('p', { config: { tag: 'service' }, service: 'S' }),
      entity('p', { config: { tag: 'route' }, route: 'R' }),
      entity('p', { config: { tag: 'route+service' }, route: 'R', service: 'S' }),
    ],
    available,
    silentLogger,
  );
  const order = [
    ['R', 'S'],
    ['R', 'T'],
    ['Q', 'S'],
    ['Q', 'T'],
    [undefined, undefined],
  ] as const;
  for (const [r, s] of order) runSync(chains.forRoute(r, s));
  assert.deepEqual(seen, ['route+service', 'route', 'service', 'global', 'global']);
  assert.equal(chains.forRoute('R', 'S'), chains.forRoute('R', 'S'), 'chains are built once and reused');
  // routes that select the same plugins share one chain (a chain keeps no per-route state)
  assert.equal(chains.forRoute('Q', 'T'), chains.forRoute('Z', 'T'));
  assert.equal(chains.forRoute('Q', 'T'), chains.forRoute());
  assert.notEqual(chains.forRoute('R', 'T'), chains.forRoute('Q', 'T'));
  await chains.close();
});

test('ordering by priority, higher first; defaults filled in; disabled, consumer-scoped and HTTP-only entities skipped', async () => {
  const seen: string[] = [];
  const mk = (name: string, prio: number) =>
    probe(name, prio, (tag) => ({
      preread() {
        seen.push(`${name}:${tag}`);
      },
    }));
  const available = new Map([
    ['low', mk('low', 5)],
    ['high', mk('high', 990)],
    ['mid', mk('mid', 13)],
    ['off', mk('off', 50)],
  ]);
  const chains = compilePluginChains(
    [
      entity('low'),
      entity('high'),
      entity('mid'),
      entity('off', { enabled: false }),
      entity('off', { consumer: 'C' }),
      entity('off', { protocols: ['http', 'https'] }),
    ],
    available,
    silentLogger,
  );
  const chain = chains.forRoute('any', 'any');
  assert.deepEqual(tags(chain), ['high', 'mid', 'low']);
  assert.equal(runSync(chain), undefined);
  assert.deepEqual(seen, ['high:none', 'mid:none', 'low:none']);
  await chains.close();
});

test('protocols: tls_passthrough or udp alone is enough to run on streams', () => {
  const available = new Map([
    ['a', probe('a', 1)],
    ['b', probe('b', 2)],
  ]);
  const chains = compilePluginChains(
    [entity('a', { protocols: ['udp'] }), entity('b', { protocols: ['tls_passthrough'] })],
    available,
    silentLogger,
  );
  assert.deepEqual(tags(chains.forRoute()), ['b', 'a']);
});

test('an unknown plugin or a bad config is a PluginError, and instances already created are closed', () => {
  let closed = 0;
  const p = probe('p', 1, () => ({
    close() {
      closed++;
    },
  }));
  const available = new Map([['p', p]]);
  assert.throws(
    () => compilePluginChains([entity('p'), entity('nope')], available, silentLogger),
    (err: unknown) =>
      err instanceof PluginError && err.code === 'KONG_PLUGIN_UNKNOWN' && /plugin 'nope' not enabled/.test(err.message),
  );
  assert.equal(closed, 1);
  assert.throws(
    () => compilePluginChains([entity('p', { config: { tag: 5 } })], available, silentLogger),
    (err: unknown) =>
      err instanceof PluginError && err.code === 'KONG_PLUGIN_CONFIG' && /config\.tag must be string/.test(err.message),
  );
});

test('synchronous chain: done is called before preread returns, and a close stops the chain', () => {
  const seen: string[] = [];
  const available = new Map<string, StreamPlugin>([
    ['deny', probe('deny', 10, () => ({ preread: () => ({ close: true, status: 403 }) }))],
    [
      'after',
      probe('after', 1, () => ({
        preread: () => {
          seen.push('after');
        },
      })),
    ],
  ]);
  const chains = compilePluginChains([entity('deny'), entity('after')], available, silentLogger);
  assert.deepEqual(runSync(chains.forRoute()), { close: true, status: 403 });
  assert.deepEqual(seen, []);
});

test('async preread: awaited in order, its log values reach the context', async () => {
  const seen: string[] = [];
  const available = new Map<string, StreamPlugin>([
    [
      'slow',
      probe('slow', 10, () => ({
        async preread(c) {
          await new Promise((r) => setTimeout(r, 20));
          c.setLogValue('checked', true);
          seen.push('slow');
        },
      })),
    ],
    [
      'next',
      probe('next', 1, () => ({
        preread: () => {
          seen.push('next');
        },
      })),
    ],
  ]);
  const chains = compilePluginChains([entity('slow'), entity('next')], available, silentLogger);
  const c = ctx();
  const result = await new Promise<PrereadResult>((resolve) => chains.forRoute().preread(c, 1000, resolve));
  assert.equal(result, undefined);
  assert.deepEqual(seen, ['slow', 'next']);
  assert.deepEqual(c.logValues, { checked: true });
});

test('async preread over the deadline: the chain goes on without it and ignores its late answer', async () => {
  const seen: string[] = [];
  const available = new Map<string, StreamPlugin>([
    [
      'hang',
      probe('hang', 10, () => ({
        preread: () => new Promise<PrereadResult>((r) => setTimeout(() => r({ close: true, status: 403 }), 200)),
      })),
    ],
    [
      'next',
      probe('next', 1, () => ({
        preread: () => {
          seen.push('next');
        },
      })),
    ],
  ]);
  const chains = compilePluginChains([entity('hang'), entity('next')], available, silentLogger);
  const t0 = Date.now();
  let calls = 0;
  const result = await new Promise<PrereadResult>((resolve) =>
    chains.forRoute().preread(ctx(), 50, (r) => {
      calls++;
      resolve(r);
    }),
  );
  const took = Date.now() - t0;
  assert.equal(result, undefined);
  assert.deepEqual(seen, ['next']);
  assert.ok(took >= 45 && took < 180, `deadline honoured (${took} ms)`);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(calls, 1, 'done called once, the late answer ignored');
});

test('a preread that throws or rejects closes with 500', async () => {
  const available = new Map<string, StreamPlugin>([
    [
      'boom',
      probe('boom', 2, () => ({
        preread: () => {
          throw new Error('bug');
        },
      })),
    ],
    ['reject', probe('reject', 1, () => ({ preread: () => Promise.reject(new Error('bug')) }))],
  ]);
  const sync = compilePluginChains([entity('boom')], available, silentLogger);
  assert.deepEqual(runSync(sync.forRoute()), { close: true, status: 500, reason: "plugin 'boom' failed" });
  const async = compilePluginChains([entity('reject')], available, silentLogger);
  const r = await new Promise<PrereadResult>((resolve) => async.forRoute().preread(ctx(), 100, resolve));
  assert.equal(r && r.status, 500);
});

test('log never throws: a failing plugin is counted and the others still run', async () => {
  const got: number[] = [];
  const available = new Map<string, StreamPlugin>([
    [
      'bad',
      probe('bad', 5, () => ({
        log: () => {
          throw new Error('bug');
        },
      })),
    ],
    // eslint-disable-next-line @typescript-eslint/no-misused-promises -- a plugin that breaks the void contract on purpose
    ['badAsync', probe('badAsync', 4, () => ({ log: () => Promise.reject(new Error('bug')) }))],
    [
      'good',
      probe('good', 1, () => ({
        log: (r) => {
          got.push(r.session.status);
        },
      })),
    ],
  ]);
  const chains = compilePluginChains([entity('bad'), entity('badAsync'), entity('good')], available, silentLogger);
  const chain = chains.forRoute('r', 's');
  assert.equal(chain.hasPreread, false);
  assert.equal(chain.hasLog, true);
  chain.log(record());
  chain.log(record({}, 502));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(got, [200, 502]);
  const stats = Object.entries(chains.stats());
  assert.equal(stats.find(([k]) => k.startsWith('bad:'))![1].log_errors, 2);
  assert.equal(stats.find(([k]) => k.startsWith('badAsync:'))![1].log_errors, 2);
  assert.equal(stats.find(([k]) => k.startsWith('good:'))![1].log_errors, 0);
});
