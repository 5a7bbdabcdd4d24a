/**
 * Where a custom plugin named by npm package name is loaded from: `<dir>/node_modules/<name>` and nowhere else.
 * Node's own resolution would also walk up every parent folder's node_modules (and fall back to kong-ts's own), so a
 * writable folder above the project could plant code that runs inside the proxy; here the package must sit in the
 * project's folder (`plugins_path`, by default the declarative file's folder), and its entry file must resolve inside it.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, isAbsolute, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PluginError } from './errors.js';

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`; undefined for what is not a package name. */
export function packageName(spec: string): string | undefined {
  const parts = spec.split('/');
  const name = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
  const ok = /^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*$/i.test(name) && !parts.includes('..') && !parts.includes('.');
  return ok ? name : undefined;
}

function inside(dir: string, file: string): boolean {
  const rel = relative(dir, file);
  return rel !== '' && !rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel);
}

type Exports = string | null | { [key: string]: Exports } | Exports[];

/** The target of an `exports` entry for an ESM import under Node (conditions import, node, default). */
function exportTarget(e: Exports | undefined): string | undefined {
  if (typeof e === 'string') return e;
  if (Array.isArray(e)) {
    for (const x of e) {
      const t = exportTarget(x);
      if (t) return t;
    }
    return undefined;
  }
  if (!e || typeof e !== 'object') return undefined;
  for (const cond of ['import', 'node', 'default']) {
    if (cond in e) {
      const t = exportTarget(e[cond]);
      if (t) return t;
    }
  }
  return undefined;
}

/** ESM-only packages (no `require` condition): the `exports` entry of the subpath, by hand. */
function esmEntry(pkgDir: string, subpath: string): string | undefined {
  let pkg: { exports?: Exports; main?: string };
  try {
    pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as typeof pkg;
  } catch {
    return undefined;
  }
  const ex = pkg.exports;
  let target: string | undefined;
  if (ex !== undefined && ex !== null) {
    const bySubpath = typeof ex === 'object' && !Array.isArray(ex) && Object.keys(ex).some((k) => k.startsWith('.'));
    if (bySubpath) target = exportTarget((ex as Record<string, Exports>)[subpath]);
    else if (subpath === '.') target = exportTarget(ex);
  } else if (subpath === '.') target = pkg.main ?? 'index.js';
  return target ? join(pkgDir, target) : undefined;
}

/**
 * The file URL of the npm-named plugin `spec` in `<dir>/node_modules`. Throws a PluginError (KONG_PLUGIN_LOAD)
 * that says where it looked when the package is not there or resolves elsewhere.
 */
export function resolvePluginPackage(spec: string, dir: string): string {
  const name = packageName(spec);
  const fail = (why: string): never => {
    throw new PluginError('KONG_PLUGIN_LOAD', `cannot load plugin '${spec}': ${why}`);
  };
  if (!name) return fail('not a package name or a path (paths start with ./, ../ or /)');
  const modules = join(dir, 'node_modules');
  const pkgDir = join(modules, name);
  if (!existsSync(pkgDir)) {
    return fail(
      `no package '${name}' in ${modules} (npm names are resolved from plugins_path only, never from parent folders: ` +
        `install it there, e.g. npm install --prefix ${dir} ${name}, or set plugins_path)`,
    );
  }
  let file: string | undefined;
  try {
    file = createRequire(join(dir, 'noop.js')).resolve(spec);
  } catch {
    file = esmEntry(pkgDir, spec === name ? '.' : '.' + spec.slice(name.length));
  }
  if (!file || !existsSync(file)) return fail(`package '${name}' in ${modules} has no entry file for '${spec}'`);
  // the entry must be the package's own (a broken package must not fall through to a parent folder's copy)
  const real = realpathSync(file);
  if (!inside(realpathSync(pkgDir), real) && !inside(pkgDir, file)) {
    return fail(`'${spec}' resolved to ${real}, outside ${pkgDir}`);
  }
  return pathToFileURL(file).href;
}
