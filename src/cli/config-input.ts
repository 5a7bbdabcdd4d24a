/** What the `config` subcommands share: reading a file (or standard input) as start would, checking --format. */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadConfigFile, loadConfigText } from '../config/load.js';
import type { LoadOptions, LoadResult } from '../config/types.js';
import { loadPlugins, pluginSchemas } from '../plugins/registry.js';
import { resolveSettings } from '../settings/settings.js';

export function badFormat(format: string, allowed: string[]): boolean {
  if (allowed.includes(format)) return false;
  console.error(`Error: --format must be ${allowed.slice(0, -1).join(', ')} or ${allowed.at(-1)}, got '${format}'`);
  process.exitCode = 2;
  return true;
}

/**
 * The load options `start` uses: the plugins of the `plugins` setting (kong.conf given with --conf, KONG_PLUGINS,
 * else the bundled ones) with their config schemas, so a file is checked by one code path everywhere.
 */
export async function startOptions(strict: boolean | undefined, conf?: string, file?: string): Promise<LoadOptions> {
  const settings = resolveSettings(conf ? { conf } : {});
  // npm-named plugins resolve as start resolves them: plugins_path, else the declarative file's folder
  const packages = settings.pluginsPath ?? (file && file !== '-' ? dirname(file) : process.cwd());
  return { strict, pluginSchemas: pluginSchemas(await loadPlugins(settings.plugins, process.cwd(), packages)) };
}

/** Loads a file, or standard input for `-`. */
export async function load(file: string, opts: LoadOptions): Promise<LoadResult> {
  if (file !== '-') return loadConfigFile(file, opts);
  return loadConfigText(readFileSync(0, 'utf8'), '<stdin>', opts);
}
