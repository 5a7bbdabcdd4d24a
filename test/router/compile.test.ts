import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RouteEntity, ServiceEntity } from '../../src/config/types.js';
import { compileRouter, compileService } from '../../src/router/compile.js';
import type { ConnInfo, CompiledService } from '../../src/router/types.js';
import { route, service } from '../helpers/entities.js';

function build(routes: RouteEntity[], services: ServiceEntity[] = [service({ id: 's1' })]) {
  const map = new Map<string, CompiledService>();
  for (const s of services) map.set(s.id, compileService(s));
  return compileRouter(routes, map);
}

function conn(over: Partial<ConnInfo> = {}): ConnInfo {
  return { protocol: 'tcp', srcIp: '10.0.0.1', srcPort: 40000, dstIp: '127.0.0.1', dstPort: 9000, ...over };
}

test('compileService resolves numbers', () => {
  const s = compileService(
    service({
      id: 'x',
      name: 'n',
      host: 'h',
      port: 7,
      retries: 2,
      connect_timeout: 1,
      read_timeout: 2,
      write_timeout: 3,
    }),
  );
  assert.deepEqual([s.host, s.port, s.retries, s.connectTimeout, s.readTimeout, s.writeTimeout], ['h', 7, 2, 1, 2, 3]);
});

test('src+dst route beats a dst-only route with a heavier destination', () => {
  const r = build([
    route({ id: 'a', service: 's1', destinations: [{ ip: '127.0.0.1', port: 9000 }] }),
    route({ id: 'b', service: 's1', sources: [{ ip: '10.0.0.0/8' }], destinations: [{ port: 9000 }] }),
  ]);
  assert.equal(r.match(conn())?.id, 'b');
  assert.equal(r.routes[0]!.id, 'b');
});

test('ip beats cidr; port weighs between; source weighs above destination', () => {
  const r = build([
    route({ id: 'cidr', service: 's1', sources: [{ ip: '10.0.0.0/24' }] }),
    route({ id: 'ip', service: 's1', sources: [{ ip: '10.0.0.1' }] }),
    route({ id: 'port', service: 's1', sources: [{ port: 40000 }] }),
  ]);
  assert.equal(r.match(conn())?.id, 'ip');
  assert.equal(r.match(conn({ srcIp: '10.0.0.2' }))?.id, 'port');
  assert.equal(r.match(conn({ srcIp: '10.0.0.2', srcPort: 1 }))?.id, 'cidr');
  const r2 = build([
    route({ id: 'dst', service: 's1', destinations: [{ ip: '127.0.0.1', port: 9000 }] }),
    route({ id: 'src', service: 's1', sources: [{ ip: '10.0.0.0/8' }] }),
  ]);
  // a source cidr (1 << 4) outweighs the heaviest destination (ip+port = 12)
  assert.equal(r2.match(conn())?.id, 'src');
});

test('ip+port entry counts both weights', () => {
  const r = build([
    route({ id: 'a', service: 's1', destinations: [{ ip: '127.0.0.1' }] }),
    route({ id: 'b', service: 's1', destinations: [{ ip: '127.0.0.1', port: 9000 }] }),
  ]);
  assert.equal(r.match(conn())?.id, 'b');
  assert.equal(r.match(conn({ dstPort: 9001 }))?.id, 'a');
});

test('destination index: port buckets and routes without a port', () => {
  const r = build([
    route({ id: 'p1', service: 's1', destinations: [{ port: 1000 }, { port: 1001 }] }),
    route({ id: 'p2', service: 's1', destinations: [{ port: 2000 }] }),
    route({ id: 'any', service: 's1', destinations: [{ ip: '127.0.0.0/8' }] }),
  ]);
  assert.equal(r.match(conn({ dstPort: 1001 }))?.id, 'p1');
  assert.equal(r.match(conn({ dstPort: 2000 }))?.id, 'p2');
  assert.equal(r.match(conn({ dstPort: 3000 }))?.id, 'any');
  assert.equal(r.match(conn({ dstPort: 3000, dstIp: '192.168.0.1' })), undefined);
});

