/**
 * Finds the declarative text in a POST /config body: raw (JSON or YAML), under a `config` key, or in a form field.
 * Runs in the load thread (config/load-job.ts), with the bounded parser: the body is never parsed on the event
 * loop, and a body too deep to parse is an answer (400), not a crash.
 */
import { isUtf8 } from 'node:buffer';
import { parseText } from './parse.js';

export type Posted = { text: string } | { message: string };

const noConfig = (): Posted => ({ message: 'expected a declarative configuration' });

/** A `config` value that is a document rather than a string is posted as its JSON text. */
function asText(value: unknown): Posted {
  if (typeof value === 'string') return { text: value };
  if (value !== null && typeof value === 'object') return { text: JSON.stringify(value, null, 2) };
  return noConfig();
}

/** The media type of a Content-Type header, lower case, without parameters. */
function mediaTypeOf(contentType: string): string {
  return contentType.split(';')[0]!.trim().toLowerCase();
}

/**
 * The fields of a multipart/form-data body (`curl -F config=@kong.yml`), as text. Only what POST /config needs:
 * named parts, no nested multiparts.
 */
function parseMultipart(body: Buffer, contentType: string): Map<string, string> {
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  if (!m) throw new Error('multipart body without a boundary');
  const delimiter = Buffer.from(`--${m[1] ?? m[2]}`);
  const fields = new Map<string, string>();
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next < 0) break;
    const part = body.subarray(start, next);
    const headEnd = part.indexOf('\r\n\r\n');
    if (headEnd >= 0) {
      const head = part.subarray(0, headEnd).toString('utf8');
      const name = /content-disposition:[^\r\n]*\bname="([^"]*)"/i.exec(head)?.[1];
      // the part's content ends before the CRLF that precedes the next delimiter
      let content = part.subarray(headEnd + 4);
      if (content.subarray(-2).toString() === '\r\n') content = content.subarray(0, -2);
      if (name !== undefined && !fields.has(name)) fields.set(name, content.toString('utf8'));
    }
    at = next;
  }
  return fields;
}

/** `contentType`: the request's Content-Type header ('' when none). */
export function postedText(contentType: string, body: Buffer): Posted {
  const type = mediaTypeOf(contentType);
  try {
    if (type === 'application/x-www-form-urlencoded') {
      const config = new URLSearchParams(body.toString('utf8')).get('config');
      return config === null ? noConfig() : { text: config };
    }
    if (type === 'multipart/form-data') {
      const config = parseMultipart(body, contentType).get('config');
      return config === undefined ? noConfig() : { text: config };
    }
  } catch (err) {
    return { message: (err as Error).message };
  }
  if (!isUtf8(body)) return { message: 'the body is not UTF-8 text' };
  const text = body.toString('utf8');
  if (text.trim() === '') return noConfig();
  if (type === 'application/json') {
    // parsed with the bounded parser: JSON.parse would take any depth, and V8's messages quote the body
    const parsed = parseText(text, true);
    const err = parsed.problems.find((p) => p.severity === 'error');
    if (err) return { message: `Cannot parse JSON body: ${err.line}:${err.column}: ${err.message}` };
    const doc = parsed.data as Record<string, unknown> | null;
    if (doc && typeof doc === 'object' && !('_format_version' in doc) && 'config' in doc) return asText(doc.config);
    return { text };
  }
  // a YAML document with the file under `config:`; only parsed twice when it can be that form
  if (!/(^|\n)["']?_format_version["']?\s*:/.test(text) && /(^|\n)["']?config["']?\s*:/.test(text)) {
    const parsed = parseText(text, false);
    if (parsed.problems.some((p) => p.severity === 'error')) return { text }; // the loader reports it with its position
    const doc = parsed.data;
    if (doc && typeof doc === 'object' && 'config' in doc) return asText((doc as Record<string, unknown>).config);
  }
  return { text };
}
