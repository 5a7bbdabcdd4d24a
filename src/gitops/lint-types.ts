/** The lint codes, findings and the context every rule group gets: shared by lint.ts and its rule groups. */
import type { DeclarativeConfig, EntityType } from '../config/types.js';
import type { CompiledService, Router } from '../router/types.js';

export type Severity = 'error' | 'warning' | 'info';

/** Every lint code with its severity and a one-line description (docs/gitops.md lists the same). */
export const LINT_CODES = {
  'route-shadowed': {
    severity: 'warning',
    what: 'a route that can never win: every connection it matches goes to another route',
  },
  'route-tie': {
    severity: 'warning',
    what: 'two routes match the same connections with the same priority; only their ids pick the winner',
  },
  'route-cidr-overlap': {
    severity: 'warning',
    what: "a CIDR of a route's sources or destinations overlaps another route's, with a different service at equal priority",
  },
  'sni-no-certificate': {
    severity: 'warning',
    what: 'an SNI of a tls route no certificate covers: the default certificate would be served',
  },
  'certificate-sni-unused': { severity: 'info', what: 'a certificate SNI no tls route uses' },
  'certificate-expiring': { severity: 'warning', what: 'a certificate that expires within --expiry-days' },
  'certificate-expired': { severity: 'error', what: 'a certificate that has expired' },
  'service-unreachable': { severity: 'warning', what: 'a service no served route sends connections to' },
  'upstream-no-weight': {
    severity: 'error',
    what: 'an upstream whose targets all have weight 0: its services get no peer',
  },
  'plugin-protocol-mismatch': {
    severity: 'warning',
    what: 'a plugin on a route or service whose protocols it does not run on: it never runs there',
  },
  'route-not-checked': {
    severity: 'info',
    what: 'a route with too many value combinations to check against its rivals',
  },
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

/** True when the code is known (for `--disable` and the ignore tags). */
export function isLintCode(code: string): code is LintCode {
  return Object.prototype.hasOwnProperty.call(LINT_CODES, code);
}
