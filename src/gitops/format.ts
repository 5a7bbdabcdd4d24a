/**
 * The text form of a ConfigDiff, deterministic (sorted by entity type, then name, then id) so CI logs and tests
 * can compare it line for line.
 */
import type { ConfigDiff, FieldChange } from './diff.js';
import { SINGULAR } from './view.js';

/** `'x'` for strings, `[a, b]` for lists, JSON for the rest, `(unset)` for a missing value. */
export function valueText(v: unknown): string {
  if (v === undefined) return '(unset)';
  if (typeof v === 'string') return `'${v}'`;
  if (Array.isArray(v)) return `[${v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(', ')}]`;
  return JSON.stringify(v);
}

export function fieldText(f: FieldChange): string {
  if (f.secret) return `${f.field} changed`;
  return `${f.field}: ${valueText(f.old)} → ${valueText(f.new)}`;
}

/** The whole diff as lines of text (no trailing newline). `names` labels the two sides in the header. */
export function diffText(d: ConfigDiff, names: { old: string; new: string }): string {
  const out: string[] = [`--- ${names.old}`, `+++ ${names.new}`];
  if (d.identical) {
    out.push('no differences');
    return out.join('\n');
  }
  if (d.format_version) out.push(`~ _format_version: '${d.format_version.old}' → '${d.format_version.new}'`);
  for (const c of d.entities) {
    const what = `${SINGULAR[c.type]} '${c.label}'${c.label === c.id ? '' : ` (${c.id})`}`;
    if (c.kind === 'added') out.push(`+ ${what}`);
    else if (c.kind === 'removed') out.push(`- ${what}`);
    else {
      out.push(`~ ${what}`);
      for (const f of c.fields ?? []) out.push(`    ${fieldText(f)}`);
    }
  }
  if (d.routing.length) {
    out.push('', 'routing:');
    for (const r of d.routing) out.push(`  ${r.message}`);
  }
  out.push('', `${d.counts.added} added, ${d.counts.removed} removed, ${d.counts.changed} changed`);
  return out.join('\n');
}
