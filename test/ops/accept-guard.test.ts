import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { AcceptGuard, connectionBudget, fdLimit, isFdExhausted } from '../../src/limits/accept-guard.js';
import { silentLogger } from '../../src/log.js';
import { tempDir } from '../helpers/cli.js';

const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function listen(srv: Server): Promise<number> {
  servers.push(srv);
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return (srv.address() as { port: number }).port;
}

/** 'served' when the bytes come back, 'refused' on ECONNREFUSED, 'closed' when the connection ends without them. */
function probe(port: number, hold?: Socket[]): Promise<'served' | 'refused' | 'closed'> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let done = false;
    const end = (r: 'served' | 'refused' | 'closed') => {
      if (!done) {
        done = true;
        resolve(r);
      }
      if (!hold || r !== 'served') s.destroy();
    };
    s.on('error', (e: NodeJS.ErrnoException) => end(e.code === 'ECONNREFUSED' ? 'refused' : 'closed'));
    s.on('close', () => end('closed'));
    s.on('data', () => end('served'));
    s.setTimeout(2000, () => end('closed'));
    s.write('ping');
    hold?.push(s);
  });
}

const echoServer = () =>
  createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });

test('noteError(EMFILE) pauses accepting (clean refusals), then listens again on the same port', async () => {
  const srv = echoServer();
  const port = await listen(srv);
  const guard = new AcceptGuard(srv, { logger: silentLogger, pauseMs: 150 });
  const held: Socket[] = [];
  assert.equal(await probe(port, held), 'served');
  assert.equal(
    guard.noteError(Object.assign(new Error('x'), { code: 'ECONNRESET' })),
    false,
    'other errors are not its business',
  );
  assert.equal(guard.noteError(Object.assign(new Error('too many'), { code: 'EMFILE' })), true);
  assert.equal(guard.paused, true);
  assert.equal(await probe(port), 'refused');
  held[0]!.write('still');
  const [d] = await once(held[0]!, 'data');
  assert.equal(d.toString(), 'still', 'open connections survive the pause');
  await new Promise((r) => setTimeout(r, 250));
  assert.equal(guard.paused, false);
  assert.equal(await probe(port), 'served');
  assert.equal((srv.address() as { port: number }).port, port);
  held[0]!.destroy();
  guard.close();
});

test('a server EMFILE error pauses instead of crashing; close() stops listening again', async () => {
  const srv = echoServer();
  const port = await listen(srv);
  const guard = new AcceptGuard(srv, { logger: silentLogger, pauseMs: 100 });
  srv.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' }));
  assert.equal(guard.paused, true);
  assert.equal(guard.pauses, 1);
  guard.close();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(srv.listening, false, 'a closed guard never listens again');
  assert.equal(await probe(port), 'refused');
});

test('back-to-back shortages back off (pause doubles, bounded)', async () => {
  const srv = echoServer();
  await listen(srv);
  const lines: { pauseMs: number }[] = [];
  const logger = {
    ...silentLogger,
    warn: (o: { pauseMs: number }) => lines.push(o),
    info: () => {},
    error: () => {},
    debug: () => {},
  };
  const guard = new AcceptGuard(srv, { logger: logger, pauseMs: 40, maxPauseMs: 100 });
  for (let i = 0; i < 4; i++) {
    guard.noteError(Object.assign(new Error(''), { code: 'ENFILE' }));
    while (guard.paused || !srv.listening) await new Promise((r) => setTimeout(r, 5));
  }
  guard.close();
  assert.deepEqual(
    lines.map((l) => l.pauseMs),
    [40, 80, 100, 100],
  );
});

test('maxConnections drops are counted', async () => {
  const srv = echoServer();
  const port = await listen(srv);
  srv.maxConnections = 1;
  const guard = new AcceptGuard(srv, { logger: silentLogger });
  const held: Socket[] = [];
  assert.equal(await probe(port, held), 'served');
  assert.equal(await probe(port), 'closed');
  assert.equal(guard.drops, 1);
  held[0]!.destroy();
  guard.close();
});

test('fdLimit and connectionBudget', () => {
  const lim = fdLimit();
  assert.ok(lim === undefined || lim > 0);
  assert.equal(connectionBudget(1024), 480);
  assert.equal(connectionBudget(64, { reserve: 64 }), 1);
  assert.equal(isFdExhausted({ code: 'ENFILE' }), true);
  assert.equal(isFdExhausted(null), false);
});

test('a proxy under `ulimit -n 64` survives running out of descriptors and serves again afterwards', async (t) => {
  const upstream = echoServer();
  const upPort = await listen(upstream);
  const dir = tempDir('ops-emfile');
  const guardUrl = new URL('../../src/limits/accept-guard.js', import.meta.url).href;
  const script = join(dir, 'proxy.mjs');
  writeFileSync(
    script,
    `
import net from 'node:net';
import { AcceptGuard, fdLimit } from ${JSON.stringify(guardUrl)};
const say = (level) => (o, m) => console.log(JSON.stringify({ level, m }));
const logger = { warn: say('warn'), info: say('info'), error: say('error'), debug: () => {} };
const srv = net.createServer((c) => {
  c.on('error', () => {});
  const u = net.connect(${upPort}, '127.0.0.1');
  u.on('error', (e) => { guard.noteError(e); c.destroy(); });
  c.pipe(u).pipe(c);
});
const guard = new AcceptGuard(srv, { logger, pauseMs: 200, maxPauseMs: 400 });
srv.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: srv.address().port, limit: fdLimit() })));
process.on('SIGTERM', () => process.exit(0));
`,
  );
  const child = spawn('bash', ['-c', `ulimit -n 64 && exec "${process.execPath}" "${script}"`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  while (!out.includes('"port"')) {
    assert.equal(child.exitCode, null, 'child started');
    await new Promise((r) => setTimeout(r, 10));
  }
  const info = JSON.parse(out.split('\n').find((l) => l.includes('"port"'))!) as { port: number; limit: number };
  assert.equal(info.limit, 64);

  const held: Socket[] = [];
  const results = await Promise.all(Array.from({ length: 70 }, () => probe(info.port, held)));
  const served = results.filter((r) => r === 'served').length;
  assert.ok(served > 5 && served < 40, `some connections served (${served}), not all: ${results.join(',')}`);
  assert.ok(out.includes('out of file descriptors'), 'the shortage was noticed and logged');
  assert.equal(child.exitCode, null, 'still running');
  for (const s of held) s.destroy();

  const t0 = Date.now();
  let again: string = 'closed';
  while (Date.now() - t0 < 3000 && (again = await probe(info.port)) !== 'served')
    await new Promise((r) => setTimeout(r, 50));
  assert.equal(again, 'served', 'new connections are served again once descriptors are free');
  assert.ok(out.includes('accepting new connections again'));
  child.kill('SIGTERM');
});
