/**
 * The plugins a process can run: the bundled ones, and custom ones named in the `plugins` setting
 * (`bundled,my-npm-plugin,./plugins/mine.js`), imported once at start.
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { StreamPlugin } from './types.js';
import { PluginError } from './errors.js';
import { resolvePluginPackage } from './resolve.js';
import { ipRestriction } from './bundled/ip-restriction.js';
import { fileLog } from './bundled/file-log.js';
import { tcpLog } from './bundled/tcp-log.js';
import { udpLog } from './bundled/udp-log.js';
import { syslog } from './bundled/syslog.js';
import { prometheus } from './bundled/prometheus.js';
import { mtlsAuth } from './bundled/mtls-auth.js';

/** The bundled stream plugins by name. */
export const bundledPlugins: ReadonlyMap<string, StreamPlugin> = new Map<string, StreamPlugin>(
  [ipRestriction, fileLog, tcpLog, udpLog, syslog, prometheus, mtlsAuth].map((p) => [p.name, p]),
);

const NAME = /^[a-z0-9][a-z0-9_.-]*$/i;

/** Checks that a module's export is a StreamPlugin; throws a PluginError that says what is missing. */
export function checkPluginShape(value: unknown, source: string): StreamPlugin {
  const p = value as Partial<StreamPlugin> | null;
  const problems: string[] = [];
  if (p === null || typeof p !== 'object') {
    problems.push('it exports no plugin object');
  } else {
    if (typeof p.name !== 'string' || !NAME.test(p.name))
      problems.push("'name' must be a string of letters, digits, '-', '_' or '.'");
    if (typeof p.priority !== 'number' || !Number.isFinite(p.priority)) problems.push("'priority' must be a number");
    if (p.configSchema === null || typeof p.configSchema !== 'object')
      problems.push("'configSchema' must be a JSON Schema object");
    if (typeof p.create !== 'function') problems.push("'create(config, ctx)' must be a function");
  }
  if (problems.length > 0) {
    throw new PluginError(
      'KONG_PLUGIN_SHAPE',
      `plugin '${source}' is not a stream plugin: ${problems.join('; ')}` +
        ' (export default {name, priority, configSchema, create})',
    );
  }
  return p as StreamPlugin;
}

async function importPlugin(spec: string, baseDir: string, packagesDir: string): Promise<StreamPlugin> {
  const isPath = spec.startsWith('.') || isAbsolute(spec);
  const url = isPath ? pathToFileURL(resolve(baseDir, spec)).href : resolvePluginPackage(spec, packagesDir);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (err) {
    throw new PluginError(
      'KONG_PLUGIN_LOAD',
      `cannot load plugin '${spec}': ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  return checkPluginShape(mod.default !== undefined ? mod.default : mod, spec);
}

/**
 * Loads the plugins named by the `plugins` setting: `bundled` (all bundled plugins), `off` (none), the name of
 * a bundled plugin, a path (relative to `baseDir`) or an npm package name, taken from `<packagesDir>/node_modules`
 * only (`plugins_path`; never from a parent folder, see resolve.ts). Throws a PluginError when a module cannot be
 * found or imported, is not a plugin, or reuses a name.
 */
export async function loadPlugins(
  setting: string | readonly string[],
  baseDir: string,
  packagesDir = baseDir,
): Promise<Map<string, StreamPlugin>> {
  const items = (typeof setting === 'string' ? setting.split(',') : setting).map((s) => s.trim()).filter(Boolean);
  const out = new Map<string, StreamPlugin>();
  const from = new Map<string, string>();
  const add = (p: StreamPlugin, source: string): void => {
    const prev = from.get(p.name);
    if (prev !== undefined && out.get(p.name) !== p) {
      throw new PluginError(
        'KONG_PLUGIN_DUPLICATE',
        `plugin '${p.name}' from '${source}' is already loaded from '${prev}'`,
      );
    }
    out.set(p.name, p);
    from.set(p.name, source);
  };
  for (const item of items) {
    if (item === 'off') continue;
    if (item === 'bundled') {
      for (const p of bundledPlugins.values()) add(p, 'bundled');
    } else if (bundledPlugins.has(item)) {
      add(bundledPlugins.get(item)!, 'bundled');
    } else {
      add(await importPlugin(item, baseDir, packagesDir), item);
    }
  }
  return out;
}

/** Each plugin's config JSON Schema by name, for the declarative config loader. */
export function pluginSchemas(plugins: ReadonlyMap<string, StreamPlugin>): Record<string, object> {
  const out: Record<string, object> = {};
  for (const [name, p] of plugins) out[name] = p.configSchema;
  return out;
}
