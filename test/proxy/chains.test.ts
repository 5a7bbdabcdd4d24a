import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect } from 'node:tls';
import type { PluginChain } from '../../src/plugins/chain.js';
import type { SessionRecord } from '../../src/proxy/record.js';
import type { RouteChains } from '../../src/proxy/types.js';
import { startSink } from '../helpers/sockets.js';
import { listenSpec, route, service } from '../helpers/entities.js';
import { snapshot, startProxy } from './harness.js';

/** A chain with only a log step, remembering what it logged. */
function loggingChain(): PluginChain & { logged: SessionRecord[] } {
  const logged: SessionRecord[] = [];
  return {
    hasLog: true,
    hasPreread: false,
    logged,
    log: (r: SessionRecord) => void logged.push(r),
  } as unknown as PluginChain & { logged: SessionRecord[] };
}

/** Sends a ClientHello for `sni` and waits until the proxy closes the connection (no TLS server answers). */
async function helloAndClose(port: number, sni: string): Promise<void> {
  const c = tlsConnect({ port, host: '127.0.0.1', servername: sni, rejectUnauthorized: false });
  c.on('error', () => {}); // the proxy closes before any TLS server answers
  await new Promise((resolve) => c.on('close', resolve));
}

async function until(ok: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), what);
}

test("tls_passthrough routes: refused and proxied connections are both logged through the route's tls_passthrough chain", async (t) => {
  const quiet = await startSink(); // reads and never answers: a passthrough session stays open
  t.after(() => quiet.close());
  const h = await startProxy({ services: [], routes: [], listeners: [listenSpec('127.0.0.1', 0, { ssl: true })] });
  t.after(() => h.close());
  const base = snapshot(
    [service({ id: 'svc', port: quiet.port })],
    [
      route({ id: 'no-svc', protocols: ['tls_passthrough'], snis: ['none.example'] }),
      route({ id: 'full', protocols: ['tls_passthrough'], snis: ['full.example'], service: 'svc' }),
    ],
  );
  const chains = new Map<string, RouteChains>();
  for (const id of ['no-svc', 'full']) chains.set(id, { tls_passthrough: loggingChain() });
  const globalChain = loggingChain();
  h.server.swap({ ...base, routeChains: chains, globalChain, routeMax: new Map([['full', 1]]) });
  const logged = (id: string) => (chains.get(id)!.tls_passthrough as unknown as { logged: SessionRecord[] }).logged;

  await helloAndClose(h.port, 'none.example');
  await until(() => logged('no-svc').length === 1, 'a route without a service: logged through its passthrough chain');
  assert.equal(logged('no-svc')[0]!.session.status, 500);

  // the route's one connection, held open by the quiet upstream; the next one is refused
  const held = tlsConnect({ port: h.port, host: '127.0.0.1', servername: 'full.example', rejectUnauthorized: false });
  held.on('error', () => {});
  await until(() => h.server.activeSessions === 1, 'the held passthrough session is open');
  await helloAndClose(h.port, 'full.example');
  await until(
    () => logged('full').length === 1,
    'a route at its max_connections: logged through its passthrough chain',
  );
  assert.equal(logged('full')[0]!.session.status, 503);
  assert.equal(logged('full')[0]!.route?.id, 'full');

  // proxied: ends when the client gives up; one record, through the same chain
  held.destroy();
  await until(() => logged('full').length === 2, 'a proxied passthrough connection: logged through the same chain');
  assert.equal(logged('full')[1]!.session.status, 200);
  assert.equal(logged('full')[1]!.session.tls?.passthrough, true);
  assert.equal(
    (globalChain as unknown as { logged: SessionRecord[] }).logged.length,
    0,
    'no route-matched connection reached the global chain',
  );
});