test('IPv6 addresses, /128, /0 and IPv4-mapped clients', () => {
  const one = (ip: string) => build([route({ id: 'a', service: 's1', sources: [{ ip }] })]);
  assert.equal(one('2001:db8::1/128').match(conn({ srcIp: '2001:db8::1' }))?.id, 'a');
  assert.equal(one('2001:db8::1/128').match(conn({ srcIp: '2001:db8::2' })), undefined);
  assert.equal(one('2001:db8::/32').match(conn({ srcIp: '2001:0db8:0:0:0:0:0:2' }))?.id, 'a');
  assert.equal(one('2001:db8::/32').match(conn({ srcIp: '2001:db9::1' })), undefined);
  assert.equal(one('::/0').match(conn({ srcIp: '2001:db9::1' }))?.id, 'a');
  // an IPv4 client is not inside an IPv6 /0
  assert.equal(one('::/0').match(conn({ srcIp: '5.6.7.8' })), undefined);
  assert.equal(one('1.2.3.4').match(conn({ srcIp: '::ffff:1.2.3.4' }))?.id, 'a');
  assert.equal(one('::1').match(conn({ srcIp: '::1' }))?.id, 'a');
  // an exact ip (8) outranks any cidr (1), whatever its prefix: Kong weighs the kind, not the length
  const r = build([
    route({ id: 'v6net', service: 's1', sources: [{ ip: '2001:db8::/32' }] }),
    route({ id: 'v6host', service: 's1', sources: [{ ip: '2001:db8::1' }] }),
  ]);
  assert.equal(r.match(conn({ srcIp: '2001:db8::1' }))?.id, 'v6host');
  assert.equal(r.match(conn({ srcIp: '2001:db8::2' }))?.id, 'v6net');
});

test('IPv4 /0 and /32', () => {
  const one = (ip: string) => build([route({ id: 'a', service: 's1', sources: [{ ip }] })]);
  assert.equal(one('192.168.1.7/32').match(conn({ srcIp: '192.168.1.7' }))?.id, 'a');
  assert.equal(one('192.168.1.7/32').match(conn({ srcIp: '192.168.1.8' })), undefined);
  assert.equal(one('192.168.1.7/32').match(conn({ srcIp: '::ffff:192.168.1.7' }))?.id, 'a');
  assert.equal(one('0.0.0.0/0').match(conn({ srcIp: '203.0.113.9' }))?.id, 'a');
  assert.equal(one('0.0.0.0/0').match(conn({ srcIp: '::1' })), undefined);
});

test('SNI: exact and wildcards weigh the same (larger id wins, as Kong); router_exact_sni_first prefers exact', () => {
  const routes = () => [
    route({ id: 'w1', service: 's1', protocols: ['tls'], snis: ['*.example.com'] }),
    route({ id: 'w2', service: 's1', protocols: ['tls_passthrough'], snis: ['example.*'] }),
    route({ id: 'a-exact', service: 's1', protocols: ['tls'], snis: ['A.Example.com'] }),
  ];
  const r = build(routes());
  const tls = (sni?: string) => r.match(conn({ protocol: 'tls', sni }))?.id;
  assert.equal(tls('a.example.com'), 'w1'); // same priority: the larger id wins, exact or not
  assert.equal(tls('b.c.example.com'), 'w1');
  assert.equal(tls('example.org'), 'w2');
  assert.equal(tls('example.co.uk'), 'w2'); // Kong's prefix match: `example.*` takes any deeper name
  assert.equal(tls('example.com'), 'w2');
  assert.equal(tls(undefined), undefined);
  assert.equal(tls('other.org'), undefined);
  const e = compileRouter(routes(), new Map([['s1', compileService(service({ id: 's1' }))]]), { exactSniFirst: true });
  assert.equal(e.match(conn({ protocol: 'tls', sni: 'a.example.com' }))?.id, 'a-exact');
  assert.equal(e.match(conn({ protocol: 'tls', sni: 'b.example.com' }))?.id, 'w1');
});

