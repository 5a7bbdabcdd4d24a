/**
 * Router parity cases: each names the Kong (3.9.3 tag) or atc-router source it comes from, the routes, the
 * connection and Kong's winner (a route name, or null: "no Route found with those values").
 *
 * Where Kong's unit test leaves a connection field out (nil), the case gives an address no route names
 * (192.0.2.x, port 40000+), which is what an absent field amounts to: no predicate on it can match.
 */

export interface ParityRoute {
  name: string;
  id: string;
  protocols: string[];
  sources?: { ip?: string; port?: number }[];
  destinations?: { ip?: string; port?: number }[];
  snis?: string[];
}

export interface RouterCase {
  /** `file:line what` in Kong/kong (tag 3.9.3) or Kong/atc-router */
  spec: string;
  routes: ParityRoute[];
  conn: { protocol: 'tcp' | 'tls' | 'udp'; src?: [string, number]; dst?: [string, number]; sni?: string };
  /** Kong's winner (route name) or null */
  want: string | null;
  /** router options (kong.conf settings) */
  options?: { hostPorts?: [number, number][]; exactSniFirst?: boolean };
}

const id = (n: number) => `e8fb37f1-102d-461e-9c51-6608a6bb81${String(n).padStart(2, '0')}`;
const R = 'spec/01-unit/08-router_spec.lua';

// 08-router_spec.lua:4412 [sources] use cases (ids ...8101 to ...8105)
const SOURCES: ParityRoute[] = [
  { name: 'src-plain-ip', id: id(1), protocols: ['tcp'], sources: [{ ip: '127.0.0.1' }, { ip: '127.0.0.2' }] },
  { name: 'src-plain-port', id: id(2), protocols: ['tcp'], sources: [{ port: 65001 }, { port: 65002 }] },
  { name: 'src-range', id: id(3), protocols: ['tcp'], sources: [{ ip: '127.168.0.0/8' }] },
  { name: 'src-ip-port', id: id(4), protocols: ['tcp'], sources: [{ ip: '127.0.0.1', port: 65001 }] },
  {
    name: 'src-ip-port-range',
    id: id(5),
    protocols: ['tcp'],
    sources: [
      { ip: '127.0.0.2', port: 65300 },
      { ip: '127.168.0.0/16', port: 65301 },
    ],
  },
];

// 08-router_spec.lua:4526 [destinations] use cases
const DESTINATIONS: ParityRoute[] = SOURCES.map((r) => ({
  name: r.name.replace('src', 'dst'),
  id: r.id,
  protocols: r.protocols,
  destinations: r.sources,
}));

// 08-router_spec.lua:1743 [wildcard sni] (the same `tls.sni` expression serves stream routes: transform.lua:344)
const WILDCARD: ParityRoute[] = [
  { name: 'leftmost', id: id(1), protocols: ['tls'], snis: ['*.sni.test'] },
  { name: 'rightmost', id: id(2), protocols: ['tls'], snis: ['sni.*'] },
];

const SNI_VS_SIDES: ParityRoute[] = [
  { name: 'sni', id: id(1), protocols: ['tls'], snis: ['www.example.org'] },
  { name: 'src', id: id(2), protocols: ['tls'], sources: [{ ip: '127.0.0.1' }] },
  { name: 'dst', id: id(3), protocols: ['tls'], destinations: [{ ip: '172.168.0.1' }] },
];

const SRC_DST_VS_SNI: ParityRoute[] = [
  { name: 'sni', id: id(1), protocols: ['tls'], snis: ['www.example.org'] },
  {
    name: 'src-dst',
    id: id(2),
    protocols: ['tls'],
    sources: [{ ip: '127.0.0.1' }],
    destinations: [{ ip: '172.168.0.1' }],
  },
];

const PASSTHROUGH: ParityRoute[] = [
  { name: 'com', id: id(1), protocols: ['tls_passthrough'], snis: ['www.example.com'] },
  { name: 'org', id: id(2), protocols: ['tls_passthrough'], snis: ['www.example.org'] },
];

// 06-ssl_spec.lua:591 (FQDN route SNI, regression for Kong issue 7550)
const FQDN: ParityRoute[] = [
  { name: 'example', id: id(1), protocols: ['tls'], snis: ['example.com'] },
  { name: 'fqdn', id: id(2), protocols: ['tls'], snis: ['foobar.example.com.'] },
];

// transform.lua:478 calc_ip_weight: a side's weight is the OR of its entries' bits (IP 8 | PORT 4 | CIDR 1)
const OR_WEIGHT: ParityRoute[] = [
  { name: 'port-and-ip-entries', id: id(1), protocols: ['tcp'], sources: [{ port: 40001 }, { ip: '10.0.0.1' }] },
  { name: 'ip-port-entry', id: id(2), protocols: ['tcp'], sources: [{ ip: '10.0.0.1', port: 40001 }] },
];
const OR_WEIGHT_2: ParityRoute[] = [
  { name: 'cidr-and-ip', id: id(1), protocols: ['tcp'], sources: [{ ip: '10.0.0.0/8' }, { ip: '10.0.0.1' }] },
  { name: 'ip-only', id: id(2), protocols: ['tcp'], sources: [{ ip: '10.0.0.1' }] },
];

