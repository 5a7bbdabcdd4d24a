import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ENTITY_TYPES, type LoadOptions, type LoadResult, type Problem } from './types.js';
import { parseText } from './parse.js';
import { ProblemList, sortProblems } from './problems.js';
import { validateDocument } from './validate.js';
import { flatten, isObject } from './flatten.js';
import { checkEntities } from './check.js';
import { normalize } from './normalize.js';
import { PemCache } from './pem.js';
import { checkUnserved } from './unserved.js';

export { formatProblem, formatProblems } from './problems.js';

/**
 * Loads declarative config text: parse → validate → check → normalize. Pure and synchronous; never throws.
 * Every problem of the file is reported at once, sorted by position; `ok` is false when any is an error.
 * `hash` is the md5 of the raw text (Kong's configuration hash).
 */
export function loadConfigText(text: string, file: string, opts: LoadOptions = {}): LoadResult {
  const hash = createHash('md5').update(text).digest('hex');
  let problems: Problem[];
  try {
    const result = run(text, file, opts);
    problems = sortProblems(result.problems);
    if (result.config && !problems.some((p) => p.severity === 'error')) {
      return { ok: true, config: result.config, problems, hash, text, file };
    }
  } catch (err) {
    // A bug of ours, not the user's: say so plainly rather than let a load crash the process.
    problems = [
      {
        severity: 'error',
        file,
        line: 1,
        column: 1,
        path: '',
        message: `internal error while loading: ${(err as Error)?.message ?? String(err)}`,
      },
    ];
  }
  return { ok: false, problems, hash, text, file };
}

/** Reads a file then loads it; a missing or unreadable file is one problem, not a throw. */
export async function loadConfigFile(path: string, opts: LoadOptions = {}): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'ENOENT'
        ? 'no such file'
        : e.code === 'EISDIR'
          ? 'is a directory'
          : e.code === 'EACCES'
            ? 'permission denied'
            : e.message;
    return {
      ok: false,
      hash: '',
      text: '',
      file: path,
      problems: [
        {
          severity: 'error',
          file: path,
          line: 1,
          column: 1,
          path: '',
          message: `cannot read declarative config file: ${why}`,
        },
      ],
    };
  }
  return loadConfigText(text, path, opts);
}

/** The top-level keys of a declarative file (schemas/kong.schema.json). */
const TOP_LEVEL = new Set<string>(['_format_version', '_transform', '_comment', '_ignore', ...ENTITY_TYPES]);

/**
 * A file that is not a declarative config at all (a password file, a key, a kong.conf given by mistake) is said to
 * be that, in one line: its lines are never echoed back as values or unknown fields into the log.
 */
export const PLAIN_TEXT = 'not a declarative config: the file is plain text, not a YAML or JSON mapping';

function notDeclarative(data: unknown): string | undefined {
  if (typeof data === 'string') return PLAIN_TEXT;
  if (!isObject(data)) return undefined;
  const keys = Object.keys(data);
  if (keys.length === 0 || keys.some((k) => TOP_LEVEL.has(k))) return undefined;
  return `not a declarative config: none of its ${keys.length} top-level key(s) is _format_version or an entity type (services, routes, ...)`;
}

function run(
  text: string,
  file: string,
  opts: LoadOptions,
): { problems: Problem[]; config?: ReturnType<typeof normalize> } {
  const parsed = parseText(text, /\.json$/i.test(file));
  const problems = new ProblemList(file, parsed.map);
  for (const p of parsed.problems) problems.raw(p.severity, p.line, p.column, '', p.message);
  if (problems.hasErrors) return { problems: problems.items };
  const data = parsed.data;
  const not = notDeclarative(data);
  if (not) {
    problems.raw('error', 1, 1, '', not);
    return { problems: problems.items };
  }
  const bad = validateDocument(data, problems);
  if (!isObject(data)) return { problems: problems.items };
  checkUnserved(data, problems, opts.strict === true);
  const ents = flatten(data, bad);
  checkEntities(ents, { problems, opts, now: Date.now(), pem: new PemCache() });
  if (problems.hasErrors) return { problems: problems.items };
  return { problems: problems.items, config: normalize(ents, String(data._format_version), file, parsed.map) };
}
