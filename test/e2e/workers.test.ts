/**
 * nginx_worker_processes=2 end to end: the compiled CLI runs a primary and two workers with real sockets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { resolveSettings } from '../../src/settings/settings.js';
import { exited, freePort, runCli, startCli, tempDir } from '../helpers/cli.js';

interface WorkerStatus {
  id: number;
  pid: number | null;
  state: string;
  configuration_generation: number;
  restarts: number;
  connections_active?: number;
  connections_handled?: number;
}
interface Status {
  configuration_generation: number;
  last_config_error: string | null;
  workers: WorkerStatus[];
  server: { connections_handled: number };
}

/** A backend that answers every chunk with `tag` + the chunk. */
async function backend(tag: string): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => {
    s.on('data', (d) => s.write(tag + d.toString()));
    s.on('end', () => s.end());
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as { port: number }).port };
}

const yaml = (backendPort: number, listen: number, routeName = 'r') => `_format_version: "3.0"
services:
  - name: svc
    url: tcp://127.0.0.1:${backendPort}
    routes:
      - name: ${routeName}
        protocols: [tcp]
        destinations: [{ port: ${listen} }]
`;

const BAD = `_format_version: "3.0"
services:
  - name: a
    url: tcp://127.0.0.1:1
  - name: a
    url: tcp://127.0.0.1:2
`;

/** A connection through the proxy that has made one round trip (so a worker owns it). */
function openSession(port: number): Promise<{ socket: Socket; reply: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('ping'));
    socket.once('data', (d) => resolve({ socket, reply: d.toString() }));
    socket.once('error', reject);
    socket.setTimeout(3000, () => reject(new Error('no answer through the proxy')));
  });
}

/** One short session: sends `msg`, half-closes, resolves with everything the backend answered. */
function roundTrip(port: number, msg = 'x'): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.end(msg));
    let data = '';
    s.on('data', (d) => (data += String(d)));
    s.on('close', () => resolve(data));
    s.on('error', reject);
  });
}

async function admin<T = Status>(port: number, path = '/status', init?: RequestInit): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, init);
  const text = await res.text();
  return (res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) as T;
}

async function until<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, ms = 8000): Promise<T> {
  const end = Date.now() + ms;
  let v = await get();
  while (!ok(v)) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
    v = await get();
  }
  return v;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Running {
  child: ChildProcess;
  out: () => string;
  prefix: string;
  file: string;
  listen: number;
  adminPort: number;
}

async function startTwo(tag: string, backendPort: number, extra: string[] = []): Promise<Running> {
  // ports found free a moment ago may be taken by a test running beside this one: try again with others then
  for (let attempt = 1; ; attempt++) {
    const dir = tempDir(tag);
    const [listen, adminPort] = [await freePort(), await freePort()];
    const file = join(dir, 'kong.yml');
    writeFileSync(file, yaml(backendPort, listen));
    const prefix = join(dir, 'prefix');
    try {
      const { child, out } = await startCli([
        '-c',
        file,
        '-p',
        prefix,
        '--stream-listen',
        `127.0.0.1:${listen}`,
        '--admin-listen',
        `127.0.0.1:${adminPort}`,
        '--set',
        'nginx_worker_processes=2',
        ...extra,
      ]);
      return { child, out, prefix, file, listen, adminPort };
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE|address already in use/.test((err as Error).message)) throw err;
    }
  }
}

