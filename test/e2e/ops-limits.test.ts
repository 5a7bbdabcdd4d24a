/**
 * Connection limits end to end: per listener (503), per route tag (503), per client IP concurrency and rate (429).
 * Each refusal is immediate (no queueing), logged, and in the session record; counts return to zero when sessions
 * end. EMFILE: a child kong-ts with a small `ulimit -n` keeps running, pauses accepting, and serves again once
 * descriptors free up.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { freePort, tempDir } from '../helpers/cli.js';
import {
  echoBackend,
  exchange,
  spawnKong,
  startLogged,
  until,
  type Backend,
  type LoggedInstance,
} from './ops-helpers.js';

/** A connection through the proxy that has echoed once (so its session is open), kept open. */
async function held(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  const s = connect({ port, host: '127.0.0.1', localAddress });
  s.on('error', () => {});
  await once(s, 'connect');
  s.write('x');
  await new Promise<void>((resolve, reject) => {
    s.once('data', () => resolve());
    s.once('close', () => reject(new Error('closed by the proxy')));
  });
  return s;
}

/** A connection the proxy refuses: resolves with how long the close took and whether anything was echoed. */
async function refused(port: number): Promise<{ ms: number; echoed: boolean }> {
  const t0 = Date.now();
  const r = await exchange(port, 'y', { endAfterWrite: false, timeoutMs: 3000 });
  return { ms: Date.now() - t0, echoed: r.data.length > 0 };
}

/** Closes the clients and, given an instance, waits until its sessions ended too (the client's close comes first). */
async function closeAll(ss: Socket[], ti?: LoggedInstance): Promise<void> {
  const before = ti?.inst.stream.activeSessions ?? 0;
  await Promise.all(
    ss.map((s) => {
      const c = once(s, 'close');
      s.destroy();
      return c;
    }),
  );
  if (ti) assert.ok(await until(() => ti.inst.stream.activeSessions <= before - ss.length), 'the sessions ended');
}

describe('connection limits', { timeout: 30_000 }, () => {
  let echo: Backend;
  const yaml = (port: number) => `_format_version: "3.0"
services:
  - name: echo
    url: tcp://127.0.0.1:${port}
    routes:
      - name: capped
        protocols: [tcp]
        sources: [{ ip: 127.0.0.5 }]
        tags: [kong-ts.max_connections=1]
      - name: any
        protocols: [tcp]
        sources: [{ ip: 127.0.0.0/8 }]
`;
  before(async () => {
    echo = await echoBackend();
  });
  after(() => echo?.close());

  test('per listener (stream_max_connections): 503 on the full listener only, admitted again after a close', async (t) => {
    const ti = await startLogged(yaml(echo.port), {
      listen: '127.0.0.1:0, 127.0.0.1:0',
      settings: { stream_max_connections: '2' },
    });
    t.after(() => ti.stop());
    const open = [await held(ti.ports[0]!), await held(ti.ports[0]!)];
    const r = await refused(ti.ports[0]!);
    assert.equal(r.echoed, false);
    assert.ok(r.ms < 1000, `refused at once, not queued (${r.ms} ms)`);
    const rec = await ti.nextRecord();
    assert.equal(rec.session.status, 503);
    assert.match(
      (await ti.waitLog(/stream_max_connections/)).msg,
      /connection refused: listener .* is at stream_max_connections \(2\)/,
    );
    const other = await held(ti.ports[1]!);
    assert.equal(ti.inst.stream.activeSessions, 3, 'the other listener has its own count');
    await closeAll([open[0]!], ti);
    assert.equal((await ti.nextRecord()).session.status, 200);
    const again = await held(ti.ports[0]!);
    await closeAll([again, open[1]!, other]);
    assert.ok(await until(() => ti.inst.stream.activeSessions === 0), 'every count back to zero');
    const fresh = await Promise.all([held(ti.ports[0]!), held(ti.ports[0]!)]);
    await closeAll(fresh);
  });

  test('per route (kong-ts.max_connections=1): 503 with the route in the record', async (t) => {
    const ti = await startLogged(yaml(echo.port));
    t.after(() => ti.stop());
    const first = await held(ti.ports[0]!, '127.0.0.5');
    const s = connect({ port: ti.ports[0]!, host: '127.0.0.1', localAddress: '127.0.0.5' });
    s.on('error', () => {});
    s.resume();
    await once(s, 'close');
    let rec = await ti.nextRecord();
    while (rec.route?.name !== 'capped') rec = await ti.nextRecord();
    assert.equal(rec.session.status, 503);
    assert.ok(ti.logs.some((l) => /kong-ts.max_connections \(1\)/.test(l.msg)));
    await closeAll([first], ti);
    const again = await held(ti.ports[0]!, '127.0.0.5');
    await closeAll([again]);
  });

  test('per client IP: concurrency and rate over the limit get 429; other IPs are not affected', async (t) => {
    const ti = await startLogged(yaml(echo.port), { settings: { stream_max_connections_per_ip: '2' } });
    t.after(() => ti.stop());
    const a = [await held(ti.ports[0]!, '127.0.0.6'), await held(ti.ports[0]!, '127.0.0.6')];
    const s = connect({ port: ti.ports[0]!, host: '127.0.0.1', localAddress: '127.0.0.6' });
    s.on('error', () => {});
    s.resume();
    await once(s, 'close');
    const rec = await ti.nextRecord();
    assert.equal(rec.session.status, 429);
    assert.equal(rec.client_ip, '127.0.0.6');
    assert.ok(ti.logs.some((l) => /over stream_max_connections_per_ip/.test(l.msg)));
    const b = await held(ti.ports[0]!, '127.0.0.7');
    await closeAll([a[0]!], ti);
    const c = await held(ti.ports[0]!, '127.0.0.6');
    await closeAll([a[1]!, b, c]);

    const tr = await startLogged(yaml(echo.port), { settings: { stream_connection_rate_per_ip: '2/m burst=2' } });
    t.after(() => tr.stop());
    await closeAll([await held(tr.ports[0]!, '127.0.0.8'), await held(tr.ports[0]!, '127.0.0.8')]);
    const x = connect({ port: tr.ports[0]!, host: '127.0.0.1', localAddress: '127.0.0.8' });
    x.on('error', () => {});
    x.resume();
    await once(x, 'close');
    let rr = await tr.nextRecord();
    while (rr.session.status === 200) rr = await tr.nextRecord();
    assert.equal(rr.session.status, 429, 'the third new connection within the minute');
    assert.ok(tr.logs.some((l) => /over stream_connection_rate_per_ip/.test(l.msg)));
    await closeAll([await held(tr.ports[0]!, '127.0.0.9')]);
  });
});

