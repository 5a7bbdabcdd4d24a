import type { LogRecord } from './types.js';

/**
 * The JSON a log plugin sends for a session: Kong's record, with the values plugins set in preread merged at the
 * top (Kong's `kong.log.set_serialize_value`: a dotted key `a.b` lands at `{a: {b}}`, replacing what was there).
 */
export function serializeRecord(record: LogRecord): string {
  const values = record.plugin_values;
  if (values === undefined) return JSON.stringify(record);
  const out: Record<string, unknown> = { ...record };
  delete out.plugin_values;
  for (const key of Object.keys(values)) setPath(out, key, values[key]);
  return JSON.stringify(out);
}

function setPath(target: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let obj = target;
  for (let i = 0; i < parts.length - 1; i++) {
    const cur = obj[parts[i]!];
    // copy on the way down: the record itself is shared with the other log plugins
    const next = cur !== null && typeof cur === 'object' && !Array.isArray(cur) ? { ...cur } : {};
    obj[parts[i]!] = next;
    obj = next;
  }
  obj[parts[parts.length - 1]!] = value;
}
