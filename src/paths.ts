import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's root folder (where package.json and schemas/ live), whatever folder the build went to. */
function findRoot(from: string): string {
  let dir = dirname(fileURLToPath(from));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'kong-ts') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('kong-ts: cannot find the package root from ' + from);
    dir = up;
  }
}

export const ROOT = findRoot(import.meta.url);
export const VERSION: string = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string })
  .version;

/** The Kong version whose declarative format, routing and admin answers kong-ts follows (GET / `version`). */
export const KONG_VERSION = '3.10.0';