// atc-router src/router.rs:95: matchers walked from the largest (priority, uuid) key: equal priority → larger id
const TIE: ParityRoute[] = [
  { name: 'small-id', id: '00000000-0000-4000-8000-000000000001', protocols: ['tcp'], destinations: [{ port: 7000 }] },
  { name: 'large-id', id: 'ffffffff-0000-4000-8000-000000000001', protocols: ['tcp'], destinations: [{ port: 7000 }] },
];
const TIE_SNI: ParityRoute[] = [
  { name: 'exact', id: '00000000-0000-4000-8000-000000000001', protocols: ['tls'], snis: ['api.example.test'] },
  { name: 'wildcard', id: 'ffffffff-0000-4000-8000-000000000001', protocols: ['tls'], snis: ['*.example.test'] },
];

// 08-router_spec.lua:4814 "check empty route fields": an empty snis list is no SNI condition
const EMPTY_SNIS: ParityRoute[] = [
  { name: 'empty-snis', id: id(1), protocols: ['tls'], snis: [], sources: [{ ip: '127.0.0.1' }] },
];

// runloop/handler.lua:1076 ctx.host_port = HOST_PORTS[server_port]; fields.lua net.dst.port uses host_port
const PORT_MAPS: ParityRoute[] = [
  { name: 'host-port', id: id(1), protocols: ['tcp'], destinations: [{ port: 80 }] },
  { name: 'listener-port', id: id(2), protocols: ['tcp'], destinations: [{ port: 8000 }] },
];

const tcp = (src?: [string, number], dst?: [string, number]): RouterCase['conn'] => ({ protocol: 'tcp', src, dst });
const tls = (sni: string | undefined, src?: [string, number], dst?: [string, number]): RouterCase['conn'] => ({
  protocol: 'tls',
  sni,
  src,
  dst,
});

