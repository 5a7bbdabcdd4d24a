import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText } from '../../src/config/load.js';
import { lintConfig } from '../../src/gitops/lint.js';
import { LINT_CODES, type Finding, type LintCode, type LintOptions } from '../../src/gitops/lint-types.js';
import { block, pki } from '../config/certs.js';

function lint(text: string, opts: LintOptions = {}): Finding[] {
  const r = loadConfigText(text, 'kong.yml', { expiry: false });
  if (!r.ok) throw new Error(r.problems.map((p) => `${p.line}:${p.column} ${p.message}`).join('\n'));
  return lintConfig(r.config, opts);
}

function codes(fs: Finding[], code: LintCode): Finding[] {
  return fs.filter((f) => f.code === code);
}

const HEAD = '_format_version: "3.0"\n';

/** A service with one route per line of `routes` (flow mappings). */
function svc(name: string, routes: string[], port = 1): string {
  return `  - name: ${name}\n    url: tcp://10.0.0.${port}:1\n    routes:\n${routes.map((r) => `      - ${r}\n`).join('')}`;
}

const cases: Record<LintCode, { bad: () => string; good: () => string; expect?: RegExp; line?: number }> = {
  'route-shadowed': {
    bad: () =>
      HEAD +
      'services:\n' +
      svc('a', [
        '{ name: wide, protocols: [tcp], destinations: [{ port: 6379 }] }',
        '{ name: narrow, protocols: [tcp], destinations: [{ port: 6379 }], sources: [{ ip: 0.0.0.0/0 }, { ip: "::/0" }] }',
      ]),
    good: () =>
      HEAD +
      'services:\n' +
      svc('a', [
        '{ name: wide, protocols: [tcp], destinations: [{ port: 6379 }] }',
        '{ name: narrow, protocols: [tcp], destinations: [{ port: 6379 }], sources: [{ ip: 10.0.0.0/8 }] }',
      ]),
    expect: /route 'wide' can never win: every connection it matches goes to route 'narrow' \(priority \d+ > \d+\)/,
    line: 6,
  },
  'route-tie': {
    bad: () =>
      HEAD +
      'services:\n' +
      svc('a', [
        '{ name: one, protocols: [tcp], sources: [{ ip: 10.0.0.1 }] }',
        '{ name: two, protocols: [tcp], sources: [{ ip: 10.0.0.1 }, { ip: 10.0.0.2 }] }',
      ]),
    good: () =>
      HEAD +
      'services:\n' +
      svc('a', [
        '{ name: one, protocols: [tcp], sources: [{ ip: 10.0.0.1 }] }',
        '{ name: two, protocols: [tcp], sources: [{ ip: 10.0.0.2 }] }',
      ]),
    expect: /same priority \d+; '(one|two)' wins only because its id sorts first/,
  },
  'route-cidr-overlap': {
    bad: () =>
      HEAD +
      'services:\n' +
      svc(
        'a',
        ['{ name: big, protocols: [tcp], sources: [{ ip: 10.0.0.0/8 }], destinations: [{ port: 1 }, { port: 2 }] }'],
        1,
      ) +
      svc('b', ['{ name: small, protocols: [tcp], sources: [{ ip: 10.1.0.0/16 }], destinations: [{ port: 2 }] }'], 2),
    good: () =>
      HEAD +
      'services:\n' +
      svc(
        'a',
        ['{ name: big, protocols: [tcp], sources: [{ ip: 10.0.0.0/16 }], destinations: [{ port: 1 }, { port: 2 }] }'],
        1,
      ) +
      svc('b', ['{ name: small, protocols: [tcp], sources: [{ ip: 10.1.0.0/16 }], destinations: [{ port: 2 }] }'], 2),
    expect:
      /sources 10\.0\.0\.0\/8 of route 'big' \(service 'a'\) overlaps 10\.1\.0\.0\/16 of route 'small' \(service 'b'\)|sources 10\.1\.0\.0\/16 of route 'small' \(service 'b'\) overlaps 10\.0\.0\.0\/8 of route 'big' \(service 'a'\)/,
  },
  'sni-no-certificate': {
    bad: () =>
      HEAD +
      certs('a.example.com') +
      'services:\n' +
      svc('a', ['{ name: t, protocols: [tls], snis: [a.example.com, b.example.com] }']),
    good: () =>
      HEAD +
      certs('a.example.com', '"*.example.com"') +
      'services:\n' +
      svc('a', ['{ name: t, protocols: [tls], snis: [a.example.com, b.example.com] }']),
    expect: /SNI 'b\.example\.com' of tls route 't' is covered by no certificate/,
  },
  'certificate-sni-unused': {
    bad: () =>
      HEAD +
      certs('a.example.com', 'c.example.com') +
      'services:\n' +
      svc('a', [
        '{ name: t, protocols: [tls], snis: [a.example.com] }',
        '{ name: p, protocols: [tls_passthrough], snis: [c.example.com] }',
      ]),
    good: () =>
      HEAD +
      certs('a.example.com', 'c.example.com') +
      'services:\n' +
      svc('a', ['{ name: t, protocols: [tls], snis: ["*.example.com"] }']),
    expect: /certificate SNI 'c\.example\.com' is used by no tls route/,
  },
  'certificate-expiring': {
    bad: () =>
      HEAD +
      certs('a.example.com', undefined, 'soon') +
      'services:\n' +
      svc('a', ['{ name: t, protocols: [tls], snis: [a.example.com] }']),
    good: () =>
      HEAD +
      certs('a.example.com') +
      'services:\n' +
      svc('a', ['{ name: t, protocols: [tls], snis: [a.example.com] }']),
    expect: /certificate .* \(a\.example\.com\) expires in (9|10) days .*, within 30 days/,
  },
  'certificate-expired': {
    bad: () =>
      HEAD +
      certs('a.example.com', undefined, 'expired') +
      'services:\n' +
      svc('a', ['{ name: t, protocols: [tls], snis: [a.example.com] }']),
    good: () =>
      HEAD +
      certs('a.example.com', undefined, 'soon') +
      'services:\n' +
      svc('a', ['{ name: t, protocols: [tls], snis: [a.example.com] }']),
    expect: /certificate .* expired on Jan {2}1 00:00:00 2001 GMT/,
  },
  'service-unreachable': {
    bad: () =>
      HEAD +
      'services:\n' +
      svc('a', ['{ name: r, protocols: [tcp], destinations: [{ port: 1 }] }']) +
      '  - name: lonely\n    url: tcp://10.0.0.9:1\n  - name: web\n    url: tcp://10.0.0.8:1\n    routes:\n      - { name: h, protocols: [http], paths: [/] }\n',
    good: () => HEAD + 'services:\n' + svc('a', ['{ name: r, protocols: [tcp], destinations: [{ port: 1 }] }']),
    expect: /service 'lonely' is reached by no route: no route names it/,
  },
  'upstream-no-weight': {
    bad: () =>
      HEAD +
      'upstreams:\n  - name: up\n    targets: [{ target: "10.0.0.1:1", weight: 0 }, { target: "10.0.0.2:1", weight: 0 }]\n',
    good: () =>
      HEAD +
      'upstreams:\n  - name: up\n    targets: [{ target: "10.0.0.1:1", weight: 0 }, { target: "10.0.0.2:1", weight: 1 }]\n',
    expect: /every target of upstream 'up' has weight 0 \(2 targets\)/,
  },
  'plugin-protocol-mismatch': {
    bad: () =>
      HEAD +
      'services:\n' +
      svc('a', [
        '{ name: r, protocols: [tcp], destinations: [{ port: 1 }], plugins: [{ name: ip-restriction, protocols: [tls], config: { allow: [10.0.0.0/8] } }] }',
      ]),
    good: () =>
      HEAD +
      'services:\n' +
      svc('a', [
        '{ name: r, protocols: [tcp], destinations: [{ port: 1 }], plugins: [{ name: ip-restriction, protocols: [tls, tcp], config: { allow: [10.0.0.0/8] } }] }',
      ]),
    expect: /plugin 'ip-restriction' on route 'r' never runs: it runs on \[tls\] but the route serves \[tcp\]/,
  },
  'route-not-checked': {
    bad: () =>
      HEAD +
      'services:\n' +
      svc(
        'a',
        Array.from(
          { length: 12 },
          (_, i) =>
            `{ name: r${i}, protocols: [tcp], sources: [{ ip: 10.${i}.0.0/16, port: ${1000 + i} }], destinations: [{ ip: 10.${i}.0.0/16, port: ${2000 + i} }] }`,
        )
          // 'all' is taken by 'lo' and 'hi' together (equal priority, larger ids win as in Kong), by neither alone
          .concat(
            '{ name: all, protocols: [tcp], sources: [{ ip: 0.0.0.0/0 }] }',
            '{ name: lo, protocols: [tcp], sources: [{ ip: 0.0.0.0/1 }] }',
            '{ name: hi, protocols: [tcp], sources: [{ ip: 128.0.0.0/1 }] }',
          ),
      ),
    good: () => HEAD + 'services:\n' + svc('a', ['{ name: all, protocols: [tcp], sources: [{ ip: 0.0.0.0/0 }] }']),
    expect: /route 'all' has more value combinations against the routes near it than lint checks at once \(200\)/,
  },
};

