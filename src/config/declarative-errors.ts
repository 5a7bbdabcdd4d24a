/**
 * The 400 body of an invalid `POST /config`, in Kong's shape: `{ code: 14, name, message, fields,
 * flattened_errors? }`. `fields` nests the messages by their path in the posted document, as Kong's schema errors
 * do; `message` carries our `file:line:column` lines so that a person finds each error in the text they sent.
 */
import { parse } from 'yaml';
import { entityOfPath, NESTED } from './flatten.js';
import { PLAIN_TEXT } from './load.js';
import type { Path } from './parse.js';
import { formatProblem } from './problems.js';
import type { EntityType, Problem } from './types.js';

/** What stands for a private key wherever an entity is shown: this error body and the admin API's entities. */
export const REDACTED = '[redacted]';

type Node = Record<string, unknown> | unknown[];

/** `services[0].routes[1].sources[0].ip` → `['services', 0, 'routes', 1, 'sources', 0, 'ip']` */
function parsePath(path: string): Path {
  const out: (string | number)[] = [];
  for (const m of path.matchAll(/\[(\d+)\]|([^.[\]]+)/g)) out.push(m[1] !== undefined ? Number(m[1]) : m[2]!);
  return out;
}

/** A message at a place that already holds something: messages gather in Kong's `@entity` list. */
function pushEntityMessage(node: Node, message: string): void {
  const n = node as Record<string, unknown>;
  const list = (n['@entity'] as string[] | undefined) ?? [];
  list.push(message);
  n['@entity'] = list;
}

/** Kong's nested `fields`: arrays where the document has arrays (holes, rendered null, where nothing is wrong). */
function nestFields(problems: readonly Problem[]): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const p of problems) {
    const path = parsePath(p.path);
    if (path.length === 0) {
      // the document itself (not YAML, not an object): Kong's parse failure
      root.error ??= `failed parsing declarative configuration: ${p.message === PLAIN_TEXT ? 'expected an object' : p.message}`;
      continue;
    }
    let node: Node = root;
    for (let i = 0; i < path.length - 1; i++) {
      const seg = path[i]!;
      const holder = node as Record<string | number, unknown>;
      let child = holder[seg];
      if (child === undefined || child === null) {
        child = typeof path[i + 1] === 'number' ? [] : {};
      } else if (typeof child !== 'object') {
        // a message was put here first: keep it as an entity-level message of the new node
        const moved: Record<string, unknown> = {};
        for (const m of Array.isArray(child) ? child : [child]) pushEntityMessage(moved, String(m));
        child = moved;
      }
      holder[seg] = child;
      node = child as Node;
    }
    const last = path[path.length - 1]!;
    const holder = node as Record<string | number, unknown>;
    const here = holder[last];
    if (here === undefined || here === null) holder[last] = p.message;
    else if (typeof here === 'string') holder[last] = [here, p.message];
    else if (Array.isArray(here) && here.every((x) => typeof x === 'string')) here.push(p.message);
    else pushEntityMessage(here as Node, p.message);
  }
  return root;
}

/** Kong's message writes `fields` as a Lua table (pl.pretty.write): `{services={{host="required field missing"}}}`. */
function luaTable(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v !== 'object') return 'nil'; // JSON holds nothing else
  if (Array.isArray(v)) return `{${v.map(luaTable).join(',')}}`;
  const keys = Object.keys(v).sort();
  return `{${keys.map((k) => `${/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? k : `[${JSON.stringify(k)}]`}=${luaTable((v as Record<string, unknown>)[k])}`).join(',')}}`;
}

function at(data: unknown, path: Path): unknown {
  let node = data;
  for (const seg of path)
    node = node !== null && typeof node === 'object' ? (node as Record<string | number, unknown>)[seg] : undefined;
  return node;
}

/** The entity as posted, without its nested children (they have their own entry) and without private keys. */
function entityAsPosted(data: unknown, path: Path, type: EntityType): Record<string, unknown> {
  const raw = at(data, path);
  if (typeof raw === 'string') return { name: raw };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return {};
  const out: Record<string, unknown> = { ...raw };
  for (const [key] of NESTED[type] ?? []) delete out[key];
  for (const key of ['key', 'key_alt']) if (out[key] !== undefined && out[key] !== null) out[key] = REDACTED;
  return out;
}

interface Flattened {
  entity_type: string;
  entity_name?: string;
  entity_id?: string;
  entity_tags?: string[];
  entity: Record<string, unknown>;
  errors: ({ type: 'field'; field: string; message: string } | { type: 'entity'; message: string })[];
}

/** Kong's `flattened_errors`: one entry per entity in error, with its field and entity errors. */
function flattenErrors(problems: readonly Problem[], text: string): Flattened[] {
  // only entity problems need the posted document (a syntax or nesting error may come from a text unsafe to parse)
  if (!problems.some((p) => p.entity)) return [];
  let data: unknown;
  try {
    data = parse(text);
  } catch {
    data = undefined;
  }
  const byEntity = new Map<string, Flattened>();
  for (const p of problems) {
    if (!p.entity) continue;
    const path = parsePath(p.path);
    const where = entityOfPath(path);
    const key = where ? JSON.stringify(where.path) : `${p.entity.type}:${p.entity.id ?? p.entity.name ?? p.path}`;
    let entry = byEntity.get(key);
    if (!entry) {
      entry = {
        entity_type: p.entity.type.replace(/s$/, ''),
        entity: where ? entityAsPosted(data, where.path, where.type) : {},
        errors: [],
      };
      if (p.entity.name !== undefined) entry.entity_name = p.entity.name;
      if (p.entity.id !== undefined) entry.entity_id = p.entity.id;
      if (p.entity.tags !== undefined) entry.entity_tags = p.entity.tags;
      byEntity.set(key, entry);
    }
    const field =
      p.field ?? (where && path.length > where.path.length ? fieldOf(path.slice(where.path.length)) : undefined);
    entry.errors.push(
      field !== undefined ? { type: 'field', field, message: p.message } : { type: 'entity', message: p.message },
    );
  }
  return [...byEntity.values()];
}

function fieldOf(rest: Path): string {
  let out = '';
  for (const seg of rest) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${seg}` : seg;
  return out;
}

/** The whole 400 body; `flatten` adds Kong's `flattened_errors` (the `flatten_errors=1` query). */
export function declarativeErrorBody(
  problems: readonly Problem[],
  text: string,
  flatten: boolean,
): Record<string, unknown> {
  const errors = problems.filter((p) => p.severity === 'error');
  const body: Record<string, unknown> = {
    code: 14,
    name: 'invalid declarative configuration',
    fields: nestFields(errors),
  };
  body.message = `declarative config is invalid: ${luaTable(body.fields)}`;
  // where each error is in the text that was sent (kong-ts's addition)
  body.problems = errors.map(formatProblem);
  if (flatten) body.flattened_errors = flattenErrors(errors, text);
  return body;
}
