import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RouteEntity } from '../../src/config/types.js';
import { declarativeSchema } from '../../src/config/validate.js';
import { affectedRoutes } from '../../src/runtime/affected-routes.js';
import { compileRoute, compileService, type StreamRoute } from '../../src/router/compile.js';
import { explainContext, explainWith } from '../../src/router/explain.js';
import {
  MATCH_FIELDS,
  firstMismatch,
  matchKey,
  priorityOf,
  priorityParts,
  priorityText,
  type MatchFieldName,
} from '../../src/router/match-fields.js';
import type { CompiledService, ConnInfo } from '../../src/router/types.js';
import { route, service } from '../helpers/entities.js';
import { cfg } from '../gitops/helpers.js';

/**
 * The route fields that are not match fields, and why. tsc fails on this Record when RouteEntity gains a key that
 * is neither here nor in the table; the schema test below fails when the schema does.
 */
const NON_MATCH_ENTITY: Record<Exclude<keyof RouteEntity, MatchFieldName>, string> = {
  id: 'identity',
  name: 'identity',
  tags: 'labels',
  service: 'where matched connections go (diff compares it on its own)',
  preserve_host: 'upstream TLS only',
};
/** Schema properties of a route that are not match fields: bookkeeping, nesting, HTTP-only or expressions-only. */
const NON_MATCH_SCHEMA = new Set([
  ...Object.keys(NON_MATCH_ENTITY),
  '_comment',
  '_ignore',
  'created_at',
  'updated_at',
  'plugins',
  'filter_chains',
  'methods',
  'hosts',
  'paths',
  'headers',
  'https_redirect_status_code',
  'regex_priority',
  'strip_path',
  'path_handling',
  'request_buffering',
  'response_buffering',
  'expression',
  'priority',
]);

const NAMES = MATCH_FIELDS.map((f) => f.name);

test('every route field of the schema and of the normalized route is a match field or a listed non-match field', () => {
  const defs = declarativeSchema().definitions;
  for (const def of ['route', 'service_route']) {
    const props = Object.keys(defs![def]!.properties!);
    for (const p of props)
      assert.ok(
        NAMES.includes(p as MatchFieldName) || NON_MATCH_SCHEMA.has(p),
        `${def}.${p}: add it to MATCH_FIELDS or to the non-match list`,
      );
    for (const n of NAMES) assert.ok(props.includes(n), `${def} has no property ${n}`);
  }
  const c = cfg(`_format_version: "3.0"
services:
  - name: s
    url: tcp://10.0.0.1:1
    routes:
      - { name: r, protocols: [tls], snis: [a.example.com], sources: [{ ip: 10.0.0.0/8 }], destinations: [{ port: 1 }], preserve_host: true, tags: [t] }
`);
  for (const k of Object.keys(c.routes[0]!)) {
    assert.ok(NAMES.includes(k as MatchFieldName) || k in NON_MATCH_ENTITY, `normalized route key ${k}`);
  }
  for (const n of NAMES) assert.ok(n in c.routes[0]!, `normalize leaves out ${n}`);
});

const services = new Map<string, CompiledService>([['s1', compileService(service({ id: 's1' }))]]);
const compiled = (e: RouteEntity): StreamRoute => compileRoute(e, services)!;
const base: ConnInfo = {
  protocol: 'tls',
  srcIp: '10.0.0.1',
  srcPort: 40000,
  dstIp: '127.0.0.1',
  dstPort: 443,
  sni: 'a.example.com',
};
/** A route every field of which lets `base` through. */
const full = (over: Partial<RouteEntity> = {}): RouteEntity =>
  route({
    id: '00000000-0000-4000-8000-000000000001',
    service: 's1',
    protocols: ['tls'],
    snis: ['a.example.com'],
    sources: [{ ip: '10.0.0.0/8' }],
    destinations: [{ ip: '127.0.0.1', port: 443 }],
    ...over,
  });
/** Per field: a change of the route that makes only that field miss `base`. */
const MISS: Record<MatchFieldName, Partial<RouteEntity>> = {
  protocols: { protocols: ['tcp'], snis: null },
  destinations: { destinations: [{ port: 444 }] },
  sources: { sources: [{ ip: '192.168.0.0/16' }] },
  snis: { snis: ['b.example.com'] },
};

