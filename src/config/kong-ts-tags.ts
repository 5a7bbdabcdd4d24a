import { decodeEscapes } from './escapes.js';

/**
 * kong-ts's own settings per entity, carried in Kong's `tags` (Kong's file has no field for them, and tags pass
 * through Kong's tools unchanged):
 *   service `kong-ts.proxy_protocol=v1|v2`   send a PROXY protocol header to the upstream (v2 carries the SNI)
 *   route   `kong-ts.max_connections=N`      open connections on the route (more: closed with status 503)
 *   route   `kong-ts.reload=keep|drain|close` what a reload that removes or changes the route does to its sessions
 *   any     `kong-ts.lint.ignore=CODE`        `config lint` stays silent about that finding on the entity (`all`: every one; one tag per code)
 *   upstream `kong-ts.healthcheck.send=BYTES`  what an active tcp check writes after connecting (escapes.ts)
 *   upstream `kong-ts.healthcheck.expect=BYTES` what the answer must contain for the check to succeed
 *   upstream `kong-ts.slow_start=DURATION`   a target that turns healthy or is added ramps its weight up over it
 */
export const TAG_PREFIX = 'kong-ts.';

export type TaggedEntity = 'services' | 'routes' | 'upstreams';

interface TagRule {
  entity: TaggedEntity | 'any';
  pattern: RegExp;
  expect: string;
  /** a further check of the value: a message when it is wrong */
  check?: (value: string) => string | undefined;
}

const bytesCheck = (v: string): string | undefined => {
  const r = decodeEscapes(v);
  return typeof r === 'string' ? r : undefined;
};

const RULES: Record<string, TagRule> = {
  proxy_protocol: { entity: 'services', pattern: /^v[12]$/, expect: 'v1 or v2' },
  max_connections: { entity: 'routes', pattern: /^\d{1,9}$/, expect: 'a whole number >= 0' },
  reload: { entity: 'routes', pattern: /^(keep|drain|close)$/, expect: 'keep, drain or close' },
  'lint.ignore': { entity: 'any', pattern: /^[a-z0-9-]+$/, expect: 'a lint code, or all' },
  'healthcheck.send': { entity: 'upstreams', pattern: /^.+$/, expect: 'bytes with escapes', check: bytesCheck },
  'healthcheck.expect': { entity: 'upstreams', pattern: /^.+$/, expect: 'bytes with escapes', check: bytesCheck },
  slow_start: {
    entity: 'upstreams',
    pattern: /^\d{1,6}(\.\d{1,3})?(ms|s|m)?$/,
    expect: 'a duration such as 30s, 500ms or 2m',
  },
};

/** Seconds of a duration tag value (`30s`, `500ms`, `2m`, `45` = seconds). */
export function durationSeconds(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value);
  if (!m) return 0;
  const n = Number(m[1]);
  return m[2] === 'ms' ? n / 1000 : m[2] === 'm' ? n * 60 : n;
}

/** The value of tag `kong-ts.<name>=value`, or undefined. */
export function tagValue(tags: readonly string[] | undefined, name: string): string | undefined {
  const head = `${TAG_PREFIX}${name}=`;
  for (const t of tags ?? []) if (t.startsWith(head)) return t.slice(head.length);
  return undefined;
}

/** Problems with the kong-ts tags of one entity (index of the tag, message). */
export function tagProblems(entity: TaggedEntity, tags: readonly unknown[]): { index: number; message: string }[] {
  const out: { index: number; message: string }[] = [];
  const seen = new Set<string>();
  tags.forEach((t, index) => {
    if (typeof t !== 'string' || !t.startsWith(TAG_PREFIX)) return;
    const m = /^kong-ts\.([a-z_.]+)=(.*)$/.exec(t);
    const rule = m ? RULES[m[1]!] : undefined;
    if (!m || !rule) {
      out.push({
        index,
        message: `unknown kong-ts tag '${t}' (known: ${Object.keys(RULES)
          .map((k) => `kong-ts.${k}`)
          .join(', ')})`,
      });
    } else if (rule.entity !== 'any' && rule.entity !== entity) {
      out.push({ index, message: `tag 'kong-ts.${m[1]}' belongs on ${rule.entity}, not on ${entity}` });
    } else if (!rule.pattern.test(m[2]!)) {
      out.push({ index, message: `tag '${t}': expected ${rule.expect}` });
    } else if (rule.check?.(m[2]!) !== undefined) {
      out.push({ index, message: `tag '${t}': ${rule.check(m[2]!)}` });
    } else if (seen.has(m[1]!) && m[1] !== 'lint.ignore') {
      out.push({ index, message: `tag 'kong-ts.${m[1]}' is set more than once` });
    }
    if (m) seen.add(m[1]!);
  });
  return out;
}
