import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ErrorObject, type SchemaObject, type ValidateFunction } from 'ajv';
import { ROOT } from '../paths.js';
import { pathString, type Path } from './parse.js';
import type { ProblemList, ReportOptions } from './problems.js';
import { entityOfPath, entityRefAt } from './flatten.js';

let mainValidator: ValidateFunction | undefined;
let pluginAjv: Ajv | undefined;
const pluginValidators = new WeakMap<object, ValidateFunction>();

function newAjv(useDefaults: boolean): Ajv {
  const ajv = new Ajv({ allErrors: true, verbose: true, allowUnionTypes: true, useDefaults, strict: false });
  // Our own keyword: the message a user sees when a `pattern` does not match.
  ajv.addKeyword({ keyword: 'x-message', schemaType: 'string' });
  return ajv;
}

/** The declarative schema, compiled once per process on first use. */
function validator(): ValidateFunction {
  if (!mainValidator) {
    const schema = JSON.parse(readFileSync(join(ROOT, 'schemas', 'kong.schema.json'), 'utf8')) as SchemaObject;
    mainValidator = newAjv(false).compile(schema);
  }
  return mainValidator;
}

/** The parts of a JSON Schema that code walks (defaults, field lists); the rest is for ajv alone. */
export interface JsonSchema {
  definitions?: Record<string, JsonSchema>;
  properties?: Record<string, JsonSchema>;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  /** our own keyword: the message for a value that does not match `pattern` */
  'x-message'?: string;
  [keyword: string]: unknown;
}

/** The JSON Schema of the declarative file, as loaded (for defaults and tools). */
export function declarativeSchema(): JsonSchema {
  return validator().schema as JsonSchema;
}

/**
 * Validates the whole document against schemas/kong.schema.json, reporting every error. Returns the paths
 * (as strings) of the entities that hold an error, so that later checks skip them but not their neighbours.
 */
export function validateDocument(data: unknown, problems: ProblemList): Set<string> {
  const validate = validator();
  const bad = new Set<string>();
  if (validate(data)) return bad;
  report(validate.errors ?? [], data, [], problems, bad);
  return bad;
}

/**
 * Validates a plugin's `config` against the plugin's schema (compiled once per schema object), filling in its
 * defaults. `base` is the path of the config value in the file.
 */
export function validatePluginConfig(
  schema: object,
  config: unknown,
  base: Path,
  problems: ProblemList,
  opts: ReportOptions,
): boolean {
  let validate = pluginValidators.get(schema);
  if (!validate) {
    pluginAjv ??= newAjv(true);
    try {
      validate = pluginAjv.compile(schema);
    } catch (err) {
      problems.error(base, `invalid schema for this plugin: ${(err as Error).message}`, opts);
      return false;
    }
    pluginValidators.set(schema, validate);
  }
  if (validate(config)) return true;
  report(validate.errors ?? [], config, base, problems, undefined, opts);
  return false;
}

function report(
  errors: ErrorObject[],
  data: unknown,
  base: Path,
  problems: ProblemList,
  bad?: Set<string>,
  opts: ReportOptions = {},
): void {
  const seen = new Set<string>();
  for (const err of errors) {
    const at = [...base, ...instancePath(err.instancePath, data)];
    const mapped = mapError(err, at);
    if (!mapped) continue;
    const key = mapped.path.join('\u0000');
    if (seen.has(key)) continue; // one message per value: a wrong type also fails its enum, its range...
    seen.add(key);
    const ent = bad ? entityOfPath(mapped.path) : undefined;
    if (ent && bad) bad.add(ent.path.join('\u0000'));
    const ref = ent ? entityRefAt(data, ent.path, ent.type) : opts.entity;
    const field = ent
      ? fieldOf(mapped.path.slice(ent.path.length))
      : opts.field !== undefined
        ? pathString([opts.field, ...mapped.path.slice(base.length)])
        : undefined;
    problems.error(mapped.path, mapped.message, { anchor: mapped.anchor, entity: ref, field });
  }
}

/** Kong-style messages for ajv's keywords. */
function mapError(err: ErrorObject, at: Path): { path: Path; message: string; anchor: 'value' | 'key' } | undefined {
  const p = err.params;
  const parent = (err.parentSchema ?? {}) as JsonSchema;
  switch (err.keyword) {
    case 'required':
      return { path: [...at, p.missingProperty], message: 'required field missing', anchor: 'value' };
    case 'additionalProperties':
      return { path: [...at, p.additionalProperty], message: 'unknown field', anchor: 'key' };
    case 'type':
      return { path: at, message: typeMessage(err.schema), anchor: 'value' };
    case 'enum':
      return {
        path: at,
        // enums in these schemas hold names, numbers and flags
        message: `expected one of: ${(p.allowedValues as Array<string | number | boolean | null>).filter((v) => v !== null).join(', ')}`,
        anchor: 'value',
      };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum': {
      const min = parent.minimum ?? parent.exclusiveMinimum;
      const max = parent.maximum ?? parent.exclusiveMaximum;
      const message =
        min !== undefined && max !== undefined
          ? `value should be between ${min} and ${max}`
          : min !== undefined
            ? `value must be at least ${min}`
            : `value must be at most ${String(max)}`;
      return { path: at, message, anchor: 'value' };
    }
    case 'pattern':
      return {
        path: at,
        message: parent['x-message']
          ? String(parent['x-message']).replace('%s', String(err.data))
          : `invalid value: '${String(err.data)}'`,
        anchor: 'value',
      };
    case 'minLength':
    case 'minItems':
      return { path: at, message: `length must be at least ${p.limit}`, anchor: 'value' };
    case 'maxLength':
    case 'maxItems':
      return { path: at, message: `length must be at most ${p.limit}`, anchor: 'value' };
    case 'uniqueItems':
      return { path: at, message: 'duplicate values in a set', anchor: 'value' };
    case 'if':
    case 'anyOf':
    case 'oneOf':
      return undefined; // their branches report the detail
    default:
      return { path: at, message: err.message ?? 'invalid value', anchor: 'value' };
  }
}

const ARTICLE: Record<string, string> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'a boolean',
  array: 'an array',
  object: 'an object',
  null: 'null',
};

function typeMessage(type: unknown): string {
  const list: unknown[] = Array.isArray(type) ? type : [type];
  const types = list.filter((t) => t !== 'null').map((t) => ARTICLE[String(t)] ?? String(t));
  return `expected ${types.join(' or ')}`;
}

/** `/services/0/routes/1` → `['services', 0, 'routes', 1]`, numbers only where the data holds an array. */
function instancePath(ptr: string, data: unknown): Path {
  if (!ptr) return [];
  const out: Array<string | number> = [];
  let node: unknown = data;
  for (const raw of ptr.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      out.push(Number(seg));
      node = node[Number(seg)];
    } else {
      out.push(seg);
      node = node != null && typeof node === 'object' ? (node as Record<string, unknown>)[seg] : undefined;
    }
  }
  return out;
}

function fieldOf(rest: Path): string | undefined {
  return rest.length === 0 ? undefined : pathString(rest);
}
