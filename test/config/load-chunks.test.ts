/**
 * The load thread's chunks (config/load-job.ts): the main thread copies one chunk at a time between slices, so a
 * chunk is bounded by count and by size (a few large certificates make a chunk, not 128 of them), and every entity
 * arrives once, with its fingerprint, in file order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { CHUNK, runJob, type Chunk } from '../../src/config/load-job.js';
import { assemble } from '../../src/config/assemble.js';
import { ChunkReader } from '../../src/config/loader.js';
import { Slicer } from '../../src/slices.js';
import { block, manyPairs } from './certs.js';

test('chunks: at most CHUNK entities and about 16 KB each; assembled back whole, in order', async () => {
  const pairs = manyPairs(30);
  const lines = ['_format_version: "3.0"', 'services:', '  - name: s', '    url: tcp://127.0.0.1:1', '    routes:'];
  for (let i = 0; i < 300; i++)
    lines.push(`      - { name: r${i}, protocols: [tcp], destinations: [{ port: ${1000 + i} }] }`);
  lines.push('certificates:');
  pairs.forEach((p, i) => {
    lines.push(`  - cert: ${block(p.cert, 6)}`, `    key: ${block(p.key, 6)}`, `    snis: [h${i}.example.com]`);
  });
  const text = lines.join('\n') + '\n';
  const { port1, port2 } = new MessageChannel();
  const reply = runJob(
    { id: 1, source: { kind: 'bytes', bytes: Buffer.from(text) }, file: 'kong.yml', maxBytes: 1 << 26, options: {} },
    port2,
  );
  assert.equal(reply.status, 'ok', JSON.stringify(reply).slice(0, 500));
  const chunks: Chunk[] = [];
  for (let m = receiveMessageOnPort(port1); m; m = receiveMessageOnPort(port1)) chunks.push(m.message as Chunk);
  const entityChunks = chunks.filter((c): c is Extract<Chunk, { type: string }> => 'type' in c);
  for (const c of entityChunks) {
    assert.ok(c.items.length <= CHUNK, `${c.items.length} entities in one chunk`);
    assert.equal(c.fps.length, c.items.length);
    // the bound is checked after each entity: a chunk passes 16 KB by one entity at most
    const sizes = c.items.map((e) => JSON.stringify(e).length);
    const total = sizes.reduce((a, b) => a + b, 0);
    assert.ok(total - sizes.at(-1)! < 16 * 1024, `${c.type} chunk of ${total} bytes`);
  }
  const certChunks = entityChunks.filter((c) => c.type === 'certificates');
  assert.ok(certChunks.length >= 2, `30 certificates came in ${certChunks.length} chunk(s)`);
  const routeChunks = entityChunks.filter((c) => c.type === 'routes');
  assert.ok(routeChunks.length >= 3, `300 routes came in ${routeChunks.length} chunk(s)`);

  // the same entities, assembled on this side, in file order
  const again = new MessageChannel();
  for (const c of chunks) again.port2.postMessage(c);
  const { config, fingerprints } = await assemble(reply.formatVersion, new ChunkReader(again.port1), new Slicer());
  again.port2.close();
  assert.deepEqual(
    config.routes.map((r) => r.name),
    Array.from({ length: 300 }, (_, i) => `r${i}`),
  );
  assert.equal(config.certificates.length, 30);
  assert.equal(fingerprints.routes.size, 300);
  assert.equal(new Set(fingerprints.certificates.values()).size, 30, 'one fingerprint per distinct certificate');
});
