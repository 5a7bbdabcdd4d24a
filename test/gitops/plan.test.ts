import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { cfg, files, NEW, OLD, runCli } from './helpers.js';

interface Fake {
  url: string;
  server: Server;
  requests: string[];
}

/**
 * An admin API that follows the contract `config plan` reads (GET /config, /status, /sessions, /): the real
 * AdminServer did not serve /config and /sessions yet when this was written.
 */
async function fakeAdmin(opts: {
  text: string;
  sessions?: Record<string, number>;
  settings?: Record<string, unknown>;
  token?: string;
}): Promise<Fake> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (opts.token && req.headers.authorization !== `Bearer ${opts.token}`)
      return send(401, { message: 'Unauthorized' });
    if (req.url === '/config') return send(200, { config: opts.text });
    if (req.url === '/status')
      return send(200, {
        configuration_hash: createHash('md5').update(opts.text).digest('hex'),
        configuration_generation: 3,
      });
    if (req.url === '/') return send(200, { configuration: { database: 'off', ...opts.settings } });
    if (req.url === '/sessions' && opts.sessions) {
      return send(200, { total: Object.values(opts.sessions).reduce((a, b) => a + b, 0) + 2, by_route: opts.sessions });
    }
    send(404, { message: 'Not found' });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server, requests };
}

const id = (name: string) => cfg(OLD).routes.find((r) => r.name === name)!.id;

test('config plan: the diff against the live config and the open sessions each affected route would lose', async (t) => {
  const admin = await fakeAdmin({
    text: OLD,
    token: 'sekret',
    sessions: { [id('redis')]: 3, [id('gone-route')]: 1, [id('web-sni')]: 2 },
    settings: { reload_session_policy: 'close', reload_drain_timeout: 30000 },
  });
  t.after(() => admin.server.close());
  const f = files('plan', { 'kong.yml': NEW });
  const r = await runCli(['config', 'plan', f['kong.yml']!, '--admin', admin.url, '--token', 'sekret']);
  assert.equal(r.code, 1, r.stderr);
  const hash = (s: string) => createHash('md5').update(s).digest('hex');
  assert.ok(
    r.stdout.startsWith(`--- ${admin.url}/config (hash ${hash(OLD)})\n+++ ${f['kong.yml']} (hash ${hash(NEW)})\n`),
    r.stdout,
  );
  assert.match(
    r.stdout,
    /^ {2}route 'redis' now sends dst :6379 from 10\.0\.0\.0\/8 to service 'redis-b' \(was 'redis-a'\)$/m,
  );
  assert.ok(
    r.stdout.endsWith(
      [
        'open sessions: 8; on routes this reload removes or changes:',
        "  route 'gone-route': 1 open session, removed → policy close",
        "  route 'redis': 3 open sessions, changed → policy close",
        "  route 'web-sni': 2 open sessions, changed → policy drain (closed after 30000 ms)",
        'recent sessions: none to replay (the proxy saw none yet, or its admin API has no /sessions/recent)',
        '',
      ].join('\n'),
    ),
    r.stdout,
  );

  const j = await runCli(['config', 'plan', f['kong.yml']!, '--admin', admin.url, '--format', 'json'], {
    env: { KONG_ADMIN_TOKEN: 'sekret' },
  });
  assert.equal(j.code, 1, j.stderr);
  const plan = JSON.parse(j.stdout);
  assert.equal(plan.up_to_date, false);
  assert.equal(plan.open_sessions, 8);
  assert.deepEqual(plan.sessions[2], {
    id: id('web-sni'),
    route: 'web-sni',
    sessions: 2,
    effect: 'changed',
    policy: 'drain',
    drain_timeout: 30000,
  });
});

test('config plan: up to date exits 0; no /sessions is reported, not fatal; default policy keep', async (t) => {
  const admin = await fakeAdmin({ text: OLD });
  t.after(() => admin.server.close());
  const f = files('plan-same', { 'kong.yml': OLD, 'new.yml': NEW });
  const r = await runCli(['config', 'plan', f['kong.yml']!, '--admin', admin.url + '/']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^no differences$/m);
  assert.match(r.stdout, /open sessions: unknown \(the admin API has no \/sessions\)/);
  const withSessions = await fakeAdmin({ text: OLD, sessions: { [id('gone-route')]: 4 } });
  t.after(() => withSessions.server.close());
  const keep = await runCli(['config', 'plan', f['new.yml']!, '--admin', withSessions.url]);
  assert.equal(keep.code, 1);
  assert.match(keep.stdout, /route 'gone-route': 4 open sessions, removed → policy keep$/m);
});

test('config plan: trouble exits 2 (unreachable admin, refused token, invalid file, bad URL)', async (t) => {
  const admin = await fakeAdmin({ text: OLD, token: 'right' });
  t.after(() => admin.server.close());
  const f = files('plan-bad', {
    'kong.yml': OLD,
    'bad.yml': '_format_version: "3.0"\nroutes: [{ protocols: [tcp] }]\n',
  });
  const refused = await runCli(['config', 'plan', f['kong.yml']!, '--admin', admin.url, '--token', 'wrong']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /refused the request \(401\)/);
  admin.server.close();
  await new Promise((r) => setTimeout(r, 20));
  const down = await runCli(['config', 'plan', f['kong.yml']!, '--admin', admin.url]);
  assert.equal(down.code, 2);
  assert.match(down.stderr, /^Error: cannot reach the admin API at http:\/\/127\.0\.0\.1:\d+\/\w*: ECONNREFUSED$/m);
  assert.doesNotMatch(down.stderr, /at .*\.js:\d+/);
  const bad = await runCli(['config', 'plan', f['bad.yml']!, '--admin', admin.url]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /bad\.yml:2:\d+: error/);
  const url = await runCli(['config', 'plan', f['kong.yml']!, '--admin', '127.0.0.1:8001']);
  assert.equal(url.code, 2);
  const missing = await runCli(['config', 'plan', f['kong.yml']!]);
  assert.equal(missing.code, 2);
});
