import assert from 'node:assert/strict';
import { loadConfigText, formatProblem } from '../../src/config/load.js';
import type { LoadOptions, LoadResult } from '../../src/config/types.js';

/** `lines(...)` joins lines with \n, so that tests can state exact line:column positions. */
export const lines = (...ls: string[]): string => ls.join('\n') + '\n';

export const HEAD = '_format_version: "3.0"';

export function load(text: string, opts?: LoadOptions, file = 'kong.yml'): LoadResult {
  return loadConfigText(text, file, opts);
}

export function formatted(r: LoadResult): string[] {
  return r.problems.map(formatProblem);
}

/** Asserts the result holds exactly this formatted problem (`kong.yml:3:5: error: path: message`). */
export function hasProblem(r: LoadResult, expected: string): void {
  const all = formatted(r);
  assert.ok(all.includes(expected), `expected problem:\n  ${expected}\ngot:\n  ${all.join('\n  ')}`);
}

/** Asserts the load failed with exactly these problems (in order). */
export function onlyProblems(r: LoadResult, ...expected: string[]): void {
  assert.deepEqual(formatted(r), expected);
  assert.equal(
    r.ok,
    expected.every((e) => !/: error: /.test(e)),
  );
}

export function assertOk(r: LoadResult): asserts r is Extract<LoadResult, { ok: true }> {
  assert.ok(r.ok, `expected ok, got:\n  ${formatted(r).join('\n  ')}`);
}
