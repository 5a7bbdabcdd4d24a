/**
 * `config convert`: brings a `_format_version` "1.1" or "2.1" file to "3.0", editing the YAML document in place
 * so comments and layout survive, and says what it changed and what it noticed. Kong 3's changes that concern a
 * declarative file: the version bump and the `~` prefix Kong 3 requires on regex paths of HTTP routes. Stream
 * parts (sources, destinations, snis, tls routes, upstreams, targets) carry over unchanged.
 */
import { isMap, isScalar, isSeq, parseDocument, Scalar, type Document, type YAMLMap } from 'yaml';

export class ConvertError extends Error {}

export interface ConvertResult {
  /** the converted file, in the input's format (YAML keeps its comments; JSON is re-printed) */
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
  if (isSeq(node)) node.items.forEach((it, i) => { if (isMap(it)) fn(it, i); });
}

function convertRoute(r: YAMLMap, where: string, from: string, notes: string[]): void {
  const name = routeName(r, where);
  const paths = r.get('paths', true);
  if (isSeq(paths)) {
    for (const p of paths.items) {
      const v = str(p);
      if (v === undefined || v.startsWith('~') || PLAIN_PATH.test(v)) continue;
      (p as Scalar).value = '~' + v;
      notes.push(`${name}: paths: '${v}' is a regex, now '~${v}' (Kong 3 marks regex paths with ~; HTTP routes are not served by kong-ts)`);
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
  const json = /\.json$/i.test(file);
  const doc = parseDocument(text, { keepSourceTokens: false }) as Document.Parsed;
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0];
    throw new ConvertError(`${file}${pos ? `:${pos.line}:${pos.col}` : ''}: ${e.message.split('\n')[0]}`);
  }
  if (!isMap(doc.contents)) throw new ConvertError(`${file}: not a declarative file (expected a mapping at the top)`);
  const from = str(doc.get('_format_version', true));
  if (from === undefined) throw new ConvertError(`${file}: no _format_version: cannot tell which Kong wrote it`);
  if (from === '3.0') return { text, from, to: '3.0', notes: ['already _format_version "3.0": nothing to change'], changed: false };
  if (from !== '1.1' && from !== '2.1') throw new ConvertError(`${file}: _format_version '${from}' is not one of 1.1, 2.1, 3.0`);

  const notes = [`_format_version: '${from}' → '3.0'`];
  const version = new Scalar('3.0');
  version.type = Scalar.QUOTE_DOUBLE;
  const old = doc.get('_format_version', true);
  if (isScalar(old)) { old.value = '3.0'; old.type = Scalar.QUOTE_DOUBLE; } else doc.set('_format_version', version);

  eachMap(doc.get('routes', true), (r, i) => convertRoute(r, `routes[${i}]`, from, notes));
  eachMap(doc.get('services', true), (s, i) => eachMap(s.get('routes', true), (r, j) => convertRoute(r, `services[${i}].routes[${j}]`, from, notes)));
  eachMap(doc.get('upstreams', true), (u, i) => convertUpstream(u, `upstreams[${i}]`, notes));
  const out = json ? JSON.stringify(doc.toJS(), null, 2) + '\n' : doc.toString({ lineWidth: 0 });
  return { text: out, from, to: '3.0', notes, changed: true };
}