export const ROUTER_CASES: RouterCase[] = [
  { spec: `${R}:4482 [src_ip]`, routes: SOURCES, conn: tcp(['127.0.0.1', 40000]), want: 'src-plain-ip' },
  { spec: `${R}:4492 [src_port]`, routes: SOURCES, conn: tcp(['127.0.0.3', 65001]), want: 'src-plain-port' },
  { spec: `${R}:4498 [src_ip] range match`, routes: SOURCES, conn: tcp(['127.168.0.1', 40000]), want: 'src-range' },
  { spec: `${R}:4504 [src_ip] + [src_port]`, routes: SOURCES, conn: tcp(['127.0.0.1', 65001]), want: 'src-ip-port' },
  {
    spec: `${R}:4510 [src_ip] range match + [src_port]`,
    routes: SOURCES,
    conn: tcp(['127.168.10.1', 65301]),
    want: 'src-ip-port-range',
  },
  { spec: `${R}:4516 [src_ip] no match`, routes: SOURCES, conn: tcp(['10.0.0.1', 40000]), want: null },
  { spec: `${R}:4516 [src_ip] no match (with port)`, routes: SOURCES, conn: tcp(['10.0.0.2', 65301]), want: null },
  {
    spec: `${R}:4592 [dst_ip]`,
    routes: DESTINATIONS,
    conn: tcp(undefined, ['127.0.0.1', 40000]),
    want: 'dst-plain-ip',
  },
  {
    spec: `${R}:4604 [dst_port]`,
    routes: DESTINATIONS,
    conn: tcp(undefined, ['127.0.0.3', 65001]),
    want: 'dst-plain-port',
  },
  {
    spec: `${R}:4611 [dst_ip] range match`,
    routes: DESTINATIONS,
    conn: tcp(undefined, ['127.168.0.1', 40000]),
    want: 'dst-range',
  },
  {
    spec: `${R}:4618 [dst_ip] + [dst_port]`,
    routes: DESTINATIONS,
    conn: tcp(undefined, ['127.0.0.1', 65001]),
    want: 'dst-ip-port',
  },
  {
    spec: `${R}:4625 [dst_ip] range match + [dst_port]`,
    routes: DESTINATIONS,
    conn: tcp(undefined, ['127.168.10.1', 65301]),
    want: 'dst-ip-port-range',
  },
  { spec: `${R}:4632 [dst_ip] no match`, routes: DESTINATIONS, conn: tcp(undefined, ['10.0.0.1', 40000]), want: null },
  {
    spec: `${R}:4632 [dst_ip] no match (with port)`,
    routes: DESTINATIONS,
    conn: tcp(undefined, ['10.0.0.2', 65301]),
    want: null,
  },
  {
    spec: `${R}:4732 [sni] has higher priority than [src]`,
    routes: SNI_VS_SIDES,
    conn: tls('www.example.org', ['127.0.0.1', 40000]),
    want: 'sni',
  },
  {
    spec: `${R}:4732 [sni] has higher priority than [dst]`,
    routes: SNI_VS_SIDES,
    conn: tls('www.example.org', undefined, ['172.168.0.1', 40000]),
    want: 'sni',
  },
  {
    spec: `${R}:4777 [src] + [dst] has higher priority than [sni]`,
    routes: SRC_DST_VS_SNI,
    conn: tls('www.example.org', ['127.0.0.1', 40000], ['172.168.0.1', 40000]),
    want: 'src-dst',
  },
  {
    spec: `${R}:1767 matches leftmost wildcards (foo.sni.test)`,
    routes: WILDCARD,
    conn: tls('foo.sni.test'),
    want: 'leftmost',
  },
  {
    spec: `${R}:1767 matches leftmost wildcards (foo.bar.sni.test)`,
    routes: WILDCARD,
    conn: tls('foo.bar.sni.test'),
    want: 'leftmost',
  },
  {
    spec: `${R}:1779 matches rightmost wildcards (sni.foo)`,
    routes: WILDCARD,
    conn: tls('sni.foo'),
    want: 'rightmost',
  },
  {
    spec: `${R}:1779 matches rightmost wildcards (sni.foo.bar)`,
    routes: WILDCARD,
    conn: tls('sni.foo.bar'),
    want: 'rightmost',
  },
  { spec: `${R}:1788 doesn't match wildcard (bar.sni.foo)`, routes: WILDCARD, conn: tls('bar.sni.foo'), want: null },
  {
    spec: `${R}:1788 doesn't match wildcard (foo.sni.test.bar)`,
    routes: WILDCARD,
    conn: tls('foo.sni.test.bar'),
    want: null,
  },
  {
    spec: `${R}:5166 SNI-based routing using tls_passthrough (.com)`,
    routes: PASSTHROUGH,
    conn: tls('www.example.com'),
    want: 'com',
  },
  {
    spec: `${R}:5166 SNI-based routing using tls_passthrough (.org)`,
    routes: PASSTHROUGH,
    conn: tls('www.example.org'),
    want: 'org',
  },
  {
    spec: `${R}:4841 empty snis: a sources-only route`,
    routes: EMPTY_SNIS,
    conn: tls(undefined, ['127.0.0.1', 40000]),
    want: 'empty-snis',
  },
  {
    spec: 'spec/02-integration/05-proxy/06-ssl_spec.lua:650 route SNI with a trailing dot (FQDN)',
    routes: FQDN,
    conn: tls('foobar.example.com'),
    want: 'fqdn',
  },
  {
    spec: 'spec/02-integration/05-proxy/06-ssl_spec.lua:629 plain SNI beside an FQDN one',
    routes: FQDN,
    conn: tls('example.com'),
    want: 'example',
  },
  {
    spec: 'kong/router/transform.lua:478 side weight is the OR of entries (port|ip = ip+port)',
    routes: OR_WEIGHT,
    conn: tcp(['10.0.0.1', 40001]),
    want: 'ip-port-entry',
  },
  {
    spec: 'kong/router/transform.lua:478 side weight is the OR of entries (cidr|ip beats ip)',
    routes: OR_WEIGHT_2,
    conn: tcp(['10.0.0.1', 40000]),
    want: 'cidr-and-ip',
  },
  {
    spec: 'atc-router src/router.rs:95 equal priority: the larger uuid wins',
    routes: TIE,
    conn: tcp(undefined, ['127.0.0.1', 7000]),
    want: 'large-id',
  },
  {
    spec: 'kong/router/transform.lua:510 exact and wildcard SNI weigh the same: larger uuid wins',
    routes: TIE_SNI,
    conn: tls('api.example.test'),
    want: 'wildcard',
  },
  {
    spec: 'kong-ts router_exact_sni_first=on (off by default): exact SNI first on equal priority',
    routes: TIE_SNI,
    conn: tls('api.example.test'),
    want: 'exact',
    options: { exactSniFirst: true },
  },
  {
    spec: 'kong/runloop/handler.lua:1076 port_maps 80:8000, listener 8000: routes see 80',
    routes: PORT_MAPS,
    conn: tcp(undefined, ['127.0.0.1', 8000]),
    want: 'host-port',
    options: { hostPorts: [[8000, 80]] },
  },
  {
    spec: 'kong/runloop/handler.lua:1076 no port_maps: routes see the listener port',
    routes: PORT_MAPS,
    conn: tcp(undefined, ['127.0.0.1', 8000]),
    want: 'listener-port',
  },
];