test('SNI is not enforced on tcp connections', () => {
  const r = build([
    route({ id: 'a', service: 's1', protocols: ['tcp', 'tls'], snis: ['x.test'], destinations: [{ port: 9000 }] }),
  ]);
  assert.equal(r.match(conn())?.id, 'a');
  assert.equal(r.match(conn({ protocol: 'tls', sni: 'y.test' })), undefined);
  assert.equal(r.match(conn({ protocol: 'tls', sni: 'x.test' }))?.id, 'a');
});

test('protocol filtering: tcp, tls (tls + tls_passthrough), udp, http ignored', () => {
  const r = build([
    route({ id: 't', service: 's1', protocols: ['tcp'], destinations: [{ port: 9000 }] }),
    route({ id: 'u', service: 's1', protocols: ['udp'], destinations: [{ port: 9000 }] }),
    route({ id: 'h', service: 's1', protocols: ['http'], destinations: [{ port: 9000 }] }),
    route({ id: 'p', service: 's1', protocols: ['tls_passthrough'], snis: ['a.test'] }),
  ]);
  assert.equal(r.match(conn())?.id, 't');
  assert.equal(r.match(conn({ protocol: 'udp' }))?.id, 'u');
  assert.equal(r.match(conn({ protocol: 'tls', sni: 'a.test' }))?.id, 'p');
  assert.equal(
    r.routes.some((x) => x.id === 'h'),
    false,
  );
});

test('routes of disabled services are left out; routes without a service are kept', () => {
  const r = build(
    [
      route({ id: 'off', service: 'sd', destinations: [{ port: 9000, ip: '127.0.0.1' }] }),
      route({ id: 'noservice', destinations: [{ port: 9000 }] }),
    ],
    [service({ id: 'sd', enabled: false })],
  );
  const m = r.match(conn());
  assert.equal(m?.id, 'noservice');
  assert.equal(m?.service, undefined);
});

test('ties go to the larger route id (atc-router), whatever the file order', () => {
  const a = route({ id: 'aaa', service: 's1', destinations: [{ port: 9000 }] });
  const b = route({ id: 'bbb', service: 's1', destinations: [{ port: 9000 }] });
  assert.equal(build([a, b]).match(conn())?.id, 'bbb');
  assert.equal(build([b, a]).match(conn())?.id, 'bbb');
});

test('no match', () => {
  const r = build([route({ id: 'a', service: 's1', sources: [{ ip: '10.1.0.0/16' }] })]);
  assert.equal(r.match(conn()), undefined);
  assert.equal(build([]).match(conn()), undefined);
});

test('every side must match, any entry of a side', () => {
  const r = build([
    route({
      id: 'a',
      service: 's1',
      sources: [{ ip: '10.9.9.9' }, { ip: '10.0.0.0/16', port: 40000 }],
      destinations: [{ ip: '127.0.0.1', port: 9000 }],
    }),
  ]);
  assert.equal(r.match(conn())?.id, 'a');
  assert.equal(r.match(conn({ srcPort: 1 })), undefined);
  assert.equal(r.match(conn({ srcIp: '10.9.9.9', srcPort: 1 }))?.id, 'a');
  assert.equal(r.match(conn({ dstIp: '127.0.0.2' })), undefined);
});

test('a thousand routes: a match looks at the port bucket, fast', () => {
  const routes: RouteEntity[] = [];
  for (let i = 0; i < 1000; i++)
    routes.push(route({ id: `r${String(i).padStart(4, '0')}`, service: 's1', destinations: [{ port: 10000 + i }] }));
  const r = build(routes);
  const c = conn({ dstPort: 10500 });
  const t0 = performance.now();
  for (let i = 0; i < 100000; i++) r.match(c);
  const per = (performance.now() - t0) / 100000;
  assert.equal(r.match(c)?.id, 'r0500');
  assert.ok(per < 0.01, `match took ${per} ms`);
});