function certs(name: string, other?: string, kind: 'rsa' | 'soon' | 'expired' = 'rsa'): string {
  const p = pki();
  const c =
    kind === 'rsa' ? [p.rsaCert, p.rsaKey] : kind === 'soon' ? [p.soonCert, p.soonKey] : [p.expiredCert, p.expiredKey];
  return `certificates:\n  - cert: ${block(c[0]!, 6)}\n    key: ${block(c[1]!, 6)}\n    snis: [{ name: ${name} }${other ? `, { name: ${other} }` : ''}]\n`;
}

for (const [code, c] of Object.entries(cases) as [LintCode, (typeof cases)[LintCode]][]) {
  const opts = code === 'route-not-checked' ? { maxWitnesses: 200 } : {};
  test(`lint ${code}: a file that triggers it and one that does not`, () => {
    const bad = lint(c.bad(), opts);
    const hit = codes(bad, code);
    assert.equal(hit.length >= 1, true, `expected ${code} in ${JSON.stringify(bad, null, 1)}`);
    assert.equal(hit[0]!.severity, LINT_CODES[code].severity);
    assert.equal(hit[0]!.file, 'kong.yml');
    if (c.expect) assert.match(hit.map((f) => f.message).join('\n'), c.expect);
    if (c.line) assert.equal(hit[0]!.line, c.line);
    assert.deepEqual(codes(lint(c.good(), opts), code), []);
  });
}