describe('EMFILE', { timeout: 40_000 }, () => {
  // 72, not 64: loading the modules at start opens a few dozen files at once (the ESM loader reads a module's
  // imports in parallel), and a limit that close to that peak fails the start instead of the serving under test
  test('with ulimit -n 72 kong-ts keeps running, pauses accepting, and serves again when descriptors free up', async (t) => {
    const echo = await echoBackend();
    t.after(() => echo.close());
    const dir = tempDir('opse2e-emfile');
    const file = join(dir, 'kong.yml');
    writeFileSync(
      file,
      `_format_version: "3.0"
services:
  - name: echo
    url: tcp://127.0.0.1:${echo.port}
    retries: 0
    routes:
      - { name: r, protocols: [tcp], destinations: [{ ip: 127.0.0.1 }] }
`,
    );
    const port = await freePort();
    const kong = await spawnKong(
      [
        '-c',
        file,
        '-p',
        join(dir, 'prefix'),
        '--stream-listen',
        `127.0.0.1:${port}`,
        '--admin-listen',
        'off',
        '--set',
        'proxy_stream_access_log=off',
        '--set',
        'watch=off',
      ],
      { ulimit: 72 },
    );
    t.after(() => kong.kill());
    const baseFds = readdirSync(`/proc/${kong.child.pid}/fd`).length;
    // hold sessions until the descriptors run out (each takes two); the ones past that fail or are refused
    const open: Socket[] = [];
    let failures = 0;
    for (let i = 0; i < 60 && failures < 5; i++) {
      try {
        open.push(
          await Promise.race([
            held(port),
            new Promise<never>((_, rej) => setTimeout(() => rej(new Error('timeout')), 1000)),
          ]),
        );
      } catch {
        failures++;
      }
    }
    assert.ok(open.length > 5 && open.length < 32, `${open.length} sessions fit beside ${baseFds} descriptors in use`);
    assert.ok(failures >= 1);
    const pause = await kong.waitLog(/out of file descriptors/, 5000);
    assert.equal(pause.reason, 'EMFILE');
    t.diagnostic(
      `${open.length} sessions held beside ${baseFds} descriptors at start; upstream connects that failed with EMFILE: ` +
        `${(kong.out().match(/upstream connect failed[^\n]*EMFILE/g) ?? []).length}`,
    );
    assert.equal(kong.child.exitCode, null, 'still running');
    // the sessions already open keep working during the shortage
    open[0]!.write('still');
    const [d] = await once(open[0]!, 'data');
    assert.equal(d.toString(), 'still');
    await closeAll(open);
    await kong.waitLog(/accepting new connections again/, 15_000);
    const r = await exchange(port, 'back');
    assert.equal(r.data.toString(), 'back', 'serves again');
    assert.equal(kong.child.exitCode, null);
  });
});
