/**
 * `GET /config` and `POST /config`: the live declarative file as YAML (private keys redacted), and a new one loaded
 * through the same pipeline and swap as a file change.
 */
import { parse, stringify } from 'yaml';
import { declarativeErrorBody, REDACTED } from '../config/declarative-errors.js';
import type { ConfigManager } from '../config/manager.js';
import type { Snapshot } from '../runtime/snapshot.js';
import { HttpError, readBody, redactPem, sendEmpty, sendJson } from './http.js';
import { ENTITY_TYPES } from '../config/types.js';
import type { EntityIndex } from './render.js';
import type { Handler } from './types.js';

/** The file name posted configs are reported under (in problems and logs). */
export const POSTED_FILE = '<admin POST /config>';

export interface ConfigRoutesContext {
  route(key: string, handler: Handler): void;
  manager: ConfigManager<Snapshot>;
  index(snapshot: Snapshot): EntityIndex;
}

/** Structural fallback when a key is written in a form the PEM pattern cannot see (split markers, odd quoting). */
function redactTree(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactTree);
  if (value === null || typeof value !== 'object')
    return typeof value === 'string' && value.includes('PRIVATE KEY') ? REDACTED : value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value))
    out[k] = (k === 'key' || k === 'key_alt') && typeof v === 'string' ? REDACTED : redactTree(v);
  return out;
}

/** True when a parsed document still shows a key: a certificate key not redacted, or a PEM key anywhere. */
function leaks(doc: unknown): boolean {
  const certs = (doc as { certificates?: unknown } | null)?.certificates;
  for (const c of Array.isArray(certs) ? certs : []) {
    for (const k of ['key', 'key_alt']) {
      const v = (c as Record<string, unknown> | null)?.[k];
      if (v !== undefined && v !== null && !(typeof v === 'string' && /^\[redacted\]\n?$/.test(v))) return true;
    }
  }
  return JSON.stringify(doc ?? null).includes('PRIVATE KEY');
}

/**
 * The live file as YAML without private keys; JSON files are converted, YAML ones keep their comments. The text
 * pass keeps the file as written; the parsed result is then checked, and anything it missed (a key split across
 * lines in a quoted scalar, a key that is not PEM) makes the whole file go through the structural pass.
 */
export function exportConfig(text: string): string {
  let yaml = text;
  if (/^\s*\{/.test(text)) yaml = stringify(parse(text));
  yaml = redactPem(yaml);
  let doc: unknown;
  try {
    doc = parse(yaml);
  } catch {
    return '[redacted: the live file cannot be shown]';
  }
  return leaks(doc) ? stringify(redactTree(doc)) : yaml;
}

/**
 * The live configuration as Kong's `GET /config` exports it (kong/db/declarative/export.lua): `_format_version`
 * "3.0", `_transform: false`, one flat list per entity type with every field, foreign keys as ids, certificates'
 * SNIs as `snis` entities. Private keys stay redacted (kong-ts never hands them out).
 */
export function exportKong(index: EntityIndex): string {
  const doc: Record<string, unknown> = { _format_version: '3.0', _transform: false };
  for (const type of ENTITY_TYPES) {
    const list = index.lists[type];
    if (!list.length) continue;
    doc[type] = list.map((e) => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(e)) {
        if (type === 'certificates' && k === 'snis') continue;
        out[k] =
          v !== null &&
          typeof v === 'object' &&
          !Array.isArray(v) &&
          Object.keys(v).length === 1 &&
          typeof (v as { id?: unknown }).id === 'string' &&
          k !== 'config' &&
          k !== 'healthchecks'
            ? (v as { id: string }).id
            : v;
      }
      return out;
    });
  }
  return stringify(doc);
}

const busy = (): HttpError =>
  new HttpError(429, { message: 'Currently loading previous configuration' }, { 'retry-after': '1' });

export function registerConfigRoutes(ctx: ConfigRoutesContext): void {
  const exported = new WeakMap<Snapshot, string>();

  ctx.route('GET /config', (_req, res) => {
    const snap = ctx.manager.current;
    if (!snap) return sendJson(res, 200, { config: '' });
    let yaml = exported.get(snap);
    if (yaml === undefined) exported.set(snap, (yaml = exportKong(ctx.index(snap))));
    sendJson(res, 200, { config: yaml });
  });

  ctx.route('POST /config', async (req, res, url) => {
    if (ctx.manager.busy) throw busy();
    // bounded like a file: over declarative_config_max_size is a 413 before the body is buffered; everything else
    // (unwrapping, decoding, parsing, checking) runs in the load thread and is always answered
    const body = await readBody(req, ctx.manager.maxBytes);
    const checkHash = url.searchParams.get('check_hash') === '1';
    const flatten = url.searchParams.get('flatten_errors') === '1';
    const outcome = await ctx.manager.reloadPosted(body, req.headers['content-type'] ?? '', POSTED_FILE, {
      checkHash,
      flatten,
    });
    switch (outcome.status) {
      case 'busy':
        throw busy();
      case 'invalid':
        return sendJson(res, 400, outcome.errorBody ?? declarativeErrorBody(outcome.problems, '', flatten));
      case 'unreadable':
        if (outcome.tooLarge) throw new HttpError(413, { message: outcome.message }, { connection: 'close' });
        throw new HttpError(400, { message: outcome.message });
      case 'unchanged':
      case 'loaded': {
        if (outcome.status === 'unchanged' && checkHash) return sendEmpty(res, 304);
        // Kong answers with the loaded entities, by type then by id
        const idx = ctx.index(outcome.snapshot);
        const body: Record<string, unknown> = {};
        for (const type of ENTITY_TYPES) {
          if (idx.lists[type].length) body[type] = Object.fromEntries(idx.lists[type].map((e) => [e.id, e]));
        }
        body.configuration_hash = outcome.snapshot.hash;
        body.configuration_generation = outcome.snapshot.generation;
        return sendJson(res, 201, body);
      }
    }
  });
}
