/**
 * Declarative-file parity with Kong: every case of config-cases.ts is loaded by kong-ts's loader (the one code path
 * of `start`, `config parse`, reloads and POST /config) and must give Kong's verdict and Kong's messages.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfigText } from '../../src/config/load.js';
import { bundledPlugins, pluginSchemas } from '../../src/plugins/registry.js';
import { CONFIG_CASES } from './config-cases.js';
import { manyPairs } from '../config/certs.js';

const opts = { pluginSchemas: pluginSchemas(bundledPlugins) };
let pair: { cert: string; key: string } | undefined;

describe("config parity: Kong's verdict and messages", () => {
  for (const c of CONFIG_CASES) {
    test(c.spec, () => {
      let text = JSON.stringify(c.doc);
      if (text.includes('"$CERT"')) pair ??= manyPairs(1)[0]!;
      if (pair) text = text.replace('"$CERT"', JSON.stringify(pair.cert)).replace('"$KEY"', JSON.stringify(pair.key));
      const r = loadConfigText(text, 'kong.json', opts);
      const errors = r.problems.filter((p) => p.severity === 'error').map((p) => `${p.path}: ${p.message}`);
      if (c.want === 'ok') {
        assert.deepEqual(errors, []);
        assert.equal(r.ok, true);
        return;
      }
      assert.equal(r.ok, false);
      for (const [path, message] of c.want)
        assert.ok(errors.includes(`${path}: ${message}`), `missing '${path}: ${message}' in\n${errors.join('\n')}`);
    });
  }
});
