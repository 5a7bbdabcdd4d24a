import type { EntityType } from './types.js';
import type { CheckContext } from './check-context.js';
import { checked, entityRef, isObject, type Entities, type RawEntity } from './flatten.js';
import { idKey, isUnnamed, stableId } from './ids.js';
import { checkRoute, checkService, servicePathProblem, sniNameProblem } from './check-route.js';
import { isStreamProtocol } from '../net/protocols.js';
import { checkCaCertificate, checkCertificate } from './check-tls.js';
import { tagProblems } from './kong-ts-tags.js';
import { checkMtlsPlugins } from './check-mtls.js';
import { checkServiceTags } from './check-service-tags.js';
import { checkConsumer, checkPlugin, checkUpstream, deriveTarget } from './check-upstream.js';

/** The field by which an entity may be referenced besides its id. */
const NAME_FIELD: Partial<Record<EntityType, string>> = {
  services: 'name',
  routes: 'name',
  upstreams: 'name',
  consumers: 'username',
};
const STREAM_ONLY = 'kong-ts serves stream traffic only (tcp, tls, tls_passthrough, udp)';
const DEFAULT_PLUGIN_PROTOCOLS = ['grpc', 'grpcs', 'http', 'https'];

/**
 * Everything a schema cannot say: ids and references, uniqueness, Kong's rules across fields, certificates.
 * Entities the schema found wrong are not checked further, but their neighbours are.
 */
export function checkEntities(ents: Entities, ctx: CheckContext): void {
  for (const e of ents.services) {
    if (!e.bad) checkService(e, ctx);
    // Kong reports every error of an entity: a missing host beside the schema's errors
    else {
      const opts = { entity: entityRef(e) };
      if (e.raw.url === undefined && e.raw.host === undefined)
        ctx.problems.error([...e.path, 'host'], 'required field missing', { ...opts, field: 'host' });
      const pathBad = typeof e.raw.path === 'string' ? servicePathProblem(e.raw.path) : undefined;
      if (pathBad) ctx.problems.error([...e.path, 'path'], pathBad, { ...opts, field: 'path' });
    }
  }
  for (const e of ents.targets) deriveTarget(e, ctx);
  assignIdsAndReferences(ents, ctx);
  checkUniqueness(ents, ctx);
  const httpRoutes = new Set<RawEntity>();
  for (const e of ents.routes) if (!e.bad && checkRoute(e, ctx) === 'http') httpRoutes.add(e);
  for (const e of ents.certificates) if (!e.bad) checkCertificate(e, ctx);
  for (const e of ents.ca_certificates) if (!e.bad) checkCaCertificate(e, ctx);
  for (const e of ents.upstreams) if (!e.bad) checkUpstream(e, ctx);
  for (const e of ents.consumers) if (!e.bad) checkConsumer(e, ctx);
  for (const e of ents.plugins) if (!e.bad) checkPlugin(e, ctx);
  checkMtlsPlugins(ents, ctx);
  checkServiceTags(ents, ctx);
  for (const type of ['services', 'routes', 'upstreams'] as const) {
    for (const e of ents[type]) {
      if (e.bad || !Array.isArray(e.raw.tags)) continue;
      for (const p of tagProblems(type, e.raw.tags))
        ctx.problems.error([...e.path, 'tags', p.index], p.message, { entity: entityRef(e), field: 'tags' });
    }
  }
  for (const e of ents.snis) {
    const bad = !e.bad && typeof e.raw.name === 'string' ? sniNameProblem(e.raw.name, true) : undefined;
    if (bad) ctx.problems.error([...e.path, 'name'], bad, { entity: entityRef(e), field: 'name' });
  }
  skipHttpOnly(ents, httpRoutes, ctx);
}

class Index {
  #byId = new Map<string, RawEntity>();
  #byName = new Map<string, RawEntity>();

