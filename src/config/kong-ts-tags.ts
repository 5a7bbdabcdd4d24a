/**
 * kong-ts's own settings per entity, carried in Kong's `tags` (Kong's file has no field for them, and tags pass
 * through Kong's tools unchanged):
 *   service `kong-ts.proxy_protocol=v1|v2`   send a PROXY protocol header to the upstream (v2 carries the SNI)
 *   route   `kong-ts.max_connections=N`      open connections on the route (more: closed with status 503)
 *   route   `kong-ts.reload=keep|drain|close` what a reload that removes or changes the route does to its sessions
 *   any     `kong-ts.lint.ignore=CODE`        `config lint` stays silent about that finding on the entity (`all`: every one; one tag per code)
 */
export const TAG_PREFIX = 'kong-ts.';

interface TagRule {
  entity: 'services' | 'routes' | 'any';
  pattern: RegExp;
  expect: string;
}

const RULES: Record<string, TagRule> = {
  proxy_protocol: { entity: 'services', pattern: /^v[12]$/, expect: 'v1 or v2' },
  max_connections: { entity: 'routes', pattern: /^\d{1,9}$/, expect: 'a whole number >= 0' },
  reload: { entity: 'routes', pattern: /^(keep|drain|close)$/, expect: 'keep, drain or close' },
  'lint.ignore': { entity: 'any', pattern: /^[a-z0-9-]+$/, expect: 'a lint code, or all' },
};

/** The value of tag `kong-ts.<name>=value`, or undefined. */
export function tagValue(tags: readonly string[] | undefined, name: string): string | undefined {
  const head = `${TAG_PREFIX}${name}=`;
  for (const t of tags ?? []) if (t.startsWith(head)) return t.slice(head.length);
  return undefined;
}

/** Problems with the kong-ts tags of one entity (index of the tag, message). */
export function tagProblems(entity: 'services' | 'routes', tags: readonly unknown[]): { index: number; message: string }[] {
  const out: { index: number; message: string }[] = [];
  const seen = new Set<string>();
  tags.forEach((t, index) => {
    if (typeof t !== 'string' || !t.startsWith(TAG_PREFIX)) return;
    const m = /^kong-ts\.([a-z_.]+)=(.*)$/.exec(t);
    const rule = m ? RULES[m[1]!] : undefined;
    if (!m || !rule) {
      out.push({ index, message: `unknown kong-ts tag '${t}' (known: ${Object.keys(RULES).map((k) => `kong-ts.${k}`).join(', ')})` });
    } else if (rule.entity !== 'any' && rule.entity !== entity) {
      out.push({ index, message: `tag 'kong-ts.${m[1]}' belongs on ${rule.entity}, not on ${entity}` });
    } else if (!rule.pattern.test(m[2]!)) {
      out.push({ index, message: `tag '${t}': expected ${rule.expect}` });
    } else if (seen.has(m[1]!) && m[1] !== 'lint.ignore') {
      out.push({ index, message: `tag 'kong-ts.${m[1]}' is set more than once` });
    }
    if (m) seen.add(m[1]!);
  });
  return out;
}
