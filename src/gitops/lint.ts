/**
 * `config lint`: what a valid file means that a reviewer should know. Each rule group lives in its own file
 * (lint-routes.ts, lint-tls.ts, lint-entities.ts) and returns findings; this file runs the groups over one
 * compiled router, applies `--disable` and the `kong-ts.lint.ignore=CODE` tags, and sorts. The codes and the types
 * the groups share are in lint-types.ts.
 */
import type { DeclarativeConfig, EntityType } from '../config/types.js';
import { compileRouter, compileService } from '../router/compile.js';
import type { CompiledService } from '../router/types.js';
import { lintRoutes } from './lint-routes.js';
import { lintTls } from './lint-tls.js';
import { lintEntities } from './lint-entities.js';
import { LINT_CODES, type Finding, type LintContext, type LintOptions } from './lint-types.js';

function ignoredCodes(tags: readonly string[] | undefined): Set<string> | undefined {
  const out = new Set<string>();
  for (const t of tags ?? []) {
    if (!t.startsWith('kong-ts.lint.ignore=')) continue;
    out.add(t.slice('kong-ts.lint.ignore='.length));
  }
  return out.size ? out : undefined;
}

function entityTags(config: DeclarativeConfig): Map<string, readonly string[]> {
  const m = new Map<string, readonly string[]>();
  for (const list of [
    config.services,
    config.routes,
    config.certificates,
    config.snis,
    config.ca_certificates,
    config.upstreams,
    config.targets,
    config.plugins,
    config.consumers,
  ]) {
    for (const e of list) if (e.tags.length) m.set(e.id, e.tags);
  }
  return m;
}

/** Lints one loaded configuration; findings sorted by file position, then code. */
export function lintConfig(config: DeclarativeConfig, options: LintOptions = {}): Finding[] {
  const services = new Map<string, CompiledService>();
  for (const s of config.services) services.set(s.id, compileService(s));
  const router = compileRouter(config.routes, services);
  const disabled = new Set(options.disable ?? []);
  const tags = entityTags(config);
  const silenced = (id: string, code: string): boolean => {
    const codes = ignoredCodes(tags.get(id));
    return !!codes && (codes.has(code) || codes.has('all'));
  };
  const out: Finding[] = [];
  const ctx: LintContext = {
    config,
    router,
    services,
    opts: {
      expiryDays: options.expiryDays ?? 30,
      now: options.now ?? Date.now(),
      maxWitnesses: options.maxWitnesses ?? 20_000,
    },
    add(code, type, id, message, related) {
      if (disabled.has(code) || silenced(id, code) || related?.some((r) => silenced(r.id, code))) return;
      const o = config.origins[id];
      const name = nameOf(config, type, id);
      const f: Finding = {
        code,
        severity: LINT_CODES[code].severity,
        file: o?.file ?? '',
        line: o?.line ?? 1,
        column: o?.column ?? 1,
        path: o?.path ?? '',
        entity: name === undefined ? { type, id } : { type, id, name },
        message,
      };
      if (related?.length) f.related = related;
      out.push(f);
    },
  };
  lintRoutes(ctx);
  lintTls(ctx);
  lintEntities(ctx);
  return out.sort(
    (a, b) =>
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) ||
      a.line - b.line ||
      a.column - b.column ||
      (a.code < b.code ? -1 : a.code > b.code ? 1 : 0) ||
      (a.message < b.message ? -1 : a.message > b.message ? 1 : 0),
  );
}

function nameOf(config: DeclarativeConfig, type: EntityType, id: string): string | undefined {
  const list = config[type] as readonly { id: string; name?: string | null; username?: string | null }[];
  const e = list.find((x) => x.id === id);
  const n = e?.name ?? e?.username;
  return typeof n === 'string' ? n : undefined;
}
