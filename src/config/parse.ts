import {
  Composer,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  Lexer,
  LineCounter,
  Parser,
  visit,
  type Document,
  type Node,
} from 'yaml';
import type { CST } from 'yaml';

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

export interface Position {
  line: number;
  column: number;
}

export interface SyntaxProblem extends Position {
  message: string;
  severity: 'error' | 'warning';
}

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
  const none = (p: SyntaxProblem): Parsed => ({ data: undefined, map: new SourceMap(undefined, lines), problems: [p] });
  const cst = tokens(text, lines);
  if ('deep' in cst)
    return none({ ...posOf(lines, cst.deep), severity: 'error', message: `nesting deeper than ${MAX_DEPTH} levels` });
  let doc: Document.Parsed | undefined;
  try {
    const composer = new Composer({ prettyErrors: false, uniqueKeys: true, merge: true });
    for (const d of composer.compose(cst.tokens, true, text.length)) {
      if (!doc) doc = d;
      else {
        problems.push({ ...posOf(lines, d.range[0]), severity: 'error', message: cleanMessage('', 'MULTIPLE_DOCS') });
        break;
      }
    }
  } catch (err) {
    return none({ line: 1, column: 1, severity: 'error', message: messageOf(err) });
  }
  if (!doc) return none({ line: 1, column: 1, severity: 'error', message: 'empty document' });
  const map = new SourceMap(doc, lines);
  const seen = new Set<string>();
  for (const e of [...doc.errors, ...doc.warnings]) {
    const p: SyntaxProblem = {
      ...posOf(lines, e.pos[0]),
      severity: e.name === 'YAMLWarning' ? 'warning' : 'error',
      message: cleanMessage(e.message, e.code),
    };
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
      // V8 quotes the text around the error ("root:x:0:0"... is not valid JSON): never echo a file's content
      problems.push({
        ...pos,
        severity: 'error',
        message: `invalid JSON: ${messageOf(err).replace(/, ".*" is not valid JSON$/s, '')}`,
      });
    }
  }
  if (problems.some((p) => p.severity === 'error')) return { data: undefined, map, problems };
  if (cst.aliases) markAliases(doc);
  try {
    return { data: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }), map, problems };
  } catch (err) {
    // an alias error carries the range of the alias that went over the limit (markAliases)
    const range = (err as { aliasRange?: number[] } | null)?.aliasRange;
    const pos = range ? posOf(lines, range[0]!) : { line: 1, column: 1 };
    problems.push({ ...pos, severity: 'error', message: messageOf(err) });
    return { data: undefined, map, problems };
  }
}

/** Deeper than this is an attack or garbage; Kong files nest about ten levels. */
export const MAX_DEPTH = 200;

/** yaml's own bound on alias expansion: a "billion laughs" document is refused, not expanded. */
export const MAX_ALIAS_COUNT = 1000;

/**
 * Lexes and parses the text into yaml's concrete syntax tree, checking the parser's own stack of open collections
 * after every lexeme. The lexer and the parser are iterative and understand quoting, escapes and flow brackets
 * (no text scan of ours to fool); the composer and toJS recurse per level, and V8 aborts the whole process (not a
 * catchable RangeError) when a regular expression is compiled at the edge of the stack. So the depth is bounded
 * before anything recursive runs, and the scan stops at the first lexeme too deep.
 */
function tokens(text: string, lines: LineCounter): { tokens: CST.Token[]; aliases: boolean } | { deep: number } {
  const parser = new Parser(lines.addNewLine);
  lines.addNewLine(0);
  const out: CST.Token[] = [];
  let aliases = false;
  for (const lexeme of new Lexer().lex(text, false)) {
    if (lexeme.charCodeAt(0) === 42 /* '*' */) aliases = true;
    for (const t of parser.next(lexeme)) out.push(t);
    if (parser.stack.length > MAX_DEPTH) return { deep: parser.offset };
  }
  for (const t of parser.end()) out.push(t);
  return { tokens: out, aliases };
}

/**
 * yaml throws its alias-count error without a position. In a document with aliases, each alias node's toJSON is
 * wrapped so that the innermost alias that went over the limit tags the error with its own range.
 */
function markAliases(doc: Document.Parsed): void {
  visit(doc, {
    Alias(_key, node) {
      const own = node.toJSON.bind(node);
      node.toJSON = (arg?: unknown, ctx?: unknown) => {
        try {
          return (own as (a: unknown, c: unknown) => unknown)(arg, ctx);
        } catch (err) {
          if (err && typeof err === 'object' && !('aliasRange' in err) && node.range)
            Object.assign(err, { aliasRange: node.range });
          throw err;
        }
      };
    },
  });
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
