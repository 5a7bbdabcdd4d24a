/**
 * Validation of a plugin entity's config against its plugin's JSON Schema, with defaults filled in.
 * The config loader validates first (with file:line:column errors); this second pass guarantees that `create`
 * always receives a complete config even when a snapshot is built some other way (tests, POST /config).
 */
import { Ajv, type ValidateFunction } from 'ajv';
import type { StreamPlugin } from './types.js';
import { PluginError } from './errors.js';

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
const compiled = new WeakMap<StreamPlugin, ValidateFunction>();

/** Compiles (once per plugin) and applies the plugin's schema to a copy of `config`; throws a PluginError. */
export function validatePluginConfig(plugin: StreamPlugin, config: Record<string, unknown>): Record<string, unknown> {
  let validate = compiled.get(plugin);
  if (!validate) {
    try {
      validate = ajv.compile(plugin.configSchema);
    } catch (err) {
      throw new PluginError(
        'KONG_PLUGIN_SHAPE',
        `plugin '${plugin.name}': its configSchema is not a valid JSON Schema: ${(err as Error).message}`,
        { cause: err },
      );
    }
    compiled.set(plugin, validate);
  }
  const copy = structuredClone(config);
  if (!validate(copy)) {
    const details = (validate.errors ?? [])
      .map((e) => `config${e.instancePath.replace(/\//g, '.')} ${e.message ?? 'is invalid'}`)
      .join('; ');
    throw new PluginError('KONG_PLUGIN_CONFIG', `plugin '${plugin.name}': ${details}`);
  }
  return copy;
}