/** Stops the cluster with `kong-ts stop` and checks that no process of it is left. */
async function stopAndCheck(k: Running): Promise<void> {
  const pids = (await admin(k.adminPort)).workers.map((w) => w.pid!).filter(Boolean);
  const stop = await runCli(['stop', '-p', k.prefix]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal(await exited(k.child), 0);
  assert.equal(existsSync(join(k.prefix, 'pids', 'kong-ts.pid')), false);
  await until(
    'the workers to be gone',
    async () => pids.filter(alive),
    (left) => left.length === 0,
    3000,
  );
}

test('two workers share the traffic; /status, /sessions and /metrics add them up; stop leaves nothing', async (t) => {
  const b = await backend('');
  t.after(() => b.server.close());
  const k = await startTwo('workers-traffic', b.port);
  t.after(() => k.child.kill('SIGKILL'));
  const sockets: Socket[] = [];
  t.after(() => sockets.forEach((s) => s.destroy()));

  const first = await admin(k.adminPort);
  assert.equal(first.workers.length, 2);
  assert.equal(new Set(first.workers.map((w) => w.pid)).size, 2);
  assert.ok(first.workers.every((w) => w.state === 'up' && w.configuration_generation === 1 && w.pid !== k.child.pid));
  const info = await admin<{ pids: { master: number; workers: number[] } }>(k.adminPort, '/');
  assert.equal(info.pids.master, k.child.pid);
  assert.deepEqual([...info.pids.workers].sort(), first.workers.map((w) => w.pid).sort());

  // the kernel picks the worker of each accept: open sessions until both hold some
  let st = first;
  while (sockets.length < 60 && !st.workers.every((w) => (w.connections_active ?? 0) > 0)) {
    const s = await openSession(k.listen);
    assert.equal(s.reply, 'ping');
    sockets.push(s.socket);
    st = await admin(k.adminPort);
  }
  assert.ok(
    st.workers.every((w) => (w.connections_active ?? 0) > 0),
    `both workers serve: ${JSON.stringify(st.workers)}`,
  );
  const open = sockets.length;
  const sessions = await admin<{ total: number; by_route: Record<string, number> }>(k.adminPort, '/sessions');
  assert.equal(sessions.total, open);
  assert.deepEqual(Object.values(sessions.by_route), [open]);

  sockets.forEach((s) => s.end());
  const done = await until(
    'every session to end',
    () => admin(k.adminPort),
    (s) => s.workers.every((w) => w.connections_active === 0),
  );
  assert.equal(done.server.connections_handled, open);
  assert.equal(
    done.workers.reduce((n, w) => n + (w.connections_handled ?? 0), 0),
    open,
  );
  const metrics = await admin<string>(k.adminPort, '/metrics');
  assert.match(
    metrics,
    new RegExp(`^kong_stream_sessions_total\\{service="svc",route="r",code="200"\\} ${open}$`, 'm'),
  );
  assert.match(metrics, /^kong_config_generation 1$/m, 'the configuration series come from the primary alone');
  assert.match(metrics, /^kong_stream_connections_active 0$/m);
  assert.match(metrics, /^process_resident_memory_bytes \d+/m, "the workers' process metrics are there");

  await stopAndCheck(k);
});

test('a reload reaches every worker, an invalid file reaches none', async (t) => {
  const [a, b] = [await backend('A:'), await backend('B:')];
  t.after(() => {
    a.server.close();
    b.server.close();
  });
  const k = await startTwo('workers-reload', a.port, ['--set', 'watch=off']);
  t.after(() => k.child.kill('SIGKILL'));
  assert.equal(await roundTrip(k.listen), 'A:x');

  writeFileSync(k.file, yaml(b.port, k.listen));
  assert.equal((await runCli(['reload', '-p', k.prefix])).code, 0);
  const st = await until(
    'both workers on generation 2',
    () => admin(k.adminPort),
    (s) => s.workers.every((w) => w.configuration_generation === 2),
  );
  assert.equal(st.configuration_generation, 2);
  for (let i = 0; i < 10; i++) assert.equal(await roundTrip(k.listen), 'B:x');
  // a rolling reload: the second worker starts its build after the first one swapped (never two builds at once)
  const builds = k
    .out()
    .split('\n')
    .filter(
      (l) => /"worker":\d/.test(l) && l.includes('"msg":"declarative config reloaded"') && l.includes('"generation":2'),
    )
    .map((l) => JSON.parse(l) as { worker: number; time: string; duration_ms: number })
    .map((l) => ({ worker: l.worker, time: Date.parse(l.time), duration_ms: l.duration_ms }))
    .sort((x, y) => x.time - y.time);
  assert.deepEqual(builds.map((b) => b.worker).sort(), [1, 2], 'one reload line per worker');
  assert.ok(
    builds[1]!.time - builds[1]!.duration_ms >= builds[0]!.time - 2,
    `worker ${builds[1]!.worker} built after worker ${builds[0]!.worker} swapped: ${JSON.stringify(builds)}`,
  );

  writeFileSync(k.file, BAD);
  assert.equal((await runCli(['reload', '-p', k.prefix])).code, 0);
  const bad = await until(
    'the primary to refuse the file',
    () => admin(k.adminPort),
    (s) => s.last_config_error !== null,
  );
  assert.equal(bad.configuration_generation, 2);
  assert.ok(
    bad.workers.every((w) => w.configuration_generation === 2 && w.state === 'up'),
    JSON.stringify(bad.workers),
  );
  for (let i = 0; i < 10; i++) assert.equal(await roundTrip(k.listen), 'B:x');
  assert.doesNotMatch(k.out(), /"worker":\d,[^\n]*declarative config rejected/, 'no worker saw the bad file');

  // POST /config goes through the same primary: generation 3 on both
  const res = await fetch(`http://127.0.0.1:${k.adminPort}/config`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ config: yaml(a.port, k.listen, 'r3') }),
  });
  assert.equal(res.status, 201);
  await until(
    'both workers on generation 3',
    () => admin(k.adminPort),
    (s) => s.workers.every((w) => w.configuration_generation === 3),
  );
  assert.equal(await roundTrip(k.listen), 'A:x');

  await stopAndCheck(k);
});

