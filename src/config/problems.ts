import type { EntityType, Problem } from './types.js';
import type { Path, SourceMap } from './parse.js';
import { pathString } from './parse.js';

/** `kong.yml:12:7: error: services[0].routes[1].sources[0].ip: invalid ip or cidr range: '10.0.0.300'` */
export function formatProblem(p: Problem): string {
  const where = p.path ? `${p.path}: ` : '';
  return `${p.file}:${p.line}:${p.column}: ${p.severity}: ${where}${p.message}`;
}

/** One problem a line, in the order given (load results are already sorted by position). */
export function formatProblems(problems: readonly Problem[]): string {
  return problems.map(formatProblem).join('\n');
}

/** Orders problems by position, then path, so output is stable whatever order the checks ran in. */
export function sortProblems(problems: Problem[]): Problem[] {
  return problems.sort(
    (a, b) => a.line - b.line || a.column - b.column || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0),
  );
}

export interface EntityRef {
  type: EntityType;
  name?: string;
  id?: string;
  tags?: string[];
}

/** Where a problem points: at the value (default), at its key, or at the entity holding the missing field. */
export type Anchor = 'value' | 'key' | 'parent';

export interface ReportOptions {
  anchor?: Anchor;
  entity?: EntityRef;
  field?: string;
}

/** Collects the problems of one load, each placed at its `line:column` through the source map. */
export class ProblemList {
  readonly items: Problem[] = [];
  #file: string;
  #map: SourceMap | undefined;

  constructor(file: string, map?: SourceMap) {
    this.#file = file;
    this.#map = map;
  }

  error(path: Path, message: string, opts: ReportOptions = {}): void {
    this.#add('error', path, message, opts);
  }

  warning(path: Path, message: string, opts: ReportOptions = {}): void {
    this.#add('warning', path, message, opts);
  }

  /** A problem with a position already known (syntax errors). */
  raw(severity: Problem['severity'], line: number, column: number, path: string, message: string): void {
    this.items.push({ severity, file: this.#file, line, column, path, message });
  }

  get hasErrors(): boolean {
    return this.items.some((p) => p.severity === 'error');
  }

  #add(severity: Problem['severity'], path: Path, message: string, opts: ReportOptions): void {
    const pos = this.#map?.position(path, opts.anchor ?? 'value') ?? { line: 1, column: 1 };
    const p: Problem = {
      severity,
      file: this.#file,
      line: pos.line,
      column: pos.column,
      path: pathString(path),
      message,
    };
    if (opts.entity) p.entity = stripUndefined(opts.entity);
    if (opts.field !== undefined) p.field = opts.field;
    this.items.push(p);
  }
}

function stripUndefined(e: EntityRef): EntityRef {
  const out: EntityRef = { type: e.type };
  if (e.name !== undefined) out.name = e.name;
  if (e.id !== undefined) out.id = e.id;
  if (e.tags !== undefined) out.tags = e.tags;
  return out;
}
