/**
 * The dashboard over plain HTTP on a real kong-ts (in process, real sockets): the token rule (bearer, `?token=`
 * once, then the cookie, which opens nothing but GET under /dashboard), what /dashboard/data shows of live traffic
 * and reloads, the explain endpoint, and the small pieces (rates, combining workers' targets).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { Sampler } from '../../src/admin/dashboard-history.js';
import { addTotals, type Totals } from '../../src/metrics/totals.js';
import { ReloadHistory } from '../../src/runtime/reload-history.js';
import { combineTargets } from '../../src/runtime/status-rows.js';
import { startYaml } from '../helpers/instance.js';
import { startEcho } from '../helpers/sockets.js';

const TOKEN = 's3cret-token';

const yaml = (echoPort: number, routes: string) => `_format_version: "3.0"
services:
  - name: echo
    host: up
    port: 1
    protocol: tcp
    routes:
${routes}
upstreams:
  - name: up
    targets: [{ target: 127.0.0.1:${echoPort} }]
`;
const R1 = `      - { name: loopback, protocols: [tcp], sources: [{ ip: 127.0.0.0/8 }], tags: [kong-ts.reload=close] }`;
const R2 = `      - { name: loopback2, protocols: [tcp], sources: [{ ip: 127.0.0.0/8 }], destinations: [{ port: 9 }] }
      - { name: other, protocols: [tcp], sources: [{ ip: 10.0.0.0/8 }] }`;

async function start(t: { after(fn: () => unknown): void }, token?: string) {
  const echo = await startEcho();
  t.after(() => echo.close());
  const ti = await startYaml(yaml(echo.port, R1), {
    settings: { admin_listen: '127.0.0.1:0', ...(token ? { admin_token: token } : {}) },
    tag: 'dash',
  });
  t.after(() => ti.stop());
  return { echo, ti, admin: ti.admin! };
}

async function openSession(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  s.on('error', () => {});
  await once(s, 'connect');
  s.write('hi');
  await once(s, 'data');
  return s;
}

const bearer = { authorization: `Bearer ${TOKEN}` };

test('token rule: bearer anywhere; ?token= once sets a derived cookie that opens only GET under /dashboard', async (t) => {
  const { admin } = await start(t, TOKEN);
  for (const p of ['/dashboard', '/dashboard/data', '/dashboard/explain?source=1.1.1.1:1&destination=1.1.1.1:2']) {
    assert.equal((await fetch(admin + p)).status, 401, p);
    assert.equal((await fetch(admin + p, { headers: bearer })).status, 200, p);
  }
  assert.equal((await fetch(`${admin}/dashboard?token=wrong`, { redirect: 'manual' })).status, 401);
  // a query token is no credential anywhere else
  assert.equal((await fetch(`${admin}/dashboard/data?token=${TOKEN}`)).status, 401);
  assert.equal((await fetch(`${admin}/status?token=${TOKEN}`)).status, 401);

  const res = await fetch(`${admin}/dashboard?token=${TOKEN}`, { redirect: 'manual' });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get('location'), '/dashboard');
  const setCookie = res.headers.get('set-cookie') ?? '';
  assert.match(setCookie, /^kong_ts_dashboard=[^;]+; Path=\/dashboard; HttpOnly; SameSite=Strict$/);
  const cookie = setCookie.split(';')[0]!;
  assert.ok(!cookie.includes(TOKEN), 'the cookie holds a derived value, not the token');

  const page = await fetch(`${admin}/dashboard`, { headers: { cookie } });
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type')!, /^text\/html/);
  assert.match(page.headers.get('content-security-policy')!, /default-src 'none'; script-src 'sha256-/);
  const html = await page.text();
  assert.doesNotMatch(html, /(src|href)="https?:/, 'nothing is fetched from elsewhere');
  assert.equal((await fetch(`${admin}/dashboard/data`, { headers: { cookie } })).status, 200);
  // the cookie opens nothing else: not the rest of the API, not a write
  assert.equal((await fetch(`${admin}/status`, { headers: { cookie } })).status, 401);
  assert.equal((await fetch(`${admin}/services`, { headers: { cookie } })).status, 401);
  assert.equal(
    (
      await fetch(`${admin}/config`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/json' },
        body: '{}',
      })
    ).status,
    401,
  );
  assert.equal((await fetch(`${admin}/dashboard/data`, { method: 'POST', headers: { cookie } })).status, 401);
  assert.equal(
    (await fetch(`${admin}/dashboard/data`, { headers: { cookie: 'kong_ts_dashboard=forged' } })).status,
    401,
  );
});

test('/dashboard/data: routes with open sessions, upstream target counts, listeners, reloads with the policy outcome and a broken reload at file:line:column', async (t) => {
  const { ti, admin, echo } = await start(t);
  const data = async () => await (await fetch(`${admin}/dashboard/data`)).json();
  // no admin_token: the page opens, a stray ?token= changes nothing
  assert.equal((await fetch(`${admin}/dashboard?token=x`, { redirect: 'manual' })).status, 200);
  const s = await openSession(ti.ports[0]!);
  t.after(() => s.destroy());

  let d = await data();
  assert.equal(d.config.generation, 1);
  assert.equal(d.config.last_error, null);
  assert.equal(d.connections.active, 1);
  assert.deepEqual(
    d.routes.map((r: any) => [r.name, r.service, r.protocols, r.priority, r.sources, d.sessions_by_route[r.id]]),
    [['loopback', 'echo', ['tcp'], 16 * 1, ['127.0.0.0/8'], 1]],
  );
  // a page that holds this generation's rows gets the open sessions alone
  const again = await (await fetch(`${admin}/dashboard/data?have=1`)).json();
  assert.equal(again.routes, undefined);
  assert.deepEqual(again.sessions_by_route, d.sessions_by_route);
  assert.equal(d.upstreams[0].name, 'up');
  assert.equal(d.upstreams[0].targets[0].connections, 1);
  assert.deepEqual(
    d.listeners.map((l: any) => [l.kind, l.address]),
    [
      ['tcp', `127.0.0.1:${ti.ports[0]}`],
      ['admin', new URL(admin).host],
    ],
  );
  assert.equal(d.workers, null);
  assert.equal(d.reloads.length, 1);
  assert.equal(d.reloads[0].result, 'loaded');

  // a reload that removes the session's route (tagged close): the history counts the closed session
  assert.equal(await ti.reload(yaml(echo.port, R2)), 'loaded');
  d = await data();
  assert.equal(d.config.generation, 2);
  assert.deepEqual(d.routes.map((r: any) => r.name).sort(), ['loopback2', 'other']);
  assert.equal(d.reloads[0].result, 'loaded');
  assert.equal(d.reloads[0].generation, 2);
  assert.equal(d.reloads[0].trigger, 'signal');
  assert.deepEqual(d.reloads[0].sessions, { kept: 0, drained: 0, closed: 1 });
  assert.ok(d.reloads[0].duration_ms >= 0);

  // a broken file: the error with its place, the live config unchanged
  assert.equal(
    await ti.reload('_format_version: "3.0"\nservices:\n  - name: a\n    url: tcp://127.0.0.1:1\n    bogus: 1\n'),
    'invalid',
  );
  d = await data();
  assert.equal(d.config.generation, 2);
  assert.equal(d.reloads[0].result, 'invalid');
  const p = d.config.last_error.problems[0];
  assert.equal(p.file, ti.file);
  assert.equal(p.line, 5);
  assert.equal(p.column, 5);
  assert.match(`${p.path} ${p.message}`, /bogus/);
});

test('/dashboard/explain answers as `route explain` does, from the live router; bad input is a 400 with a message', async (t) => {
  const { admin } = await start(t);
  const r = await fetch(`${admin}/dashboard/explain?source=127.0.0.5:4000&destination=127.0.0.1:80`);
  const x = await r.json();
  assert.equal(r.status, 200);
  assert.equal(x.winner.name, 'loopback');
  assert.match(
    x.text,
    /^connection: tcp from 127\.0\.0\.5:4000 to 127\.0\.0\.1:80\nwinner: route 'loopback' → service 'echo'/,
  );
  const none = await (await fetch(`${admin}/dashboard/explain?source=10.9.9.9:4000&destination=127.0.0.1:80`)).json();
  assert.equal(none.winner, undefined);
  assert.match(none.others[0].mismatches[0].reason, /no entry of \[127\.0\.0\.0\/8\] matched 10\.9\.9\.9:4000/);
  const bad = await fetch(`${admin}/dashboard/explain?source=nope&destination=127.0.0.1:80`);
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).message, /source must be ip:port/);
  assert.equal(
    (await fetch(`${admin}/dashboard/explain?source=1.1.1.1:1&destination=127.0.0.1:80&protocol=http`)).status,
    400,
  );
});

test('rates: per-second differences of the sampled totals; a counter that restarts counts from zero', async () => {
  const seq: Totals[] = [
    { accepted: 10, bytes_in: 100, bytes_out: 1000, statuses: { 200: 5 } },
    { accepted: 20, bytes_in: 300, bytes_out: 1000, statuses: { 200: 9, 502: 1 } },
    { accepted: 3, bytes_in: 0, bytes_out: 0, statuses: { 200: 2 } },
  ];
  let i = 0;
  const sampler = new Sampler(async () => seq[Math.min(i++, seq.length - 1)]!);
  sampler.start();
  // one sample a second: wait for three (a busy machine may take longer)
  for (let waited = 0; sampler.rates().length < 2 && waited < 15_000; waited += 100)
    await new Promise((r) => setTimeout(r, 100));
  sampler.stop();
  const rates = sampler.rates();
  assert.ok(rates.length >= 2, JSON.stringify(rates));
  const [a, b] = rates;
  // 10 more connections over at least a second
  assert.ok(a!.connections > 0 && a!.connections <= 11, JSON.stringify(a));
  assert.ok(a!.statuses['502']! > 0 && a!.bytes_out === 0);
  assert.ok(b!.connections > 0 && b!.connections <= 3.3, 'a restarted counter counts from 0, never negative');
  assert.deepEqual(addTotals({ accepted: 1, bytes_in: 1, bytes_out: 1, statuses: { 200: 1 } }, seq[1]!), {
    accepted: 21,
    bytes_in: 301,
    bytes_out: 1001,
    statuses: { 200: 10, 502: 1 },
  });
});

test('reload history: bounded, unchanged loads left out, policy outcomes noted before or after the entry', () => {
  const listeners: ((e: any) => void)[] = [];
  const h = new ReloadHistory({ current: undefined, onReload: (fn) => listeners.push(fn) });
  const emit = (e: any) => listeners.forEach((f) => f(e));
  h.notePolicy(1, { kept: 1, drained: 0, closed: 0 }); // a swap runs before the manager's reload event
  emit({ trigger: 'file', at: 3, durationMs: 3, status: 'loaded', generation: 1, hash: 'h1' });
  h.notePolicy(1, { kept: 0, drained: 2, closed: 0 }); // a worker answering later
  emit({ trigger: 'file', at: 4, durationMs: 1, status: 'unchanged', generation: 1, hash: 'h1' });
  assert.equal(h.entries().length, 1);
  assert.deepEqual(h.entries()[0]!.sessions, { kept: 1, drained: 2, closed: 0 });
  for (let g = 2; g < 80; g++)
    emit({ trigger: 'admin', at: g + 10, durationMs: 1, status: 'loaded', generation: g, hash: 'h' });
  assert.equal(h.entries().length, 50);
  assert.equal(h.entries().at(-1)!.generation, 79);
});

test('combineTargets: connections summed per address, the worst health any worker sees', () => {
  const w = (health: any, connections: number) => ({
    up: [
      { id: 't', target: 'a:1', weight: 100, health, addresses: [{ ip: '10.0.0.1', port: 1, health, connections }] },
    ],
  });
  const c = combineTargets([w('HEALTHY', 2), w('UNHEALTHY', 3), undefined]);
  assert.equal(c.up![0]!.health, 'UNHEALTHY');
  assert.equal(c.up![0]!.addresses[0]!.connections, 5);
  assert.equal(c.up![0]!.addresses[0]!.health, 'UNHEALTHY');
});