test('a worker killed with SIGKILL is replaced with the current config; quit lets open sessions finish', async (t) => {
  const a = await backend('');
  t.after(() => a.server.close());
  const k = await startTwo('workers-crash', a.port, ['--set', 'watch=off']);
  t.after(() => k.child.kill('SIGKILL'));
  writeFileSync(k.file, yaml(a.port, k.listen, 'r2'));
  assert.equal((await runCli(['reload', '-p', k.prefix])).code, 0);
  const before = await until(
    'generation 2',
    () => admin(k.adminPort),
    (s) => s.workers.every((w) => w.configuration_generation === 2),
  );

  const victim = before.workers[0]!;
  // /status asks every worker for its report: polled hard around the kill, some asks go to the dead worker before
  // the primary has seen its channel close (EPIPE), and the primary must shrug that off
  let polling = true;
  const pollers = Array.from({ length: 4 }, async () => {
    let n = 0;
    while (polling) {
      await admin(k.adminPort);
      n++;
    }
    return n;
  });
  await new Promise((r) => setTimeout(r, 50));
  process.kill(victim.pid!, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 300));
  polling = false;
  assert.ok(
    (await Promise.all(pollers)).every((n) => n > 0),
    'the admin API answered all along',
  );
  const after = await until(
    'worker 1 replaced',
    () => admin(k.adminPort),
    (s) => s.workers[0]!.state === 'up' && s.workers[0]!.pid !== victim.pid && s.workers[0]!.pid !== null,
  );
  assert.equal(after.workers[0]!.restarts, 1);
  assert.equal(
    after.workers[0]!.configuration_generation,
    2,
    'the new worker got the current config, not the first one',
  );
  assert.equal(after.workers[1]!.pid, before.workers[1]!.pid, 'the other worker was left alone');
  assert.match(k.out(), /worker 1 died \(SIGKILL\); starting a new one/);
  for (let i = 0; i < 20; i++) assert.equal(await roundTrip(k.listen, `m${i}`), `m${i}`);

  // quit: the open session keeps working until it ends by itself, then everything exits
  const pids = after.workers.map((w) => w.pid!);
  const s = await openSession(k.listen);
  const quitting = runCli(['quit', '-p', k.prefix, '-t', '5']);
  await new Promise((r) => setTimeout(r, 300));
  const echoed = await new Promise<string>((resolve) => {
    s.socket.once('data', (d) => resolve(d.toString()));
    s.socket.write('still here');
  });
  assert.equal(echoed, 'still here');
  s.socket.end();
  const quit = await quitting;
  assert.equal(quit.code, 0, quit.stderr);
  assert.equal(await exited(k.child), 0);
  assert.deepEqual(pids.filter(alive), []);
});

test('with workers, an invalid file is refused before any worker starts', async () => {
  const dir = tempDir('workers-bad');
  writeFileSync(join(dir, 'kong.yml'), BAD);
  const r = await runCli([
    'start',
    '-c',
    join(dir, 'kong.yml'),
    '-p',
    join(dir, 'prefix'),
    '--stream-listen',
    `127.0.0.1:${await freePort()}`,
    '--admin-listen',
    'off',
    '--set',
    'nginx_worker_processes=2',
    '--set',
    'log_level=info',
  ]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /kong\.yml:5:\d+: error: .*uniqueness violation/);
  assert.doesNotMatch(r.stdout, /worker started/);
  assert.equal(existsSync(join(dir, 'prefix', 'pids', 'kong-ts.pid')), false);
});

test('with workers, a port already taken fails the start with its reason and leaves no process', async (t) => {
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  t.after(() => taken.close());
  const port = (taken.address() as { port: number }).port;
  const dir = tempDir('workers-port');
  writeFileSync(join(dir, 'kong.yml'), yaml(1, port));
  const r = await runCli([
    'start',
    '-c',
    join(dir, 'kong.yml'),
    '-p',
    join(dir, 'prefix'),
    '--stream-listen',
    `127.0.0.1:${port}`,
    '--admin-listen',
    'off',
    '--set',
    'nginx_worker_processes=2',
  ]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot listen on 127\.0\.0\.1:\d+.*address already in use/);
  assert.equal(existsSync(join(dir, 'prefix', 'pids', 'kong-ts.pid')), false);
});

test('worker_processes is an alias of nginx_worker_processes: the higher source wins', () => {
  const n = (env: NodeJS.ProcessEnv, flags: Record<string, string> = {}) =>
    resolveSettings({ env, flags }).workerProcesses;
  assert.equal(n({}), 1);
  assert.equal(n({ KONG_WORKER_PROCESSES: '3' }), 3);
  assert.equal(n({ KONG_NGINX_WORKER_PROCESSES: '2' }, { worker_processes: '4' }), 4);
  assert.equal(n({ KONG_WORKER_PROCESSES: '2' }, { nginx_worker_processes: '5' }), 5);
  assert.throws(() => n({}, { worker_processes: 'two' }), /worker_processes: expected a whole number/);
});
