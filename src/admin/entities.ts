/**
 * The read-only entity endpoints of Kong's DB-less admin API: collections with Kong's pagination, entities by id
 * or name, nested collections, tags; writes refused with Kong's "operation unsupported".
 */
import { ENTITY_TYPES, type EntityType } from '../config/types.js';
import { HttpError, sendJson } from './http.js';
import type { EntityIndex, Rendered } from './render.js';
import type { Handler } from './types.js';

export interface EntityRoutesContext {
  route(key: string, handler: Handler): void;
  /** the rendered entities of the live snapshot */
  index(): EntityIndex;
  /** names of the plugins this process can run */
  availablePlugins(): string[];
}

const DEFAULT_SIZE = 100;
const MAX_SIZE = 1000;

export const NOT_FOUND = (): HttpError => new HttpError(404, { message: 'Not found' });

function pageSize(url: URL): number {
  const raw = url.searchParams.get('size');
  if (raw === null) return DEFAULT_SIZE;
  const size = raw.trim() === '' ? NaN : Number(raw);
  if (Number.isNaN(size)) throw new HttpError(400, { code: 9, name: 'invalid size', message: 'size must be a number' });
  if (!Number.isInteger(size) || size < 1 || size > MAX_SIZE) {
    throw new HttpError(400, {
      code: 9,
      name: 'invalid size',
      message: `size must be an integer between 1 and ${MAX_SIZE}`,
    });
  }
  return size;
}

function pageStart(url: URL): number {
  const token = url.searchParams.get('offset');
  if (token === null) return 0;
  let start: unknown;
  try {
    start = (JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown[])[0];
  } catch {
    start = undefined;
  }
  if (typeof start !== 'number' || !Number.isInteger(start) || start < 0) {
    throw new HttpError(400, {
      code: 7,
      name: 'invalid offset',
      message: `'${token}' is not a valid offset: bad base64 encoding`,
    });
  }
  return start;
}

/**
 * One page of a list as Kong answers it: `{ data, offset, next }`, `next` being the path of the next page (keeping
 * the query, `size` and `tags` included) or null on the last one. The offset is an opaque token.
 */
export function paginate<T>(items: readonly T[], url: URL): { data: T[]; offset?: string; next: string | null } {
  const size = pageSize(url);
  const start = pageStart(url);
  const data = items.slice(start, start + size);
  if (start + size >= items.length) return { data, next: null };
  const offset = Buffer.from(JSON.stringify([start + size])).toString('base64url');
  const query = new URLSearchParams(url.searchParams);
  query.set('offset', offset);
  return { data, offset, next: `${url.pathname}?${query.toString()}` };
}

/** Kong's `?tags=` filter: `a,b` every tag, `a/b` any of them. */
function filterTags(items: readonly Rendered[], url: URL): readonly Rendered[] {
  const q = url.searchParams.get('tags');
  if (q === null) return items;
  if (q.includes(',') && q.includes('/')) {
    throw new HttpError(400, {
      code: 11,
      name: 'invalid options',
      message: "invalid option (tags: cannot mix 'and' (,) and 'or' (/))",
    });
  }
  const any = q.includes('/');
  const wanted = q.split(any ? '/' : ',').filter(Boolean);
  return items.filter((e) => {
    const tags = (e.tags as string[] | null) ?? [];
    return any ? wanted.some((t) => tags.includes(t)) : wanted.every((t) => tags.includes(t));
  });
}

const refId = (v: unknown): string | undefined => (v as { id?: string } | null)?.id;

/** The target of an upstream by id or by `host:port` (a bare host means Kong's default port 8000). */
export function findTarget(idx: EntityIndex, upstreamId: string, key: string): Rendered | undefined {
  const mine = idx.lists.targets.filter((t) => refId(t.upstream) === upstreamId);
  return (
    mine.find((t) => t.id === key) ?? mine.find((t) => t.target === key) ?? mine.find((t) => t.target === `${key}:8000`)
  );
}

