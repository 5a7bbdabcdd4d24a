import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { ConnInfo } from '../../src/router/types.js';
import { explainContext, explainRoute, explainWith } from '../../src/router/explain.js';
import type { StreamRoute } from '../../src/router/compile.js';
import { connectTo, listenServer, readAll } from '../helpers/sockets.js';
import { startProxy } from '../proxy/harness.js';
import { cfg, files, runRoute } from './helpers.js';

const CONFIG = `_format_version: "3.0"
services:
  - name: db
    url: tcp://10.0.0.1:5432
    routes:
      - { name: db-port, protocols: [tcp], destinations: [{ port: 5432 }] }
      - { name: db-internal, protocols: [tcp], sources: [{ ip: 10.0.0.0/8 }], destinations: [{ port: 5432 }] }
      - { name: db-admin, protocols: [tcp], sources: [{ ip: 10.1.2.3 }] }
      - { name: db-v6, protocols: [tcp, udp], sources: [{ ip: "2001:db8::/32", port: 1234 }] }
  - name: web
    url: tcp://10.0.0.2:8080
    routes:
      - { name: web-exact, protocols: [tls], snis: [app.example.com] }
      - { name: web-wild, protocols: [tls], snis: ["*.example.com"] }
      - { name: web-prefix, protocols: [tls], snis: ["app.*"], destinations: [{ port: 443 }] }
      - { name: web-pass, protocols: [tls_passthrough], snis: [pass.example.com] }
      - { name: web-dst, protocols: [tcp, tls], destinations: [{ ip: 127.0.0.1, port: 443 }, { ip: 192.168.0.0/16 }] }
  - name: off
    url: tcp://10.0.0.3:1
    enabled: false
    routes:
      - { name: off-route, protocols: [tcp], destinations: [{ port: 5432 }] }
  - name: dns
    url: udp://10.0.0.4:53
    routes:
      - { name: dns, protocols: [udp], destinations: [{ port: 53 }] }
  - name: http
    url: http://10.0.0.5:80
    routes:
      - { name: http-route, paths: [/] }
routes:
  - { name: tie-b, protocols: [tcp], destinations: [{ port: 7000 }], id: 00000000-0000-4000-8000-00000000000b }
  - { name: tie-a, protocols: [tcp], destinations: [{ port: 7000 }], id: 00000000-0000-4000-8000-00000000000a }
`;

test('the explained winner is always router.match over a table of connections, and reasons agree with matching', () => {
  const ctx = explainContext(cfg(CONFIG));
  const srcs = ['10.1.2.3', '10.9.9.9', '172.16.0.1', '2001:db8::7', '::1'];
  const dsts = ['127.0.0.1', '192.168.1.1', '10.0.0.1'];
  const ports = [443, 5432, 53, 7000, 9999];
  const snis = [undefined, 'app.example.com', 'a.b.example.com', 'app.test', 'pass.example.com', 'other.org'];
  let n = 0,
    won = 0;
  for (const protocol of ['tcp', 'tls', 'udp'] as const)
    for (const srcIp of srcs)
      for (const srcPort of [1234, 40000])
        for (const dstIp of dsts)
          for (const dstPort of ports)
            for (const sni of protocol === 'tls' ? snis : [undefined]) {
              const conn: ConnInfo = { protocol, srcIp, srcPort, dstIp, dstPort };
              if (sni) conn.sni = sni;
              const x = explainWith(ctx, conn);
              const m = ctx.router.match(conn);
              assert.equal(x.winner?.id, m?.id, JSON.stringify(conn));
              n++;
              if (m) won++;
              for (const v of x.others) {
                assert.equal(v.matched, v.mismatches.length === 0, `${v.name}: ${JSON.stringify(conn)}`);
                if (v.matched)
                  assert.ok(m && v.priority! <= (m as StreamRoute).priority, `${v.name} matched above the winner`);
              }
              if (!m) assert.ok(x.others.every((v) => !v.matched));
            }
  assert.ok(n > 1000 && won > 100 && won < n, `${won} of ${n} connections had a route`);
});

