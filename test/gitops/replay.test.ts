import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSessions, replay, ReplayError } from '../../src/gitops/replay.js';
import { cfg, files, runCli, OLD, NEW } from './helpers.js';

const S = (o: Record<string, unknown>) =>
  JSON.stringify({
    protocol: 'tcp',
    client_ip: '10.1.2.3',
    client_port: 5000,
    server_ip: '127.0.0.1',
    server_port: 6379,
    ...o,
  });

test('parseSessions: json lines and the /sessions/recent export; unreadable entries are counted, never fatal', () => {
  const log = [
    S({}),
    'not json',
    S({ server_ip: null }),
    S({ protocol: 'tls', sni: 'App.Example.com', server_port: 443 }),
    '',
  ].join('\n');
  const r = parseSessions(log, 'access.json');
  assert.equal(r.sessions.length, 2);
  assert.equal(r.sessions[1]!.sni, 'app.example.com');
  assert.equal(r.skipped, 2);
  assert.deepEqual(r.skipped_examples, [
    'line 2: not JSON (is the access log in the json format?)',
    'line 3: no server_ip/server_port',
  ]);
  const exp = parseSessions(
    JSON.stringify({ capacity: 10, seen: 1, data: [JSON.parse(S({}))] }, null, 2),
    'recent.json',
  );
  assert.equal(exp.sessions.length, 1);
  assert.throws(
    () => parseSessions('10.0.0.1 [02/Dec/2026:05:00:00 +0000] TCP 200 1 1 0.001\n', 'basic.log'),
    (e: unknown) => e instanceof ReplayError && /json access log|'json'/.test(e.message),
  );
});

test('replay: kept, moved (grouped, with examples), unrouted and never routed', () => {
  const read = parseSessions(
    [
      S({}),
      S({ client_ip: '10.9.9.9' }),
      S({ client_ip: '192.168.1.1' }),
      S({ server_port: 7000 }),
      S({ protocol: 'tls', sni: 'app.example.com', server_port: 443 }),
    ].join('\n'),
    'x',
  );
  const rep = replay(cfg(OLD), cfg(NEW), read);
  // redis (10/8 → 6379) moves from redis-a to redis-b; 7000 loses its route; 192.168.1.1:6379 was never routed
  assert.deepEqual([rep.sessions, rep.kept, rep.moved, rep.unrouted, rep.still_unrouted], [5, 1, 2, 1, 1]);
  assert.deepEqual(
    rep.groups.map((g) => [g.from.route, g.from.service, g.to.route, g.to.service, g.count]),
    [
      ['redis', 'redis-a', 'redis', 'redis-b', 2],
      ['gone-route', 'gone', null, null, 1],
    ],
  );
  assert.deepEqual(rep.groups[0]!.examples, [
    'tcp 10.1.2.3:5000 → 127.0.0.1:6379',
    'tcp 10.9.9.9:5000 → 127.0.0.1:6379',
  ]);
});

test('config diff --replay: usage and unreadable sessions exit 2', async () => {
  const f = files('replay-usage', { 'old.yml': OLD, 'new.yml': NEW, 'basic.log': '10.0.0.1 [x] TCP 200 1 1 0.001\n' });
  const a = await runCli(['config', 'diff', f['old.yml']!, f['new.yml']!, '--fail-on-unrouted']);
  assert.equal(a.code, 2);
  assert.match(a.stderr, /--fail-on-unrouted needs --replay/);
  const b = await runCli(['config', 'diff', f['old.yml']!, f['new.yml']!, '--replay', f['basic.log']!]);
  assert.equal(b.code, 2);
  assert.match(b.stderr, /no session to replay/);
  const c = await runCli(['config', 'diff', f['old.yml']!, f['new.yml']!, '--replay', `${f.dir}/missing.json`]);
  assert.equal(c.code, 2);
  assert.match(c.stderr, /cannot read .*missing\.json: ENOENT/);
});
