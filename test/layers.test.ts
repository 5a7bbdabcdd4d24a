import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { ROOT } from '../src/paths.js';

// The import graph of src/, type-only imports included: ESLint's import-x/no-cycle skips those, but a type cycle
// still ties two files together.
function importGraph(): Map<string, string[]> {
  const src = join(ROOT, 'src');
  const files = readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  const graph = new Map<string, string[]>();
  const re = /^\s*(?:import|export)\s[^'";]*?['"](\.[^'"]+)['"]/gms;
  for (const f of files) {
    const text = readFileSync(join(src, f), 'utf8');
    const deps = [...text.matchAll(re)].map((m) => normalize(join(dirname(f), m[1]!)).replace(/\.js$/, '.ts'));
    graph.set(
      f,
      deps.filter((d) => files.includes(d)),
    );
  }
  return graph;
}

/** Every file pair that imports each other through some path, as sorted `a <-> b` strings of the cycle's files. */
function cycles(graph: Map<string, string[]>): string[] {
  let next = 0;
  const index = new Map<string, number>(),
    low = new Map<string, number>(),
    stack: string[] = [],
    on = new Set<string>();
  const out: string[] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      on.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1) out.push(scc.sort().join(' <-> '));
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out.sort();
}

test('src/ has no import cycle, type-only imports included', () => {
  assert.deepEqual(cycles(importGraph()), []);
});

test('layers import one way: what a lower layer must not import', () => {
  const forbidden: Record<string, string[]> = {
    net: ['admin', 'cli', 'cluster', 'config', 'gitops', 'process', 'proxy', 'router', 'runtime', 'udp'],
    config: ['admin', 'cli', 'cluster', 'gitops', 'process', 'proxy', 'runtime', 'udp'],
    runtime: ['admin', 'cli', 'cluster', 'gitops', 'process'],
    metrics: ['admin', 'cli', 'cluster', 'gitops', 'process', 'runtime'],
    process: ['admin', 'cli', 'cluster'],
    cluster: ['cli'],
    admin: ['cli', 'cluster', 'process'],
    gitops: ['admin', 'cli', 'cluster', 'process'],
    router: ['admin', 'cli', 'cluster', 'gitops', 'process', 'runtime'],
  };
  // A cluster primary starts the admin API as cli/start.ts does, through its server and nothing else of it: what
  // both need besides (reload history, totals, status rows) lives below them, in runtime/ and metrics/.
  const onlyThrough: Record<string, Record<string, string[]>> = {
    cluster: { admin: ['admin/server.ts'] },
  };
  const layer = (f: string): string => f.split('/')[0]!.replace(/\.ts$/, '');
  const bad: string[] = [];
  for (const [f, deps] of importGraph()) {
    for (const d of deps) {
      const entries = onlyThrough[layer(f)]?.[layer(d)];
      if (forbidden[layer(f)]?.includes(layer(d)) || (entries && !entries.includes(d))) bad.push(`${f} -> ${d}`);
    }
  }
  assert.deepEqual(bad, []);
});

test('the cycle finder sees a cycle through type-only imports', () => {
  const g = new Map([
    ['a.ts', ['b.ts']],
    ['b.ts', ['c.ts']],
    ['c.ts', ['a.ts']],
    ['d.ts', ['a.ts']],
  ]);
  assert.deepEqual(cycles(g), ['a.ts <-> b.ts <-> c.ts']);
});
