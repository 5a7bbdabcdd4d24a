import { test } from 'node:test';
import assert from 'node:assert/strict';
import { files, runCli } from './helpers.js';

const TIE = `_format_version: "3.0"
services:
  - name: a
    url: tcp://10.0.0.1:1
    routes:
      - { name: one, protocols: [tcp], sources: [{ ip: 10.0.0.1 }] }
      - { name: two, protocols: [tcp], sources: [{ ip: 10.0.0.1 }] }
  - name: lonely
    url: tcp://10.0.0.9:1
`;
const CLEAN = `_format_version: "3.0"
services:
  - name: a
    url: tcp://10.0.0.1:1
    routes:
      - { name: one, protocols: [tcp], sources: [{ ip: 10.0.0.1 }] }
`;

test('config lint text: file:line:column, severity, code, sentence; exit 1 at the default --fail-on warning', async () => {
  const f = files('lint-text', { 'tie.yml': TIE, 'clean.yml': CLEAN });
  const r = await runCli(['config', 'lint', f['tie.yml']!, f['clean.yml']!]);
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.ok(
    lines.some((l) =>
      l.startsWith(`${f['tie.yml']}:8:5: warning: service-unreachable: service 'lonely' is reached by no route`),
    ),
    r.stdout,
  );
  assert.ok(
    lines.some((l) =>
      new RegExp(`^${f['tie.yml']}:\\d:9: warning: route-shadowed: route '(one|two)' can never win`).test(l),
    ),
    r.stdout,
  );
  assert.ok(
    lines.some((l) => / warning: route-tie: routes /.test(l)),
    r.stdout,
  );
  assert.match(lines.at(-1)!, /^3 findings \(0 errors, 3 warnings, 0 info\)$/);
  const clean = await runCli(['config', 'lint', f['clean.yml']!]);
  assert.equal(clean.code, 0);
  assert.equal(clean.stdout, 'no findings\n');
});

test('config lint: --fail-on error passes warnings; --disable drops codes; json and github formats', async () => {
  const f = files('lint-fmt', { 'tie.yml': TIE });
  const r = await runCli(['config', 'lint', '--fail-on', 'error', f['tie.yml']!]);
  assert.equal(r.code, 0);
  const d = await runCli([
    'config',
    'lint',
    '--disable',
    'route-tie,route-shadowed',
    '--disable',
    'service-unreachable',
    f['tie.yml']!,
  ]);
  assert.equal(d.code, 0);
  assert.equal(d.stdout, 'no findings\n');
  const j = await runCli(['config', 'lint', '--format', 'json', f['tie.yml']!]);
  assert.equal(j.code, 1);
  const doc = JSON.parse(j.stdout) as {
    counts: Record<string, number>;
    files: {
      file: string;
      hash: string;
      findings: { code: string; line: number; column: number; entity: { name: string } }[];
    }[];
  };
  assert.deepEqual(doc.counts, { error: 0, warning: 3, info: 0 });
  assert.equal(doc.files[0]!.file, f['tie.yml']);
  assert.match(doc.files[0]!.hash, /^[0-9a-f]{32}$/);
  const u = doc.files[0]!.findings.find((x) => x.code === 'service-unreachable')!;
  assert.deepEqual([u.line, u.column, u.entity.name], [8, 5, 'lonely']);
  const g = await runCli(['config', 'lint', '--format', 'github', f['tie.yml']!]);
  const esc = f['tie.yml']!.replace(/:/g, '%3A').replace(/,/g, '%2C');
  assert.ok(
    g.stdout
      .split('\n')
      .includes(
        `::warning file=${esc},line=8,col=5,title=kong-ts lint service-unreachable::service 'lonely' is reached by no route: no route names it`,
      ),
    g.stdout,
  );
});

test('config lint: usage errors and files that do not load exit 2', async () => {
  const f = files('lint-usage', { 'tie.yml': TIE, 'bad.yml': '_format_version: "3.0"\nservices: [{ name: a }]\n' });
  for (const args of [
    ['--format', 'xml'],
    ['--fail-on', 'sometimes'],
    ['--disable', 'no-such-code'],
    ['--expiry-days', 'soon'],
  ]) {
    const r = await runCli(['config', 'lint', ...args, f['tie.yml']!]);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, /^Error: /);
  }
  const bad = await runCli(['config', 'lint', f['bad.yml']!]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Failed parsing:\n.*bad\.yml:2:\d+: error/);
  const list = await runCli(['config', 'lint', '--list-codes', f['tie.yml']!]);
  assert.match(list.stdout, /^route-shadowed \(warning\): /m);
});
