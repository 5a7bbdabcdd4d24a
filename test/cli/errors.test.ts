import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERRORS, KongTsError } from '../../src/errors.js';
import { ROOT } from '../../src/paths.js';

test('every error code is documented in docs/errors.md', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8');
  for (const code of Object.keys(ERRORS)) assert.ok(doc.includes('`' + code + '`'), `${code} is not in docs/errors.md`);
});

test('KongTsError fills the template and keeps the cause', () => {
  const cause = new Error('EADDRINUSE');
  const e = new KongTsError('KTS_LISTEN_FAILED', ['127.0.0.1:1'], { detail: 'EADDRINUSE', cause });
  assert.equal(e.message, 'cannot listen on 127.0.0.1:1: EADDRINUSE');
  assert.equal(e.cause, cause);
  assert.equal(e.code, 'KTS_LISTEN_FAILED');
});