test('firstMismatch tests every field of the table, in the table order', () => {
  assert.equal(firstMismatch(compiled(full()), base, { src: null, dst: null }, 443, 0), -1);
  for (const [i, f] of MATCH_FIELDS.entries()) {
    const miss = MISS[f.name];
    assert.ok(miss, `no test case for the match field ${f.name}`);
    const r = compiled(full(miss));
    // protocols tcp without snis: the connection must be tcp for the other fields to be asked
    const conn = f.name === 'protocols' ? { ...base, protocol: 'udp' as const } : base;
    assert.equal(firstMismatch(r, conn, { src: null, dst: null }, 443, 0), i, f.name);
    assert.equal(firstMismatch(r, conn, { src: null, dst: null }, 443, i + 1), -1, `${f.name}: only this field misses`);
  }
});

test('explain reports the same first failing field as the matcher, for each field and each combination', () => {
  const routes: RouteEntity[] = [];
  // every subset of fields missing at once
  for (let mask = 1; mask < 1 << NAMES.length; mask++) {
    let over: Partial<RouteEntity> = {};
    NAMES.forEach((n, i) => {
      if (mask & (1 << i)) over = { ...over, ...MISS[n] };
    });
    routes.push(full({ ...over, id: `00000000-0000-4000-8000-${String(mask).padStart(12, '0')}`, name: `m${mask}` }));
  }
  const config = { ...cfg('_format_version: "3.0"\n'), services: [service({ id: 's1' })], routes };
  const ctx = explainContext(config);
  const firsts = new Set<string>();
  for (const conn of [
    base,
    { ...base, protocol: 'udp' as const, sni: undefined },
    { ...base, sni: undefined },
    { ...base, srcIp: '192.168.1.1' },
  ]) {
    const x = explainWith(ctx, conn);
    for (const v of x.others) {
      const r = (ctx.router.routes as readonly StreamRoute[]).find((c) => c.id === v.id)!;
      const i = firstMismatch(r, conn, { src: null, dst: null }, conn.dstPort, 0);
      if (i < 0) {
        assert.equal(v.matched, true);
        continue;
      }
      assert.equal(v.mismatches[0]!.field, MATCH_FIELDS[i]!.name, `${v.name}: ${JSON.stringify(conn)}`);
      assert.equal(v.mismatches[0]!.reason, MATCH_FIELDS[i]!.why(r, conn, conn.dstPort));
      firsts.add(v.mismatches[0]!.field);
      // the rest follow in the table's order
      const order = v.mismatches.map((m) => NAMES.indexOf(m.field as MatchFieldName));
      assert.deepEqual(
        order,
        [...order].sort((a, b) => a - b),
      );
    }
  }
  assert.deepEqual([...firsts].sort(), [...NAMES].sort(), 'each field was the first miss at least once');
});

test('a change of any match field is a routing change for the reload policy; reordering a field is not', () => {
  const one = full();
  const key = matchKey(one);
  for (const n of NAMES) {
    const other = full(MISS[n]);
    assert.notEqual(matchKey(other), key, n);
    const oldCfg = { ...cfg('_format_version: "3.0"\n'), services: [service({ id: 's1' })], routes: [one] };
    assert.equal(affectedRoutes(oldCfg, { ...oldCfg, routes: [other] }).get(one.id), 'changed', n);
  }
  const reordered = full({
    sources: [{ ip: '172.16.0.0/12' }, { ip: '10.0.0.0/8' }],
    snis: ['b.example.com', 'a.example.com'],
  });
  const sorted = full({
    sources: [{ ip: '10.0.0.0/8' }, { ip: '172.16.0.0/12' }],
    snis: ['a.example.com', 'b.example.com'],
  });
  assert.equal(matchKey(reordered), matchKey(sorted));
});

test('priority is the sum of its parts, and explain writes the same parts', () => {
  const cases: [Partial<RouteEntity>, number, string][] = [
    [{ protocols: ['tcp'], snis: null, sources: null, destinations: [{ port: 1 }] }, 4, '4 (destinations)'],
    [{ protocols: ['tcp'], snis: null, sources: [{ ip: '10.0.0.0/8' }], destinations: null }, 16, '16 (sources: 1×16)'],
    [
      { protocols: ['tcp'], snis: null },
      256 + 16 + 12,
      '256 (sources and destinations) + 16 (sources: 1×16) + 12 (destinations)',
    ],
    [{ sources: null, destinations: null }, 256, '256 (snis)'],
    [{}, 256 + 16 + 12, '256 (snis) + 16 (sources: 1×16) + 12 (destinations)'],
  ];
  for (const [over, priority, text] of cases) {
    const r = compiled(full(over));
    assert.equal(r.priority, priority, text);
    assert.equal(priorityOf(r), priority);
    assert.equal(
      priorityParts(r).reduce((s, p) => s + p.points, 0),
      priority,
    );
    assert.equal(priorityText(r), text);
  }
});
