/**
 * `config lint`: what a valid file means that a reviewer should know. Each rule group lives in its own file
 * (lint-routes.ts, lint-tls.ts, lint-entities.ts) and returns findings; this file holds the codes, runs the
 * groups over one compiled router, applies `--disable` and the `kong-ts.lint.ignore=CODE` tags, and sorts.
 */
import type { DeclarativeConfig, EntityType } from '../config/types.js';
import { tagValue } from '../config/kong-ts-tags.js';
import { compileRouter, compileService } from '../router/compile.js';
import type { CompiledService, Router } from '../router/types.js';
import { lintRoutes } from './lint-routes.js';
import { lintTls } from './lint-tls.js';
import { lintEntities } from './lint-entities.js';

export type Severity = 'error' | 'warning' | 'info';

/** Every lint code with its severity and a one-line description (docs/gitops.md lists the same). */
export const LINT_CODES = {
  'route-shadowed': { severity: 'warning', what: 'a route that can never win: every connection it matches goes to another route' },
  'route-tie': { severity: 'warning', what: 'two routes match the same connections with the same priority; only their ids pick the winner' },
  'route-cidr-overlap': { severity: 'warning', what: "a CIDR of a route's sources or destinations overlaps another route's, with a different service at equal priority" },
  'sni-no-certificate': { severity: 'warning', what: 'an SNI of a tls route no certificate covers: the default certificate would be served' },
  'certificate-sni-unused': { severity: 'info', what: 'a certificate SNI no tls route uses' },
  'certificate-expiring': { severity: 'warning', what: 'a certificate that expires within --expiry-days' },
  'certificate-expired': { severity: 'error', what: 'a certificate that has expired' },
  'service-unreachable': { severity: 'warning', what: 'a service no served route sends connections to' },
  'upstream-no-weight': { severity: 'error', what: 'an upstream whose targets all have weight 0: its services get no peer' },
  'plugin-protocol-mismatch': { severity: 'warning', what: "a plugin on a route or service whose protocols it does not run on: it never runs there" },
  'route-not-checked': { severity: 'info', what: 'a route with too many value combinations to check against its rivals' },
} as const satisfies Record<string, { severity: Severity; what: string }>;

export type LintCode = keyof typeof LINT_CODES;

export interface Finding {
  code: LintCode;
  severity: Severity;
  file: string;
  line: number;
  column: number;
  /** the entity's path in the file, e.g. `services[0].routes[1]` */
  path: string;
  entity: { type: EntityType; id: string; name?: string };
  message: string;
  /** other entities the finding names (the shadowing route, the tie partner); their ignore tags silence it too */
  related?: { type: EntityType; id: string; name?: string }[];
}

export interface LintOptions {
  /** certificates expiring sooner than this many days are reported (default 30) */
  expiryDays?: number;
  /** codes not to report */
  disable?: readonly string[];
  /** epoch ms to compare expiry with (tests) */
  now?: number;
  /** witness connections per route and protocol before a route is left unchecked (default 20000) */
  maxWitnesses?: number;
}

/** What each rule group gets: the config, the router the proxy would build, and a way to place a finding. */
export interface LintContext {
  config: DeclarativeConfig;
  router: Router;
  services: ReadonlyMap<string, CompiledService>;
  opts: Required<Omit<LintOptions, 'disable'>>;
  add(code: LintCode, type: EntityType, id: string, message: string, related?: Finding['related']): void;
}

export const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, error: 2 };

/** `'name'` of an entity, else its id. */
export function labelOf(e: { id: string; name?: string | null }): string {
  return `'${e.name ?? e.id}'`;
}

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
  for (const list of [config.services, config.routes, config.certificates, config.snis, config.ca_certificates,
    config.upstreams, config.targets, config.plugins, config.consumers]) {
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
    config, router, services,
    opts: { expiryDays: options.expiryDays ?? 30, now: options.now ?? Date.now(), maxWitnesses: options.maxWitnesses ?? 20_000 },
    add(code, type, id, message, related) {
      if (disabled.has(code) || silenced(id, code) || related?.some((r) => silenced(r.id, code))) return;
      const o = config.origins[id];
      const name = nameOf(config, type, id);
      const f: Finding = {
        code, severity: LINT_CODES[code].severity,
        file: o?.file ?? '', line: o?.line ?? 1, column: o?.column ?? 1, path: o?.path ?? '',
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
  return out.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) || a.line - b.line || a.column - b.column
    || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0) || (a.message < b.message ? -1 : a.message > b.message ? 1 : 0));
}

function nameOf(config: DeclarativeConfig, type: EntityType, id: string): string | undefined {
  const list = config[type] as readonly { id: string; name?: string | null; username?: string | null }[];
  const e = list.find((x) => x.id === id);
  const n = e?.name ?? e?.username;
  return typeof n === 'string' ? n : undefined;
}

/** True when the code is known (for `--disable` and the ignore tags). */
export function isLintCode(code: string): code is LintCode {
  return Object.prototype.hasOwnProperty.call(LINT_CODES, code);
}