export function registerEntityRoutes(ctx: EntityRoutesContext): void {
  const find = (type: EntityType, key: string): Rendered => {
    const e = ctx.index().find(type, key);
    if (!e) throw NOT_FOUND();
    return e;
  };
  const list = (items: readonly Rendered[], url: URL) => paginate(filterTags(items, url), url);
  /** The entities of `type` whose foreign key `field` points at the `parent` given in the path. */
  const children =
    (parent: EntityType, type: EntityType, field: string): Handler =>
    (_req, res, url, p) => {
      const id = find(parent, p.id!).id;
      sendJson(
        res,
        200,
        list(
          ctx.index().lists[type].filter((e) => refId(e[field]) === id),
          url,
        ),
      );
    };
  const parentOf =
    (type: EntityType, field: string, parent: EntityType): Handler =>
    (_req, res, _url, p) => {
      const id = refId(find(type, p.id!)[field]);
      sendJson(res, 200, find(parent, id ?? '\0'));
    };

  for (const type of ENTITY_TYPES) {
    ctx.route(`GET /${type}`, (_req, res, url) => sendJson(res, 200, list(ctx.index().lists[type], url)));
    ctx.route(`GET /${type}/:id`, (_req, res, _url, p) => sendJson(res, 200, find(type, p.id!)));
  }
  ctx.route('GET /plugins/enabled', (_req, res) => sendJson(res, 200, { enabled_plugins: ctx.availablePlugins() }));
  ctx.route('GET /services/:id/routes', children('services', 'routes', 'service'));
  ctx.route('GET /services/:id/plugins', children('services', 'plugins', 'service'));
  ctx.route('GET /routes/:id/plugins', children('routes', 'plugins', 'route'));
  ctx.route('GET /consumers/:id/plugins', children('consumers', 'plugins', 'consumer'));
  ctx.route('GET /certificates/:id/snis', children('certificates', 'snis', 'certificate'));
  ctx.route('GET /upstreams/:id/targets', children('upstreams', 'targets', 'upstream'));
  ctx.route('GET /upstreams/:id/targets/all', children('upstreams', 'targets', 'upstream'));
  ctx.route('GET /routes/:id/service', parentOf('routes', 'service', 'services'));
  ctx.route('GET /snis/:id/certificate', parentOf('snis', 'certificate', 'certificates'));
  ctx.route('GET /upstreams/:id/targets/:target', (_req, res, _url, p) => {
    const t = findTarget(ctx.index(), find('upstreams', p.id!).id, p.target!);
    if (!t) throw NOT_FOUND();
    sendJson(res, 200, t);
  });
  ctx.route('GET /tags', (_req, res, url) => sendJson(res, 200, paginate(ctx.index().tags, url)));
  ctx.route('GET /tags/:tag', (_req, res, url, p) =>
    sendJson(
      res,
      200,
      paginate(
        ctx.index().tags.filter((t) => t.tag === p.tag),
        url,
      ),
    ),
  );
}

const VERB: Record<string, string> = { POST: 'create', PUT: 'create or update', PATCH: 'update', DELETE: 'remove' };

/**
 * Kong's answer to a write on an entity path in DB-less mode (405, code 12), with the wording of Kong's `off`
 * strategy; undefined when the path is not an entity path or the method is not a write.
 */
export function writeRefusal(method: string, segments: readonly string[]): HttpError | undefined {
  const verb = VERB[method];
  if (!verb || !(ENTITY_TYPES as readonly string[]).includes(segments[0] ?? '')) return undefined;
  // the entity type is the last collection named in the path: /services/x/routes → routes
  let type = segments[0]!;
  for (let i = 2; i < segments.length; i += 2) {
    if ((ENTITY_TYPES as readonly string[]).includes(segments[i]!)) type = segments[i]!;
  }
  const onCollection = segments.length % 2 === 1;
  if (onCollection !== (method === 'POST')) return new HttpError(405, { message: 'Method not allowed' });
  return new HttpError(405, {
    code: 12,
    name: 'operation unsupported',
    message: `cannot ${verb} '${type}' entities when not using a database`,
  });
}
