import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';

/** A path inside the file: `['services', 0, 'routes', 1]`. */
export type Path = ReadonlyArray<string | number>;

/** `['services', 0, 'routes', 1, 'sources', 0, 'ip']` → `services[0].routes[1].sources[0].ip` */
export function pathString(path: Path): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${seg}` : seg;
  }
  return out;
}

export interface Position { line: number; column: number }

export interface SyntaxProblem extends Position { message: string; severity: 'error' | 'warning' }

/**
 * Finds the `line:column` of any path in the parsed document, walking the YAML nodes on demand: only problems
 * and entity origins ask, so no table of every value's position is built for a large file.
 */
export class SourceMap {
  #doc: Document.Parsed | undefined;
  #lines: LineCounter;

  constructor(doc: Document.Parsed | undefined, lines: LineCounter) {
    this.#doc = doc;
    this.#lines = lines;
  }

  /**
   * `value`: the value's position, or its key's when the value is empty (`key:`); `key`: the key's position;
   * `parent`: the position of the node holding the last segment. A path that leaves the document stops at the
   * deepest node found (the entity, for a missing field).
   */
  position(path: Path, anchor: 'value' | 'key' | 'parent' = 'value'): Position {
    const doc = this.#doc;
    if (!doc) return { line: 1, column: 1 };
    const walk = anchor === 'parent' ? path.slice(0, -1) : path;
    let node: unknown = doc.contents;
    let keyNode: unknown;
    for (const seg of walk) {
      if (isAlias(node)) node = node.resolve(doc);
      const next = child(node, seg);
      if (!next) return this.#at(node);
      node = next.value;
      keyNode = next.key;
      if (node == null) return this.#at(keyNode);
    }
    if (anchor === 'key' && keyNode) return this.#at(keyNode);
    if (isScalar(node) && node.value === null && keyNode && !node.source) return this.#at(keyNode);
    return this.#at(node);
  }

  #at(node: unknown): Position {
    const range = (node as Node | undefined)?.range;
    if (!range) return { line: 1, column: 1 };
    const { line, col } = this.#lines.linePos(range[0]);
    return { line, column: col };
  }
}

function child(node: unknown, seg: string | number): { key?: unknown; value: unknown } | undefined {
  if (isSeq(node)) {
    return typeof seg === 'number' && seg < node.items.length ? { value: node.items[seg] } : undefined;
  }
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const k = isScalar(pair.key) ? pair.key.value : pair.key;
      if (String(k) === String(seg)) return { key: pair.key, value: pair.value };
    }
  }
  return undefined;
}

/** Past this many, a file is garbage, not a config with mistakes. */
const MAX_SYNTAX_PROBLEMS = 100;

export interface Parsed {
  data: unknown;
  map: SourceMap;
  problems: SyntaxProblem[];
}

/**
 * Parses YAML (or JSON, checked with JSON.parse so that YAML-only syntax is refused in a `.json` file) keeping
 * positions. Never throws: every syntax error becomes a problem with its position.
 */
export function parseText(text: string, json: boolean): Parsed {
  const lines = new LineCounter();
  const problems: SyntaxProblem[] = [];
  const tooDeep = nestingProblem(text);
  if (tooDeep) return { data: undefined, map: new SourceMap(undefined, lines), problems: [tooDeep] };
  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, merge: true });
  } catch (err) {
    return { data: undefined, map: new SourceMap(undefined, lines), problems: [{ line: 1, column: 1, severity: 'error', message: messageOf(err) }] };
  }
  const map = new SourceMap(doc, lines);
  const seen = new Set<string>();
  for (const e of [...doc.errors, ...doc.warnings]) {
    const p: SyntaxProblem = { ...posOf(lines, e.pos[0]), severity: e.name === 'YAMLWarning' ? 'warning' : 'error', message: cleanMessage(e.message, e.code) };
    const key = `${p.line}:${p.column}:${p.message}`;
    if (seen.has(key)) continue; // deeply broken input repeats the same error at the same place
    seen.add(key);
    if (problems.length === MAX_SYNTAX_PROBLEMS) {
      problems.push({ ...p, severity: 'error', message: 'too many syntax errors, giving up' });
      break;
    }
    problems.push(p);
  }
  if (json && problems.length === 0) {
    try {
      JSON.parse(text);
    } catch (err) {
      const at = /position (\d+)/.exec(messageOf(err));
      const pos = at ? posOf(lines, Number(at[1])) : { line: 1, column: 1 };
      problems.push({ ...pos, severity: 'error', message: `invalid JSON: ${messageOf(err)}` });
    }
  }
  if (problems.some((p) => p.severity === 'error')) return { data: undefined, map, problems };
  try {
    return { data: doc.toJS({ maxAliasCount: 1000 }), map, problems };
  } catch (err) {
    problems.push({ line: 1, column: 1, severity: 'error', message: messageOf(err) });
    return { data: undefined, map, problems };
  }
}

/** Deeper than this is an attack or garbage; Kong files nest about ten levels. */
const MAX_DEPTH = 200;

/**
 * Estimates nesting depth before parsing: the yaml parser recurses per level, and V8 aborts the whole process
 * (not a catchable RangeError) when a regular expression is compiled at the edge of the stack.
 * Counts open flow brackets outside quotes, block indentation levels and compact `- - -` sequences.
 */
function nestingProblem(text: string): SyntaxProblem | undefined {
  const indents: number[] = [];
  let flow = 0;
  let lineNo = 0;
  for (const line of text.split('\n')) {
    lineNo++;
    const indent = line.length - line.trimStart().length;
    const body = line.slice(indent);
    if (body === '' || body.startsWith('#')) continue;
    if (flow === 0) {
      while (indents.length && indents[indents.length - 1]! >= indent) indents.pop();
      indents.push(indent);
    }
    const dashes = /^(?:-\s+)*/.exec(body)![0].replace(/\s+/g, '').length;
    let quote = '';
    for (let i = 0; i < body.length; i++) {
      const c = body[i];
      if (quote) { if (c === quote) quote = ''; continue; }
      if (c === '"' || c === "'") quote = c;
      else if (c === '#' && (i === 0 || /\s/.test(body[i - 1]!))) break;
      else if (c === '[' || c === '{') flow++;
      else if ((c === ']' || c === '}') && flow > 0) flow--;
      if (flow + indents.length + dashes > MAX_DEPTH) {
        return { line: lineNo, column: indent + i + 1, severity: 'error', message: `nesting deeper than ${MAX_DEPTH} levels` };
      }
    }
  }
  return undefined;
}

function posOf(lines: LineCounter, offset: number): Position {
  const { line, col } = lines.linePos(offset);
  return { line, column: col };
}

function cleanMessage(msg: string, code: string): string {
  if (code === 'MULTIPLE_DOCS') return 'a declarative config file holds a single YAML document';
  // yaml appends " at line L, column C" even without prettyErrors in some paths; the position is ours to print.
  return msg.replace(/ at line \d+, column \d+:?[\s\S]*$/, '').trim();
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
