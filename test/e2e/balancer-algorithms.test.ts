import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { tempDir } from '../helpers/cli.js';
import { ask, askMany, backends, count, hold, poolYaml, startLb, waitFor, type Held } from './balancer-helpers.js';

// Each algorithm checked through the running proxy with real loopback backends that greet with their name.

test('round-robin 1:2:5 over 4,000 connections: shares within 1 %', async (t) => {
  const [a, b, c] = await backends('a', 'b', 'c');
  t.after(() => Promise.all([a, b, c].map((x) => x!.kill())));
  const lb = await startLb(
    poolYaml([
      [`127.0.0.1:${a!.port}`, 1],
      [`127.0.0.1:${b!.port}`, 2],
      [`127.0.0.1:${c!.port}`, 5],
    ]),
  );
  t.after(() => lb.stop());
  const n = 4000;
  const start = performance.now();
  const got = count(await askMany(lb.port, n, 16));
  const ms = performance.now() - start;
  t.diagnostic(`${n} connections in ${ms.toFixed(0)} ms: ${JSON.stringify(got)}`);
  assert.equal((got.a ?? 0) + (got.b ?? 0) + (got.c ?? 0), n, `every connection answered: ${JSON.stringify(got)}`);
  for (const [name, weight] of [
    ['a', 1],
    ['b', 2],
    ['c', 5],
  ] as const) {
    const share = (got[name] ?? 0) / n;
    assert.ok(Math.abs(share - weight / 8) < 0.01, `${name}: share ${share}, expected ${weight / 8}`);
  }
  // every accept really reached the backend the proxy picked
  assert.deepEqual([a!.accepted, b!.accepted, c!.accepted], [got.a, got.b, got.c]);
});

test('round-robin: weight 0 is never picked', async (t) => {
  const [a, z] = await backends('a', 'z');
  t.after(() => Promise.all([a, z].map((x) => x!.kill())));
  const lb = await startLb(
    poolYaml([
      [`127.0.0.1:${a!.port}`, 10],
      [`127.0.0.1:${z!.port}`, 0],
    ]),
  );
  t.after(() => lb.stop());
  assert.deepEqual(count(await askMany(lb.port, 50, 4)), { a: 50 });
  assert.equal(z!.accepted, 0);
});

test('least-connections sends new connections to the target with fewer long-lived ones', async (t) => {
  const [a, b] = await backends('a', 'b');
  t.after(() => Promise.all([a, b].map((x) => x!.kill())));
  const lb = await startLb(
    poolYaml(
      [
        [`127.0.0.1:${a!.port}`, 100],
        [`127.0.0.1:${b!.port}`, 100],
      ],
      { algorithm: 'least-connections' },
    ),
  );
  const open: Held[] = [];
  t.after(async () => {
    for (const h of open) h.close();
    await lb.stop();
  });
  // equal weights and no connections: the first four alternate
  for (let i = 0; i < 4; i++) open.push(await hold(lb.port));
  assert.deepEqual(count(open.map((h) => h.name)), { a: 2, b: 2 });
  // a's two connections end; b keeps its two
  for (const h of open.filter((x) => x.name === 'a')) h.close();
  await waitFor(() => lb.records.length === 2, 3000, 'the two sessions to end');
  // (0+1)/100 < (2+1)/100: a gets the next two, then they alternate again (2 and 2)
  const next: Held[] = [];
  for (let i = 0; i < 4; i++) next.push(await hold(lb.port));
  open.push(...next);
  assert.deepEqual(
    next.slice(0, 2).map((h) => h.name),
    ['a', 'a'],
  );
  assert.deepEqual(count(next.slice(2).map((h) => h.name)), { a: 1, b: 1 });
  assert.equal(a!.live, 3);
  assert.equal(b!.live, 3);
});

test('least-connections weighs connections by weight (1:3 holds 1:3 of the long-lived connections)', async (t) => {
  const [a, b] = await backends('a', 'b');
  t.after(() => Promise.all([a, b].map((x) => x!.kill())));
  const lb = await startLb(
    poolYaml(
      [
        [`127.0.0.1:${a!.port}`, 10],
        [`127.0.0.1:${b!.port}`, 30],
      ],
      { algorithm: 'least-connections' },
    ),
  );
  const open: Held[] = [];
  t.after(async () => {
    for (const h of open) h.close();
    await lb.stop();
  });
  for (let i = 0; i < 40; i++) open.push(await hold(lb.port));
  assert.deepEqual(count(open.map((h) => h.name)), { a: 10, b: 30 });
});

