import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { parseClientHello } from '../../src/tls/client-hello.js';
import { peekClientHello } from '../../src/tls/peek.js';
import { captureHello, nodeClient } from './helpers.js';

// The bounds are 20-50x the measured cost: they catch an accidental quadratic or a per-call allocation storm,
// not a slow machine. The numbers go to the test's diagnostics (`node --test` prints them).

test('parse and peek cost per ClientHello', async (t) => {
  const hello = await captureHello(nodeClient({ servername: 'cost.test', ALPNProtocols: ['h2', 'http/1.1'] }));
  const N = 20_000;
  for (let i = 0; i < 2000; i++) parseClientHello(hello); // warm up
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) parseClientHello(hello);
  const parseUs = Number(process.hrtime.bigint() - t0) / N / 1000;

  const peekOnce = async (): Promise<void> => {
    const s = new PassThrough();
    const p = peekClientHello(s as unknown as Socket, { timeoutMs: 1000, maxBytes: 16448 });
    s.write(hello);
    const r = await p;
    if (!r.hello) throw new Error(r.error);
  };
  for (let i = 0; i < 500; i++) await peekOnce();
  const M = 5000;
  t0 = process.hrtime.bigint();
  for (let i = 0; i < M; i++) await peekOnce();
  const peekUs = Number(process.hrtime.bigint() - t0) / M / 1000;

  t.diagnostic(
    `hello ${hello.length} bytes: parse ${parseUs.toFixed(2)} µs, peek (stream, listeners, timer, parse) ${peekUs.toFixed(2)} µs`,
  );
  assert.ok(parseUs < 100, `parse ${parseUs} µs`);
  assert.ok(peekUs < 500, `peek ${peekUs} µs`);
});
