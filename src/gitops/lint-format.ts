/** The text, JSON and GitHub-annotation forms of `config lint` findings. */
import type { Finding, Severity } from './lint-types.js';

export interface LintFileResult {
  file: string;
  hash: string;
  findings: Finding[];
}

export function countBySeverity(results: readonly LintFileResult[]): Record<Severity, number> {
  const c: Record<Severity, number> = { error: 0, warning: 0, info: 0 };
  for (const r of results) for (const f of r.findings) c[f.severity]++;
  return c;
}

/** `kong.yml:12:7: warning: route-shadowed: route 'b' can never win: …` */
export function findingText(f: Finding): string {
  return `${f.file}:${f.line}:${f.column}: ${f.severity}: ${f.code}: ${f.message}`;
}

function summary(c: Record<Severity, number>): string {
  const total = c.error + c.warning + c.info;
  if (total === 0) return 'no findings';
  const part = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  return `${part(total, 'finding')} (${part(c.error, 'error')}, ${part(c.warning, 'warning')}, ${c.info} info)`;
}

/** A GitHub workflow annotation (error, warning, or notice for info) on the finding's line. */
export function findingGithub(f: Finding): string {
  const esc = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  const prop = (s: string) => esc(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
  const level = f.severity === 'info' ? 'notice' : f.severity;
  return `::${level} file=${prop(f.file)},line=${f.line},col=${f.column},title=${prop(`kong-ts lint ${f.code}`)}::${esc(f.message)}`;
}

export function lintOutput(results: readonly LintFileResult[], format: 'text' | 'json' | 'github'): string {
  const counts = countBySeverity(results);
  if (format === 'json') return JSON.stringify({ counts, files: results }, null, 2);
  const lines: string[] = [];
  for (const r of results)
    for (const f of r.findings) lines.push(format === 'github' ? findingGithub(f) : findingText(f));
  lines.push(summary(counts));
  return lines.join('\n');
}