test('reasons name the field that did not match and the priorities of the losers', () => {
  const c = cfg(CONFIG);
  const x = explainRoute(c, { protocol: 'tcp', srcIp: '10.9.9.9', srcPort: 40000, dstIp: '10.0.0.1', dstPort: 5432 });
  assert.equal(x.winner?.name, 'db-internal');
  assert.equal(x.winner?.priority_text, '256 (sources and destinations) + 16 (sources: 1×16) + 4 (destinations)');
  const by = Object.fromEntries(x.others.map((v) => [v.name, v]));
  assert.equal(by['db-port']!.note, "matched, but with a lower priority: 4 < 276 of route 'db-internal'");
  assert.deepEqual(by['db-admin']!.mismatches, [
    { field: 'sources', reason: 'no entry of [10.1.2.3] matched 10.9.9.9:40000' },
  ]);
  assert.deepEqual(by['off-route']!.mismatches, [{ field: 'service', reason: "service 'off' is disabled" }]);
  assert.deepEqual(by['dns']!.mismatches, [
    { field: 'protocols', reason: '[udp] does not serve tcp connections' },
    { field: 'destinations', reason: 'no entry of [:53] matched 10.0.0.1:5432' },
  ]);
  assert.equal(by['http-route'], undefined, 'HTTP-only routes are left out at load time');
  const tls = explainRoute(c, {
    protocol: 'tls',
    srcIp: '10.9.9.9',
    srcPort: 1,
    dstIp: '10.0.0.1',
    dstPort: 1,
    sni: 'app.example.com',
  });
  // exact and wildcard SNI weigh the same (Kong): the larger id wins
  const ids = Object.fromEntries(c.routes.map((r) => [r.name, r.id]));
  const sniWinner = ids['web-exact']! > ids['web-wild']! ? 'web-exact' : 'web-wild';
  assert.equal(tls.winner?.name, sniWinner);
  const loser = tls.others.find((v) => v.name === (sniWinner === 'web-exact' ? 'web-wild' : 'web-exact'))!;
  assert.match(loser.note!, /same priority 256; the tie goes to the larger id/);
  const exactFirst = explainRoute(
    c,
    { protocol: 'tls', srcIp: '10.9.9.9', srcPort: 1, dstIp: '10.0.0.1', dstPort: 1, sni: 'app.example.com' },
    { exactSniFirst: true },
  );
  assert.equal(exactFirst.winner?.name, 'web-exact');
  const wrong = explainRoute(c, {
    protocol: 'tls',
    srcIp: '10.9.9.9',
    srcPort: 1,
    dstIp: '10.0.0.1',
    dstPort: 1,
    sni: 'other.test',
  });
  assert.equal(
    wrong.others.find((v) => v.name === 'web-exact')!.mismatches[0]!.reason,
    "'other.test' matched none of [app.example.com]",
  );
  const tie = explainRoute(c, { protocol: 'tcp', srcIp: '10.9.9.9', srcPort: 1, dstIp: '10.0.0.1', dstPort: 7000 });
  assert.equal(tie.winner?.name, 'tie-b');
  assert.match(
    tie.others[0]!.note!,
    /tie goes to the larger id \(as Kong\): 00000000-0000-4000-8000-00000000000b > 00000000-0000-4000-8000-00000000000a/,
  );
});

test('route explain CLI: text, json, no route (exit 1), usage and invalid file (exit 2)', async () => {
  const f = files('explain-cli', { 'kong.yml': CONFIG, 'bad.yml': '_format_version: "3.0"\nservices: 3\n' });
  const r = await runRoute([
    'explain',
    '-c',
    f['kong.yml']!,
    '--source',
    '10.9.9.9:40000',
    '--destination',
    '10.0.0.1:5432',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.deepEqual(lines.slice(0, 5), [
    'connection: tcp from 10.9.9.9:40000 to 10.0.0.1:5432',
    "winner: route 'db-internal' → service 'db'",
    '  priority 276 = 256 (sources and destinations) + 16 (sources: 1×16) + 4 (destinations)',
    'other routes (12):',
    "  route 'db-port' → service 'db': matched, but with a lower priority: 4 < 276 of route 'db-internal'",
  ]);
  assert.ok(
    lines.includes(
      "  route 'db-admin' → service 'db' (priority 128): sources: no entry of [10.1.2.3] matched 10.9.9.9:40000",
    ),
    r.stdout,
  );
  const j = await runRoute([
    'explain',
    '-c',
    f['kong.yml']!,
    '--sni',
    'App.Example.com',
    '--source',
    '[2001:db8::1]:1234',
    '--destination',
    '127.0.0.1:443',
    '--format',
    'json',
  ]);
  assert.equal(j.code, 0, j.stderr);
  const x = JSON.parse(j.stdout);
  assert.equal(x.conn.sni, 'app.example.com');
  assert.equal(x.conn.protocol, 'tls');
  assert.equal(x.winner.name, 'web-prefix'); // snis + a destination port outweigh snis alone
  const none = await runRoute(['explain', '-c', f['kong.yml']!, '--source', '1.1.1.1:1', '--destination', '1.1.1.1:1']);
  assert.equal(none.code, 1);
  assert.match(none.stdout, /no route matches/);
  const usage = await runRoute(['explain', '-c', f['kong.yml']!, '--source', '1.1.1.1', '--destination', '1.1.1.1:1']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--source must be ip:port/);
  const bad = await runRoute(['explain', '-c', f['bad.yml']!, '--source', '1.1.1.1:1', '--destination', '1.1.1.1:1']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /bad\.yml:2:\d+: error/);
});

test('end to end: a real StreamServer proxies the connection through the explained route', async (t) => {
  const up = await listenServer(
    createServer((s) => {
      s.on('error', () => {});
      s.end('hello');
    }),
  );
  t.after(() => up.close());
  const text = `_format_version: "3.0"
services:
  - name: echo
    url: tcp://127.0.0.1:${up.port}
    routes:
      - { name: by-port, protocols: [tcp], destinations: [{ port: PORT }] }
      - { name: by-src, protocols: [tcp], sources: [{ ip: 127.0.0.0/8 }] }
      - { name: by-both, protocols: [tcp], sources: [{ ip: 127.0.0.1 }], destinations: [{ ip: 127.0.0.1 }] }
`;
  // first listen with no routes to learn the port, then swap in the routes that name it
  const proxy = await startProxy({ services: [], routes: [] });
  t.after(() => proxy.close());
  const c = cfg(text.replace('PORT', String(proxy.port)));
  const { snapshot } = await import('../proxy/harness.js');
  proxy.server.swap(snapshot(c.services, c.routes));
  const sock = await connectTo(proxy.port);
  const explained = explainRoute(c, {
    protocol: 'tcp',
    srcIp: sock.localAddress!,
    srcPort: sock.localPort!,
    dstIp: '127.0.0.1',
    dstPort: proxy.port,
  });
  assert.equal((await readAll(sock)).toString(), 'hello');
  const rec = await proxy.nextRecord();
  assert.equal(explained.winner?.name, 'by-both');
  assert.equal(rec.route?.id, explained.winner?.id);
});