  add(e: RawEntity): void {
    if (e.id && !this.#byId.has(e.id)) this.#byId.set(e.id, e);
    const field = NAME_FIELD[e.type];
    const name = field ? e.raw[field] : undefined;
    if (typeof name === 'string' && !this.#byName.has(name)) this.#byName.set(name, e);
  }

  find(ref: string, byName: boolean): RawEntity | undefined {
    return this.#byId.get(ref) ?? (byName ? this.#byName.get(ref) : undefined);
  }
}

function assignIdsAndReferences(ents: Entities, ctx: CheckContext): void {
  const index = {} as Record<EntityType, Index>;
  const counters = new Map<string, number>();
  const give = (e: RawEntity): void => {
    if (typeof e.raw.id === 'string') e.id = e.raw.id;
    else {
      let key = idKey(e, e.refs, e.derived.target);
      if (isUnnamed(e)) {
        const n = counters.get(`${e.type}:${key}`) ?? 0;
        counters.set(`${e.type}:${key}`, n + 1);
        key = `${key}:${n}`;
      }
      e.id = stableId(e, key);
    }
    (index[e.type] ??= new Index()).add(e);
  };
  const resolve = (e: RawEntity, field: string, target: EntityType): void => {
    const id = resolveOne(e, field, target, index[target], ctx);
    if (id !== undefined) e.refs[field] = id;
  };
  for (const type of ['services', 'certificates', 'ca_certificates', 'upstreams', 'consumers'] as const)
    ents[type].forEach(give);
  for (const e of ents.routes) {
    resolve(e, 'service', 'services');
    give(e);
  }
  for (const type of ['services', 'routes'] as const) {
    for (const e of ents[type]) {
      if (e.bad || !Array.isArray(e.raw.tags)) continue;
      for (const p of tagProblems(type, e.raw.tags))
        ctx.problems.error([...e.path, 'tags', p.index], p.message, { entity: entityRef(e), field: 'tags' });
    }
  }
  for (const e of ents.snis) {
    resolve(e, 'certificate', 'certificates');
    give(e);
  }
  for (const e of ents.targets) {
    resolve(e, 'upstream', 'upstreams');
    give(e);
  }
  for (const e of ents.plugins) {
    resolve(e, 'route', 'routes');
    resolve(e, 'service', 'services');
    resolve(e, 'consumer', 'consumers');
    give(e);
  }
  for (const e of [...ents.services, ...ents.upstreams]) resolve(e, 'client_certificate', 'certificates');
  for (const e of ents.services) {
    const list = e.raw.ca_certificates;
    if (!Array.isArray(list)) continue;
    const ids: string[] = [];
    list.forEach((ref, i) => {
      if (typeof ref !== 'string') return;
      const found = index.ca_certificates?.find(ref, false);
      if (found?.id) ids.push(found.id);
      else {
        ctx.problems.error(
          [...e.path, 'ca_certificates', i],
          `invalid reference 'ca_certificates: ${ref}' (no such entry in 'ca_certificates')`,
          { entity: entityRef(e), field: `ca_certificates[${i}]` },
        );
      }
    });
    e.derived.ca_certificates = ids;
  }
}

/** The id a reference field points at: the nesting parent, a name or an id, or `{id}` / `{name}`. */
function resolveOne(
  e: RawEntity,
  field: string,
  target: EntityType,
  index: Index | undefined,
  ctx: CheckContext,
): string | null | undefined {
  if (e.parent?.type === target) return e.parent.id ?? null;
  const v = e.raw[field];
  if (v == null) return null;
  const byName = target !== 'certificates' && target !== 'ca_certificates';
  let ref: string | undefined;
  if (typeof v === 'string') ref = v;
  else if (isObject(v)) ref = typeof v.id === 'string' ? v.id : typeof v.name === 'string' ? v.name : undefined;
  if (ref === undefined) return undefined;
  const found = index?.find(ref, byName);
  if (found) return found.id ?? null;
  ctx.problems.error([...e.path, field], `invalid reference '${field}: ${ref}' (no such entry in '${target}')`, {
    entity: entityRef(e),
    field,
  });
  return undefined;
}

function checkUniqueness(ents: Entities, ctx: CheckContext): void {
  const unique = (
    list: RawEntity[],
    field: string,
    keyOf: (e: RawEntity) => unknown,
    message: (e: RawEntity) => string,
  ): void => {
    const seen = new Set<unknown>();
    for (const e of list) {
      const key = keyOf(e);
      if (key === undefined || key === null) continue;
      if (seen.has(key)) ctx.problems.error([...e.path, field], message(e), { entity: entityRef(e), field });
      else seen.add(key);
    }
  };
  const violation = (type: string, field: string, value: unknown, more = ''): string =>
    `uniqueness violation: '${type}' entity with ${field} set to '${String(value)}' already declared${more}`;
  for (const type of Object.keys(ents) as EntityType[]) {
    unique(
      ents[type],
      'id',
      (e) => (typeof e.raw.id === 'string' ? e.raw.id : undefined),
      (e) => violation(type, 'id', e.raw.id),
    );
  }
  for (const [type, field] of [
    ['services', 'name'],
    ['routes', 'name'],
    ['upstreams', 'name'],
    ['snis', 'name'],
    ['consumers', 'username'],
    ['consumers', 'custom_id'],
    ['plugins', 'instance_name'],
  ] as const) {
    unique(
      ents[type],
      field,
      (e) => (typeof e.raw[field] === 'string' ? e.raw[field] : undefined),
      (e) => violation(type, field, e.raw[field]),
    );
  }
  for (const type of ['certificates', 'ca_certificates'] as const) {
    unique(
      ents[type],
      'cert',
      (e) => (typeof e.raw.id === 'string' ? undefined : e.id),
      () => `uniqueness violation: '${type}' entity with the same cert already declared (give each an id)`,
    );
  }
  unique(
    ents.targets,
    'target',
    (e) => (e.derived.target && e.refs.upstream ? `${e.refs.upstream} ${e.derived.target}` : undefined),
    (e) => violation('targets', 'target', e.derived.target, ' for this upstream'),
  );
  unique(
    ents.plugins,
    'name',
    (e) =>
      typeof e.raw.name === 'string'
        ? [e.raw.name, e.refs.route, e.refs.service, e.refs.consumer].join(' ')
        : undefined,
    (e) => violation('plugins', 'name', e.raw.name, ' for the same route, service and consumer'),
  );
}

/** HTTP-only routes, services and plugins are left out with a warning (an error when strict). */
function skipHttpOnly(ents: Entities, httpRoutes: Set<RawEntity>, ctx: CheckContext): void {
  const report = (e: RawEntity, field: string, message: string): void => {
    e.skip = true;
    const opts = { entity: entityRef(e) };
    if (ctx.opts.strict) ctx.problems.error([...e.path, field], message, opts);
    else ctx.problems.warning([...e.path, field], message, opts);
  };
  // only entities the schema passed are labelled: their name, when given, is a string
  const label = (e: RawEntity): string => checked<{ name: string }>(e).name ?? String(e.id);
  for (const e of httpRoutes) report(e, 'protocols', `route '${label(e)}' ignored: ${STREAM_ONLY}`);
  const served = new Set<string>();
  for (const e of ents.routes) if (!e.skip && e.refs.service) served.add(e.refs.service);
  for (const e of ents.services) {
    const protocol = e.derived.protocol; // unset when the service has errors
    if (e.bad || protocol === undefined) continue;
    if (isStreamProtocol(protocol) || served.has(e.id!)) continue;
    report(e, typeof e.raw.url === 'string' ? 'url' : 'protocol', `service '${label(e)}' ignored: ${STREAM_ONLY}`);
  }
  const skipped = new Set<string>();
  for (const e of [...ents.routes, ...ents.services]) if (e.skip) skipped.add(e.id!);
  for (const e of ents.plugins) {
    if ((e.refs.route && skipped.has(e.refs.route)) || (e.refs.service && skipped.has(e.refs.service))) {
      e.skip = true; // its route or service was reported already
      continue;
    }
    const protocols: unknown[] = Array.isArray(e.raw.protocols) ? e.raw.protocols : DEFAULT_PLUGIN_PROTOCOLS;
    if (e.bad || protocols.some(isStreamProtocol)) continue;
    report(
      e,
      'protocols',
      `plugin '${label(e)}' ignored: its protocols (${protocols.join(', ')}) hold no stream protocol; ` +
        "add 'protocols: [tcp, tls]' to run it on stream traffic",
    );
  }
}
