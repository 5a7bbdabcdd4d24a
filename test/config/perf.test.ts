import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText } from '../../src/config/load.js';
import { block, manyPairs } from './certs.js';

test('5,000 routes and 500 certificates load in well under a few seconds', (t) => {
  const pairs = manyPairs(500);
  const out: string[] = ['_format_version: "3.0"', 'services:'];
  for (let s = 0; s < 500; s++) {
    out.push(
      `- name: svc-${s}`,
      `  url: ${s % 2 ? 'tls' : 'tcp'}://10.${s >> 8}.${s & 255}.1:${1000 + s}`,
      '  routes:',
    );
    for (let r = 0; r < 10; r++) {
      const n = s * 10 + r;
      if (r % 3 === 0)
        out.push(`  - name: r-${n}`, '    protocols: [tls]', `    snis: [h${n}.example.com, "*.w${n}.example.com"]`);
      else if (r % 3 === 1)
        out.push(
          `  - name: r-${n}`,
          '    protocols: [tcp]',
          `    sources: [{ip: 10.${(n >> 8) & 255}.${n & 255}.0/24}, {ip: "2001:db8:${n.toString(16)}::/48"}]`,
        );
      else
        out.push(`  - protocols: [tcp, udp]`, `    destinations: [{ip: 192.168.${n & 255}.${r}, port: ${2000 + r}}]`);
    }
  }
  out.push('certificates:');
  pairs.forEach((p, i) =>
    out.push(
      `- cert: ${block(p.cert, 4)}`,
      `  key: ${block(p.key, 4)}`,
      `  snis: [h${i}.example.net, "*.x${i}.example.net"]`,
    ),
  );
  const text = out.join('\n') + '\n';

  const t0 = process.hrtime.bigint();
  const r = loadConfigText(text, 'big.yml');
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  t.diagnostic(`loaded ${(text.length / 1e6).toFixed(1)} MB, 5000 routes + 500 certificates in ${ms.toFixed(0)} ms`);
  assert.ok(
    r.ok,
    r.problems
      .slice(0, 3)
      .map((p) => p.message)
      .join('\n'),
  );
  assert.equal(r.config.routes.length, 5000);
  assert.equal(r.config.certificates.length, 500);
  assert.equal(r.config.snis.length, 1000);
  assert.ok(ms < 60_000, `took ${ms} ms`); // reported above; the bound only catches a pathological slowdown
});
