/**
 * The load thread's chunks (config/load-job.ts): the main thread copies one chunk at a time between slices, so a
 * chunk is bounded by count and by size (a few large certificates make a chunk, not 128 of them), and every entity
 * arrives once, with its fingerprint, in file order; an entity the main thread already holds arrives as a reference
 * to its object.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { CHUNK, FP_BYTES, runJob, type Chunk, type LoadReply } from '../../src/config/load-job.js';
import { assemble, type Assembled } from '../../src/config/assemble.js';
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

/** Runs a load job and assembles its chunks on this side, against `base` (the previous load's result). */
async function load(text: string, base?: { reply: Extract<LoadReply, { status: 'ok' }>; assembled: Assembled }) {
  const { port1, port2 } = new MessageChannel();
  const reply = runJob(
    {
      id: 1,
      source: { kind: 'bytes', bytes: Buffer.from(text) },
      file: 'kong.yml',
      maxBytes: 1 << 26,
      options: {},
      base: base?.reply.fps,
    },
    port2,
  );
  assert.equal(reply.status, 'ok', JSON.stringify(reply).slice(0, 500));
  if (reply.status !== 'ok') throw new Error('not ok');
  const chunks: Chunk[] = [];
  for (let m = receiveMessageOnPort(port1); m; m = receiveMessageOnPort(port1)) chunks.push(m.message as Chunk);
  const again = new MessageChannel();
  for (const c of chunks) again.port2.postMessage(c);
  const assembled = await assemble(reply.formatVersion, new ChunkReader(again.port1), new Slicer(), base?.assembled);
  again.port2.close();
  return { reply, assembled, chunks };
}

test('a reload sends the entities the main thread holds as references; it reuses their objects', async () => {
  const file = (port: number) => {
    const lines = ['_format_version: "3.0"', 'services:', '  - name: s', '    url: tcp://127.0.0.1:1', '    routes:'];
    for (let i = 0; i < 300; i++)
      lines.push(`      - { name: r${i}, protocols: [tcp], destinations: [{ port: ${i === 7 ? port : 1000 + i} }] }`);
    lines.push('      - { name: open, protocols: [tcp], sources: [{ ip: 10.0.0.0/8 }] }');
    return lines.join('\n') + '\n';
  };
  const first = await load(file(1007));
  assert.equal(first.reply.reused, 0);
  assert.equal(first.reply.fps.routes?.length, 301 * FP_BYTES);
  // origins cross only for routes without destinations (the one warning that names a position)
  assert.deepEqual(Object.keys(first.assembled.config.origins), [first.assembled.config.routes[300]!.id]);

  const second = await load(file(9999), first);
  assert.equal(second.reply.reused, second.reply.entities - 1, 'all but the edited route by reference');
  const refs = second.chunks.flatMap((c) => ('items' in c ? c.items.filter((x) => typeof x === 'number') : []));
  assert.equal(refs.length, second.reply.reused);
  const [a, b] = [first.assembled, second.assembled];
  for (let i = 0; i < 301; i++) {
    const same = a.config.routes[i] === b.config.routes[i];
    assert.equal(same, i !== 7, `route ${i}: ${same ? 'the same object' : 'a new object'}`);
    const id = b.config.routes[i]!.id;
    assert.equal(a.fingerprints.routes.get(id) === b.fingerprints.routes.get(id), i !== 7);
  }
  assert.equal(b.config.services[0], a.config.services[0]);
  assert.deepEqual(b.config.routes[7]!.destinations, [{ port: 9999 }]);
  assert.ok(Object.isFrozen(b.config.routes[7]));

  // the same config as a load with nothing to refer to
  const fresh = await load(file(9999));
  assert.deepEqual(b.config, fresh.assembled.config);
  assert.deepEqual(b.fingerprints, fresh.assembled.fingerprints);
  // and back: the first file again refers to the second's objects
  const third = await load(file(1007), second);
  assert.equal(third.reply.reused, third.reply.entities - 1);
  assert.deepEqual(third.assembled.config, first.assembled.config);
});

test('a reference outside the base is refused, not assembled into a config', async () => {
  const { port1, port2 } = new MessageChannel();
  port2.postMessage({ type: 'routes', items: [5], fps: [''] } satisfies Chunk);
  await assert.rejects(assemble('3.0', new ChunkReader(port1), new Slicer()), /routes\[5\], not in the base/);
  port2.close();
});
