/**
 * `config convert`: brings a `_format_version` "1.1" or "2.1" file to "3.0" and says what it changed and what it
 * noticed. Edits are spliced into the original text at the parsed nodes' offsets, so comments, quoting and layout
 * survive byte for byte (re-printing the YAML document would reflow them), and JSON stays JSON. Kong 3's changes that concern a
 * declarative file: the version bump and the `~` prefix Kong 3 requires on regex paths of HTTP routes. Stream
 * parts (sources, destinations, snis, tls routes, upstreams, targets) carry over unchanged.
 */
import { isMap, isScalar, isSeq, parseDocument, Scalar, type Document, type YAMLMap } from 'yaml';

export class ConvertError extends Error {}

export interface ConvertResult {
  /** the converted file: the input with only the changed values edited */
  text: string;
  from: string;
  to: '3.0';
  /** one line per change or remark, in file order */
  notes: string[];
  /** false when the file already was "3.0" */
  changed: boolean;
}

// deck's and Kong 3's migration test: a path with anything but these characters was a regex in Kong 2
const PLAIN_PATH = /^[a-zA-Z0-9._~/%-]*$/;
const STREAM_HASH = new Set(['none', 'ip']);

function str(v: unknown): string | undefined {
  return isScalar(v) && typeof v.value === 'string' ? v.value : typeof v === 'string' ? v : undefined;
}

function routeName(r: YAMLMap, where: string): string {
  const n = str(r.get('name', true));
  return n !== undefined ? `route '${n}'` : `route at ${where}`;
}

function eachMap(node: unknown, fn: (m: YAMLMap, i: number) => void): void {
  if (isSeq(node))
    node.items.forEach((it, i) => {
      if (isMap(it)) fn(it, i);
    });
}

/** A text edit at an offset of the original: `del` characters replaced by `ins`. */
interface Edit {
  at: number;
  del: number;
  ins: string;
}

/** Where the characters of a scalar's value start (after its opening quote). */
function valueStart(s: Scalar): number {
  const start = s.range![0];
  return s.type === Scalar.QUOTE_DOUBLE || s.type === Scalar.QUOTE_SINGLE ? start + 1 : start;
}

function convertRoute(r: YAMLMap, where: string, from: string, notes: string[], edits: Edit[]): void {
  const name = routeName(r, where);
  const paths = r.get('paths', true);
  if (isSeq(paths)) {
    for (const p of paths.items) {
      const v = str(p);
      if (v === undefined || v.startsWith('~') || PLAIN_PATH.test(v) || !isScalar(p) || !p.range) continue;
      if (p.type === Scalar.BLOCK_LITERAL || p.type === Scalar.BLOCK_FOLDED) {
        notes.push(`${name}: paths: '${v}' is a regex: add '~' in front of it by hand (Kong 3)`);
        continue;
      }
      edits.push({ at: valueStart(p), del: 0, ins: '~' });
      notes.push(
        `${name}: paths: '${v}' is a regex, now '~${v}' (Kong 3 marks regex paths with ~; HTTP routes are not served by kong-ts)`,
      );
    }
  }
  if (r.has('regex_priority') || r.has('path_handling')) {
    notes.push(`${name}: regex_priority/path_handling kept as they are (HTTP routing; kong-ts ignores them)`);
  }
  const protos = r.get('protocols', true);
  if (from === '1.1' && isSeq(protos) && protos.items.some((p) => str(p) === 'tls_passthrough')) {
    notes.push(`${name}: protocols: tls_passthrough did not exist before Kong 2.x; kept`);
  }
}

function convertUpstream(u: YAMLMap, where: string, notes: string[]): void {
  const name = str(u.get('name', true)) ?? where;
  for (const k of ['hash_on', 'hash_fallback']) {
    const v = str(u.get(k, true));
    if (v !== undefined && !STREAM_HASH.has(v)) {
      notes.push(`upstream '${name}': ${k}: '${v}' only applies to HTTP; stream connections hash on none or ip (kept)`);
    }
  }
}

/** Converts a declarative file's text to `_format_version` "3.0". Throws ConvertError for a file it cannot read. */
export function convertText(text: string, file: string): ConvertResult {
  const doc = parseDocument(text) as Document.Parsed;
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0];
    throw new ConvertError(`${file}${pos ? `:${pos.line}:${pos.col}` : ''}: ${e.message.split('\n')[0]}`);
  }
  if (!isMap(doc.contents)) throw new ConvertError(`${file}: not a declarative file (expected a mapping at the top)`);
  const from = str(doc.get('_format_version', true));
  if (from === undefined) throw new ConvertError(`${file}: no _format_version: cannot tell which Kong wrote it`);
  if (from === '3.0')
    return { text, from, to: '3.0', notes: ['already _format_version "3.0": nothing to change'], changed: false };
  if (from !== '1.1' && from !== '2.1')
    throw new ConvertError(`${file}: _format_version '${from}' is not one of 1.1, 2.1, 3.0`);

  const notes = [`_format_version: '${from}' → '3.0'`];
  const version = doc.get('_format_version', true) as Scalar;
  const edits: Edit[] = [{ at: version.range![0], del: version.range![1] - version.range![0], ins: '"3.0"' }];
  eachMap(doc.get('routes', true), (r, i) => convertRoute(r, `routes[${i}]`, from, notes, edits));
  eachMap(doc.get('services', true), (s, i) =>
    eachMap(s.get('routes', true), (r, j) => convertRoute(r, `services[${i}].routes[${j}]`, from, notes, edits)),
  );
  eachMap(doc.get('upstreams', true), (u, i) => convertUpstream(u, `upstreams[${i}]`, notes));
  let out = text;
  for (const e of edits.sort((a, b) => b.at - a.at)) out = out.slice(0, e.at) + e.ins + out.slice(e.at + e.del);
  return { text: out, from, to: '3.0', notes, changed: true };
}