test('consistent-hashing on the client IP: a client stays on its target; removing a target moves only its clients', async (t) => {
  const [a, b, c] = await backends('a', 'b', 'c');
  t.after(() => Promise.all([a, b, c].map((x) => x!.kill())));
  const up = { algorithm: 'consistent-hashing', hash_on: 'ip', slots: 1000 };
  const lb = await startLb(
    poolYaml(
      [
        [`127.0.0.1:${a!.port}`, 100],
        [`127.0.0.1:${b!.port}`, 100],
        [`127.0.0.1:${c!.port}`, 100],
      ],
      up,
    ),
  );
  t.after(() => lb.stop());
  const clients = Array.from({ length: 90 }, (_, i) => `127.0.0.${10 + i}`);
  const first = new Map<string, string>();
  for (const ip of clients) first.set(ip, await ask(lb.port, ip));
  // in another order and back to back (round-robin would pass neither)
  for (const ip of [...clients].reverse()) {
    for (let k = 0; k < 2; k++) assert.equal(await ask(lb.port, ip), first.get(ip), `${ip} moved without a change`);
  }
  const shares = count([...first.values()]);
  t.diagnostic(`90 clients over 3 targets: ${JSON.stringify(shares)}`);
  for (const name of ['a', 'b', 'c'])
    // loose: the spread depends on the ports, which hash into the ring
    assert.ok((shares[name] ?? 0) >= 10, `${name} got ${shares[name]} of 90 clients`);
  // the records saw the bound source address, which is what is hashed
  assert.ok(lb.records.some((r) => r.client_ip === '127.0.0.10'));

  assert.equal(
    await lb.reload(
      poolYaml(
        [
          [`127.0.0.1:${a!.port}`, 100],
          [`127.0.0.1:${b!.port}`, 100],
        ],
        up,
      ),
    ),
    'loaded',
  );
  let moved = 0;
  for (const ip of [...clients].reverse()) {
    const now = await ask(lb.port, ip);
    const was = first.get(ip)!;
    if (was === 'c') {
      assert.notEqual(now, 'c');
      moved++;
    } else {
      assert.equal(now, was, `${ip} was on ${was}, which is still there, and moved to ${now}`);
    }
  }
  assert.equal(moved, shares.c);
});

function makeCert(): { cert: string; key: string } {
  const dir = tempDir('bale2e-cert');
  const key = join(dir, 'k.pem');
  const cert = join(dir, 'c.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      '/CN=backend.test',
    ],
    { stdio: 'ignore' },
  );
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

/** A TLS backend whose handshake starts `delayMs` after the TCP accept: a slow "connect" as the proxy measures it. */
async function tlsBackend(name: string, pair: { cert: string; key: string }, delayMs: number) {
  let accepted = 0;
  const tls = createTlsServer(pair, (s) => {
    s.on('error', () => {});
    s.end(name + '\n');
  });
  const net = createNetServer((raw) => {
    accepted++;
    raw.on('error', () => {});
    setTimeout(() => tls.emit('connection', raw), delayMs);
  });
  await new Promise<void>((r) => net.listen(0, '127.0.0.1', () => r()));
  return {
    port: (net.address() as AddressInfo).port,
    accepted: () => accepted,
    close: () => {
      net.close();
      tls.close();
    },
  };
}

test('latency prefers the backend that connects faster', async (t) => {
  const pair = makeCert();
  const fast = await tlsBackend('fast', pair, 0);
  const slow = await tlsBackend('slow', pair, 80);
  t.after(() => {
    fast.close();
    slow.close();
  });
  const lb = await startLb(
    poolYaml(
      [
        [`127.0.0.1:${slow.port}`, 100],
        [`127.0.0.1:${fast.port}`, 100],
      ],
      { algorithm: 'latency' },
      { protocol: 'tls' },
    ),
  );
  t.after(() => lb.stop());
  const got: string[] = [];
  for (let i = 0; i < 30; i++) got.push(await ask(lb.port));
  const c = count(got);
  t.diagnostic(`30 sequential connections: ${JSON.stringify(c)}`);
  // each peer is measured once, then the faster one wins
  assert.equal(c.slow, 1, JSON.stringify(c));
  assert.equal(c.fast, 29);
  const slowTry = lb.records.find((r) => r.tries[0]!.port === slow.port)!;
  assert.ok(slowTry.tries[0]!.balancer_latency >= 70, `slow connect took ${slowTry.tries[0]!.balancer_latency} ms`);
});