test('lint: exact and wildcard SNIs weigh the same, as in Kong: the larger id wins; tls SNI witnesses go through the router', () => {
  const text =
    HEAD +
    'services:\n' +
    svc('a', [
      '{ name: wild, protocols: [tls_passthrough], snis: ["*.example.com"] }',
      '{ name: exact, protocols: [tls_passthrough], snis: [a.example.com] }',
      '{ name: deep, protocols: [tls_passthrough], snis: [x.a.example.com] }',
    ]);
  const fs = lint(text);
  // every name 'exact' and 'deep' match, '*.example.com' matches too, and 'wild' has the larger id
  assert.deepEqual(
    codes(fs, 'route-shadowed')
      .map((f) => f.entity.name)
      .sort(),
    ['deep', 'exact'],
  );
  assert.ok(codes(fs, 'route-shadowed').every((f) => /goes to route 'wild'/.test(f.message)));
});

test('lint: the ignore tag silences a code on its entity (and on the route a pair finding names); --disable drops a code', () => {
  const text =
    HEAD +
    'services:\n' +
    svc('a', [
      '{ name: one, protocols: [tcp], sources: [{ ip: 10.0.0.1 }], tags: [kong-ts.lint.ignore=route-tie, kong-ts.lint.ignore=route-shadowed] }',
      '{ name: two, protocols: [tcp], sources: [{ ip: 10.0.0.1 }] }',
    ]) +
    '  - name: lonely\n    url: tcp://10.0.0.9:1\n    tags: [kong-ts.lint.ignore=all]\n  - name: lonely2\n    url: tcp://10.0.0.9:1\n';
  const fs = lint(text);
  assert.deepEqual(
    fs.map((f) => `${f.code} ${f.entity.name}`),
    ['service-unreachable lonely2'],
  );
  assert.deepEqual(lint(text, { disable: ['service-unreachable'] }), []);
});
