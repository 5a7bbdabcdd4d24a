import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadPlugins } from '../../src/plugins/registry.js';
import { compilePluginChains } from '../../src/plugins/chain.js';
import { SessionContext } from '../../src/plugins/context.js';
import type { PrereadResult } from '../../src/plugins/types.js';
import { ROOT } from '../../src/paths.js';
import { silentLogger } from '../../src/log.js';
import { entity } from './helpers.js';

test('the example deny-sni plugin loads by path and closes sessions whose SNI is listed', async () => {
  const plugins = await loadPlugins('bundled,./examples/custom-plugin/index.js', ROOT);
  assert.ok(plugins.has('deny-sni') && plugins.has('ip-restriction'));
  const chains = compilePluginChains(
    [entity('deny-sni', { protocols: ['tls'], config: { snis: ['Blocked.example.com', '*.internal.example.com'] } })],
    plugins,
    silentLogger,
  );
  const chain = chains.forRoute();
  const verdict = (sni?: string) => {
    const ctx = new SessionContext('10.0.0.1', 5000, 443, sni);
    let out: PrereadResult | 'pending' = 'pending';
    chain.preread(ctx, 1000, (r) => {
      out = r;
    });
    return { out, values: ctx.logValues };
  };
  assert.deepEqual(verdict('blocked.example.com'), {
    out: { close: true, status: 403, reason: 'SNI not allowed: blocked.example.com' },
    values: { deny_sni: 'blocked.example.com' },
  });
  assert.equal((verdict('a.b.internal.example.com').out as unknown as { status: number }).status, 403);
  assert.deepEqual(verdict('www.example.com'), { out: undefined, values: undefined });
  assert.deepEqual(verdict(undefined), { out: undefined, values: undefined });
  await chains.close();
});
