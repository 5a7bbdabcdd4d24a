/**
 * config/posted.ts: the declarative text found in a POST /config body (raw, under `config`, in a form field), as the
 * load thread unwraps it before loading.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { postedText } from '../../src/config/posted.js';

const DOC = '_format_version: "3.0"\nservices: []\n';

test('raw YAML and JSON bodies; a `config` key unwraps, a document under it becomes JSON text', () => {
  assert.deepEqual(postedText('application/yaml', Buffer.from(DOC)), { text: DOC });
  assert.deepEqual(postedText('', Buffer.from(`config: |\n  _format_version: "3.0"\n`)), {
    text: '_format_version: "3.0"\n',
  });
  const doc = { _format_version: '3.0', services: [] };
  assert.deepEqual(postedText('application/json; charset=utf-8', Buffer.from(JSON.stringify({ config: doc }))), {
    text: JSON.stringify(doc, null, 2),
  });
});

test('form bodies: the `config` field; multipart needs its boundary', () => {
  const form = `config=${encodeURIComponent(DOC)}`;
  assert.deepEqual(postedText('application/x-www-form-urlencoded', Buffer.from(form)), { text: DOC });
  const body = Buffer.from(
    `--XyZ\r\nContent-Disposition: form-data; name="other"\r\n\r\nno\r\n` +
      `--XyZ\r\nContent-Disposition: form-data; name="config"; filename="kong.yml"\r\n\r\n${DOC}\r\n--XyZ--\r\n`,
  );
  assert.deepEqual(postedText('multipart/form-data; boundary=XyZ', body), { text: DOC });
  assert.deepEqual(postedText('multipart/form-data', body), { message: 'multipart body without a boundary' });
  assert.deepEqual(postedText('multipart/form-data; boundary=XyZ', Buffer.from('--XyZ--\r\n')), {
    message: 'expected a declarative configuration',
  });
});

test('not a configuration: empty, not UTF-8, JSON that does not parse', () => {
  assert.deepEqual(postedText('', Buffer.from('  \n')), { message: 'expected a declarative configuration' });
  assert.deepEqual(postedText('', Buffer.from([0x66, 0xff, 0x66])), { message: 'the body is not UTF-8 text' });
  const bad = postedText('application/json', Buffer.from('{"config": '));
  assert.ok('message' in bad && bad.message.startsWith('Cannot parse JSON body: 1:'), JSON.stringify(bad));
});
