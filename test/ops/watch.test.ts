/**
 * ConfigWatcher against the ways config files are really updated, on real files in a temp folder.
 * Every scenario checks what onChange received: each new version, never a half-written one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  mkdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
  openSync,
  writeSync,
  closeSync,
  ftruncateSync,
} from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { ConfigWatcher } from '../../src/config/watch.js';
import { tempDir } from '../helpers/cli.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, pred: () => boolean, ms = 3000): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const version = (n: number) =>
  `_format_version: "3.0"\n# version ${n}\nservices:\n${'  - name: svc' + n + '\n    url: tcp://127.0.0.1:' + (1000 + n) + '\n'.repeat(1)}`;

/** A watcher on `file` in a fresh temp folder, recording what it hands on and what it logs. */
async function setup(
  t: { after: (fn: () => Promise<void> | void) => void },
  opts: { pollMs?: number; nested?: boolean } = {},
) {
  const root = tempDir('ops-watch');
  const dir = opts.nested ? join(root, 'conf') : root;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'kong.yml');
  writeFileSync(file, version(0));
  const texts: string[] = [];
  const logs: { msg: string }[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void logs.push(JSON.parse(s)) });
  const w = new ConfigWatcher({
    file,
    logger,
    debounceMs: 30,
    settleMs: 150,
    pollMs: opts.pollMs ?? 0,
    onChange: (x) => texts.push(x),
  });
  await w.start();
  t.after(() => w.close());
  return { root, dir, file, texts, logs, w };
}

test('in place: truncate and write', async (t) => {
  const s = await setup(t);
  writeFileSync(s.file, version(1));
  await waitFor('version 1', () => s.texts.includes(version(1)));
  writeFileSync(s.file, version(2));
  await waitFor('version 2', () => s.texts.includes(version(2)));
  assert.deepEqual(s.texts, [version(1), version(2)]);
});

test('editor style: a temporary file renamed over the config', async (t) => {
  const s = await setup(t);
  for (const n of [1, 2]) {
    writeFileSync(join(s.dir, '.kong.yml.swp'), version(n));
    renameSync(join(s.dir, '.kong.yml.swp'), s.file);
    await waitFor(`version ${n}`, () => s.texts.at(-1) === version(n));
  }
  assert.deepEqual(s.texts, [version(1), version(2)]);
});

test('slow writer: truncate, write half, wait 100 ms, write the rest: the half is never handed on', async (t) => {
  const s = await setup(t);
  const full = version(7) + '# ' + 'padding '.repeat(50) + '\n';
  const fd = openSync(s.file, 'r+');
  ftruncateSync(fd, 0);
  const half = Math.floor(full.length / 2);
  writeSync(fd, full.slice(0, half), 0);
  await sleep(100);
  writeSync(fd, full.slice(half), half);
  closeSync(fd);
  await waitFor('the whole file', () => s.texts.includes(full));
  await sleep(300);
  assert.deepEqual(s.texts, [full], 'only the complete content');
});

test('Kubernetes ConfigMap: kong.yml -> ..data/kong.yml, ..data swapped atomically', async (t) => {
  const root = tempDir('ops-watch-cm');
  mkdirSync(join(root, '..2024_01'));
  writeFileSync(join(root, '..2024_01', 'kong.yml'), version(0));
  symlinkSync('..2024_01', join(root, '..data'));
  symlinkSync('..data/kong.yml', join(root, 'kong.yml'));
  const texts: string[] = [];
  const w = new ConfigWatcher({
    file: join(root, 'kong.yml'),
    logger: pino({ level: 'silent' }),
    debounceMs: 30,
    settleMs: 100,
    pollMs: 0,
    onChange: (x) => texts.push(x),
  });
  await w.start();
  t.after(() => w.close());
  for (const n of [1, 2, 3]) {
    // what the kubelet does: a new timestamped folder, a new link, renamed over ..data, the old folder removed
    const v = `..2024_0${n + 1}`;
    mkdirSync(join(root, v));
    writeFileSync(join(root, v, 'kong.yml'), version(n));
    symlinkSync(v, join(root, '..data_tmp'));
    renameSync(join(root, '..data_tmp'), join(root, '..data'));
    rmSync(join(root, `..2024_0${n}`), { recursive: true });
    await waitFor(`version ${n}`, () => texts.at(-1) === version(n));
  }
  assert.deepEqual(texts, [version(1), version(2), version(3)]);
});

test('deleted: the last config stays (logged); created again: handed on', async (t) => {
  const s = await setup(t);
  unlinkSync(s.file);
  await waitFor('the warning', () =>
    s.logs.some((l) => /gone or unreadable; the last good config keeps serving/.test(l.msg)),
  );
  assert.deepEqual(s.texts, [], 'nothing handed on for a missing file');
  writeFileSync(s.file, version(5));
  await waitFor('version 5', () => s.texts.includes(version(5)));
  assert.ok(s.logs.some((l) => l.msg === 'declarative config file is back'));
});

test('the whole folder removed and created again: the new folder is watched', async (t) => {
  const s = await setup(t, { nested: true });
  rmSync(s.dir, { recursive: true });
  await sleep(150);
  mkdirSync(s.dir);
  writeFileSync(s.file, version(1));
  await waitFor('version 1', () => s.texts.includes(version(1)));
  // a later edit inside the new folder proves the watch was re-armed, not just the parent's event seen
  await sleep(150);
  writeFileSync(s.file, version(2));
  await waitFor('version 2', () => s.texts.includes(version(2)));
});

test('the folder renamed away and another renamed in', async (t) => {
  const s = await setup(t, { nested: true });
  const next = join(s.root, 'conf.new');
  mkdirSync(next);
  writeFileSync(join(next, 'kong.yml'), version(1));
  renameSync(s.dir, join(s.root, 'conf.old'));
  renameSync(next, s.dir);
  await waitFor('version 1', () => s.texts.includes(version(1)));
  // edits in the old folder are no longer ours; edits in the new one are
  writeFileSync(join(s.root, 'conf.old', 'kong.yml'), version(9));
  await sleep(150);
  writeFileSync(s.file, version(2));
  await waitFor('version 2', () => s.texts.includes(version(2)));
  assert.ok(!s.texts.includes(version(9)));
});

test('a symlink to a file in another folder: edits of the target are seen, with or without the poll', async (t) => {
  const root = tempDir('ops-watch-link');
  mkdirSync(join(root, 'real'));
  mkdirSync(join(root, 'etc'));
  const target = join(root, 'real', 'kong.yml');
  writeFileSync(target, version(0));
  symlinkSync(target, join(root, 'etc', 'kong.yml'));
  const run = async (pollMs: number) => {
    const texts: string[] = [];
    const w = new ConfigWatcher({
      file: join(root, 'etc', 'kong.yml'),
      logger: pino({ level: 'silent' }),
      debounceMs: 30,
      settleMs: 100,
      pollMs,
      onChange: (x) => texts.push(x),
    });
    await w.start();
    t.after(() => w.close());
    return texts;
  };
  const withPoll = await run(100);
  const eventsOnly = await run(0);
  writeFileSync(target, version(3));
  await waitFor('version 3', () => withPoll.includes(version(3)) && eventsOnly.includes(version(3)));
  await sleep(200);
  assert.deepEqual(withPoll, [version(3)], 'events and poll together hand it on once');
  assert.deepEqual(eventsOnly, [version(3)]);
});
