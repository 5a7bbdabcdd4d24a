import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText } from '../../src/config/load.js';
import { diffConfigs } from '../../src/gitops/diff.js';
import { affectedRoutes } from '../../src/runtime/affected-routes.js';
import { explainContext, explainWith } from '../../src/router/explain.js';
import { block, pki } from '../config/certs.js';
import { files, runCli, runRoute } from './helpers.js';

/** 500 services × 10 routes and 500 certificates (one PEM pair, each with its own id and SNIs); `v2` edits ~10 %. */
function bigFile(v2: boolean): string {
  const p = pki();
  const out: string[] = ['_format_version: "3.0"', 'services:'];
  for (let s = 0; s < 500; s++) {
    const port = v2 && s % 50 === 0 ? 2000 + s : 1000 + s;
    out.push(`- name: svc-${s}`, `  url: ${s % 2 ? 'tls' : 'tcp'}://10.${s >> 8}.${s & 255}.1:${port}`, '  routes:');
    for (let r = 0; r < 10; r++) {
      const n = s * 10 + r;
      if (v2 && n % 97 === 0) continue; // removed
      if (r % 3 === 0)
        out.push(`  - name: r-${n}`, '    protocols: [tls]', `    snis: [h${n}.example.com, "*.w${n}.example.com"]`);
      else if (r % 3 === 1)
        out.push(
          `  - name: r-${n}`,
          '    protocols: [tcp]',
          `    sources: [{ip: 10.${(n >> 8) & 255}.${n & 255}.0/24}, {ip: "2001:db8:${n.toString(16)}::/48"}]`,
        );
      else
        out.push(
          `  - name: r-${n}`,
          '    protocols: [tcp, udp]',
          `    destinations: [{ip: 192.168.${n & 255}.${r}, port: ${v2 && n % 31 === 0 ? 3000 : 2000 + r}}]`,
        );
    }
    if (v2 && s % 100 === 0)
      out.push(`  - name: added-${s}`, '    protocols: [tcp]', `    destinations: [{port: ${40000 + s}}]`);
  }
  out.push('certificates:');
  for (let i = 0; i < 500; i++) {
    const pair = v2 && i % 100 === 0 ? { cert: p.ecCert, key: p.ecKey } : { cert: p.rsaCert, key: p.rsaKey };
    const id = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
    out.push(
      `- id: ${id}`,
      `  cert: ${block(pair.cert, 4)}`,
      `  key: ${block(pair.key, 4)}`,
      `  snis: [h${i}.example.net, "*.x${i}.example.net"]`,
    );
  }
  return out.join('\n') + '\n';
}

function ms(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

test('5,000 routes and 500 certificates: diff, affectedRoutes and explain are fast, in process and through the CLI', async (t) => {
  const [a, b] = [bigFile(false), bigFile(true)];
  const la = loadConfigText(a, 'a.yml'),
    lb = loadConfigText(b, 'b.yml');
  assert.ok(
    la.ok && lb.ok,
    la.problems
      .concat(lb.problems)
      .slice(0, 3)
      .map((p) => p.message)
      .join('\n'),
  );
  assert.equal(la.config.routes.length, 5000);
  assert.equal(la.config.certificates.length, 500);

  let t0 = process.hrtime.bigint();
  const d = diffConfigs(la.config, lb.config);
  const diffMs = ms(t0);
  t0 = process.hrtime.bigint();
  const aff = affectedRoutes(la.config, lb.config);
  const affMs = ms(t0);
  t0 = process.hrtime.bigint();
  const ctx = explainContext(la.config);
  const buildMs = ms(t0);
  t0 = process.hrtime.bigint();
  const x = explainWith(ctx, {
    protocol: 'tls',
    srcIp: '10.0.0.1',
    srcPort: 1,
    dstIp: '127.0.0.1',
    dstPort: 443,
    sni: 'h30.example.com',
  });
  const explainMs = ms(t0);
  t.diagnostic(
    `in process: diff ${diffMs.toFixed(0)} ms, affectedRoutes ${affMs.toFixed(1)} ms, explain compile ${buildMs.toFixed(0)} ms + one connection ${explainMs.toFixed(1)} ms`,
  );
  assert.equal(x.winner?.name, 'r-30');
  assert.equal(x.others.length, 4999);
  const removed = [...aff.values()].filter((k) => k === 'removed').length;
  assert.equal(removed, 52); // n % 97 === 0 for n < 5000
  assert.ok(aff.size > removed + 100, `${aff.size} affected`);
  assert.equal(d.counts.added, 5);
  assert.equal(d.entities.filter((e) => e.type === 'certificates').length, 5);
  assert.ok(
    d.entities
      .filter((e) => e.type === 'certificates')
      .every((e) => e.fields!.some((f) => f.field === 'key' && f.secret)),
  );
  // timings are reported above; the bounds only catch a pathological slowdown, with room for a busy machine
  assert.ok(diffMs < 30_000 && affMs < 10_000 && explainMs < 10_000, 'not pathologically slow');

  const f = files('perf', { 'a.yml': a, 'b.yml': b });
  const timed = async (name: string, run: () => Promise<{ code: number | null }>, code: number) => {
    const t1 = process.hrtime.bigint();
    const r = await run();
    const took = ms(t1);
    assert.equal(r.code, code, name);
    return `${name} ${took.toFixed(0)} ms`;
  };
  // a CLI run loads both 2 MB files (500 certificates checked each): seconds alone, a minute on a loaded 2-core machine
  const slow = { timeoutMs: 180_000 };
  const cli = [
    await timed('config parse', () => runCli(['config', 'parse', f['a.yml']!], slow), 0),
    await timed('config diff', () => runCli(['config', 'diff', f['a.yml']!, f['b.yml']!], slow), 1),
    await timed(
      'config diff --format json',
      () => runCli(['config', 'diff', '--format', 'json', f['a.yml']!, f['b.yml']!], slow),
      1,
    ),
    await timed(
      'route explain',
      () =>
        runRoute(
          [
            'explain',
            '-c',
            f['a.yml']!,
            '--sni',
            'h30.example.com',
            '--source',
            '10.0.0.1:1',
            '--destination',
            '127.0.0.1:443',
          ],
          slow,
        ),
      0,
    ),
  ];
  t.diagnostic(`CLI wall time (process start included): ${cli.join(', ')}`);
});
