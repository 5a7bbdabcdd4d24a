/**
 * Entities Kong accepts in a declarative file that kong-ts does not use: consumers' credentials (basic-auth,
 * key-auth, ACLs, hmac-auth, JWT, OAuth 2.0), vaults, keys and key sets, Wasm filter chains, and the Kong Enterprise
 * entities decK writes (consumer groups, mTLS credentials). The schema validates their fields as Kong does; here
 * their references are checked with Kong's messages, then each is reported once with a warning (an error when
 * strict) and left out of the normalized config.
 */
import type { Path } from './parse.js';
import type { ProblemList } from './problems.js';
import { isObject } from './flatten.js';

/** Top-level collections, each with what kong-ts says of it. */
const TOP: Record<string, string> = {
  basicauth_credentials: 'consumer credentials are used by HTTP authentication plugins',
  keyauth_credentials: 'consumer credentials are used by HTTP authentication plugins',
  acls: 'ACL groups are used by the HTTP acl plugin',
  hmacauth_credentials: 'consumer credentials are used by HTTP authentication plugins',
  jwt_secrets: 'consumer credentials are used by HTTP authentication plugins',
  oauth2_credentials: 'consumer credentials are used by HTTP authentication plugins',
  mtls_auth_credentials: 'a Kong Enterprise credential',
  consumer_groups: 'a Kong Enterprise entity',
  vaults: 'kong-ts resolves no vault references',
  keys: 'keys are used by HTTP plugins',
  key_sets: 'keys are used by HTTP plugins',
  filter_chains: 'Wasm filters run on HTTP traffic',
};

/** Collections nested in a consumer. */
const IN_CONSUMER = [
  'basicauth_credentials',
  'keyauth_credentials',
  'acls',
  'hmacauth_credentials',
  'jwt_secrets',
  'oauth2_credentials',
  'mtls_auth_credentials',
  'groups',
];

const CREDENTIALS = new Set(IN_CONSUMER.filter((k) => k !== 'groups'));

/** The id or name a reference holds: the string itself, or the `id` of `{id}`. */
function refKey(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isObject(v) && typeof v.id === 'string') return v.id;
  return undefined;
}

/** A reference as Kong's messages show it: the string, or `{"id":...}`. */
function refValue(v: unknown): string | undefined {
  const key = refKey(v);
  return key === undefined || typeof v === 'string' ? key : JSON.stringify({ id: key });
}

/** Checks and reports every unserved entity of the document; `bad` holds the paths the schema found wrong. */
export function checkUnserved(data: Record<string, unknown>, problems: ProblemList, strict: boolean): void {
  const consumers = new Set<string>();
  for (const c of Array.isArray(data.consumers) ? data.consumers : []) {
    if (!isObject(c)) continue;
    for (const k of ['id', 'username', 'custom_id']) if (typeof c[k] === 'string') consumers.add(c[k]);
  }
  const sets = new Set<string>();
  for (const s of Array.isArray(data.key_sets) ? data.key_sets : []) {
    if (!isObject(s)) continue;
    for (const k of ['id', 'name']) if (typeof s[k] === 'string') sets.add(s[k]);
  }
  const report = (path: Path, type: string, why: string): void => {
    const message = `${type} entity ignored: ${why} (kong-ts serves stream traffic only)`;
    if (strict) problems.error(path, message);
    else problems.warning(path, message);
  };
  const visit = (list: unknown, base: Path, type: string, why: string, inConsumer: boolean): void => {
    if (!Array.isArray(list)) return;
    list.forEach((item, i) => {
      if (!isObject(item)) return;
      const path = [...base, i];
      if (CREDENTIALS.has(type) && !inConsumer) {
        const ref = refValue(item.consumer);
        if (item.consumer === undefined) problems.error([...path, 'consumer'], 'required field missing');
        else if (ref !== undefined && !consumers.has(refKey(item.consumer)!)) {
          problems.error([...path, 'consumer'], `invalid reference 'consumer: ${ref}' (no such entry in 'consumers')`);
        }
      }
      if (type === 'keys') {
        if (item.jwk == null && item.pem == null)
          problems.error(path, "at least one of these fields must be non-empty: 'jwk', 'pem'");
        else if (item.jwk != null && item.pem != null)
          problems.error(path, "only one of these fields must be non-empty: 'jwk', 'pem'");
        const set = refValue(item.set);
        if (set !== undefined && !sets.has(refKey(item.set)!)) {
          problems.error([...path, 'set'], `invalid reference 'set: ${set}' (no such entry in 'key_sets')`);
        }
      }
      report(path, type, why);
      if (type === 'key_sets') visit(item.keys, [...path, 'keys'], 'keys', TOP.keys!, false);
    });
  };
  for (const [key, why] of Object.entries(TOP)) visit(data[key], [key], key, why, false);
  const each = (list: unknown, f: (item: Record<string, unknown>, i: number) => void): void => {
    if (Array.isArray(list))
      list.forEach((x, i) => {
        if (isObject(x)) f(x, i);
      });
  };
  each(data.services, (s, i) => {
    visit(s.filter_chains, ['services', i, 'filter_chains'], 'filter_chains', TOP.filter_chains!, true);
    each(s.routes, (r, j) =>
      visit(r.filter_chains, ['services', i, 'routes', j, 'filter_chains'], 'filter_chains', TOP.filter_chains!, true),
    );
  });
  each(data.routes, (r, i) =>
    visit(r.filter_chains, ['routes', i, 'filter_chains'], 'filter_chains', TOP.filter_chains!, true),
  );
  (Array.isArray(data.consumers) ? data.consumers : []).forEach((c: unknown, i: number) => {
    if (!isObject(c)) return;
    for (const key of IN_CONSUMER) {
      const type = key === 'groups' ? 'consumer_groups' : key;
      visit(c[key], ['consumers', i, key], type, TOP[type]!, true);
    }
  });
}
