/**
 * The young generation of a serving process is held between config loads (src/young-gen.ts): its own file, since
 * the hold is process-wide.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getHeapSpaceStatistics } from 'node:v8';
import { ConfigManager, type Compiled } from '../../src/config/manager.js';
import { silentLogger } from '../../src/log.js';
import { holdYoungGeneration, youngGenerationHeld } from '../../src/young-gen.js';
import { tempDir } from '../helpers/cli.js';

const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;

/** Allocates `mb` MiB of small objects that all stay alive (what a burst of long-lived connections does). */
function survivors(mb: number): unknown[] {
  const keep: unknown[] = [];
  for (let i = 0; i < (mb * 1024 * 1024) / 64; i++) keep.push({ a: i, b: null, c: null, d: null });
  return keep;
}

test('held, the young generation does not grow under surviving objects; a config load lets it grow', async () => {
  assert.equal(youngGenerationHeld(), false);
  holdYoungGeneration();
  assert.equal(youngGenerationHeld(), true);
  const before = newSpace();
  const kept = survivors(64);
  assert.equal(newSpace(), before, 'the new space kept its size while held');
  assert.ok(kept.length > 0);

  const dir = tempDir('young-gen');
  const file = join(dir, 'kong.yml');
  writeFileSync(file, '_format_version: "3.0"\nservices: []\n');
  let heldDuringBuild: boolean | undefined;
  let grown = 0;
  const m = new ConfigManager<Compiled>({
    file,
    logger: silentLogger,
    compile: async (i) => {
      heldDuringBuild = youngGenerationHeld();
      const size = newSpace();
      const more = survivors(64);
      grown = newSpace() - size;
      assert.ok(more.length > 0);
      return { hash: i.hash, generation: i.generation, loadedAt: Date.now(), config: i.config };
    },
  });
  try {
    assert.equal((await m.reloadFile('start')).status, 'loaded');
  } finally {
    await m.close();
  }
  assert.equal(heldDuringBuild, false, 'a load may grow it');
  assert.ok(grown > 0 || before >= 32 * 1024 * 1024, `the new space grew during the load (${grown} bytes)`);
  assert.equal(youngGenerationHeld(), true, 'held again after the load');
});
