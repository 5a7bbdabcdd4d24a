/** The declarative file the admin tests serve: every entity type, nested and top level, and enough routes to page. */
import { block, testPem } from './helpers.js';

export const CERT_ID = '1b2c3d4e-0000-4000-8000-00000000c001';
export const MANY = 25;

export function fullConfig(): string {
  const pem = testPem();
  const many = Array.from(
    { length: MANY },
    (_, i) =>
      `  - name: many-${String(i).padStart(2, '0')}\n    protocols: [tcp]\n    destinations: [{port: ${10000 + i}}]`,
  ).join('\n');
  return `_format_version: "3.0"
# a comment that GET /config keeps
services:
- name: echo
  url: tcp://127.0.0.1:7000
  tags: [blue]
  routes:
  - name: echo-tcp
    protocols: [tcp]
    destinations: [{port: 9000}]
    tags: [blue, red]
    plugins:
    - name: ip-restriction
      protocols: [tcp]
      config: {allow: [127.0.0.1]}
  plugins:
  - name: prometheus
    protocols: [tcp]
- name: lb
  host: pool.upstream
  protocol: tcp
  routes:
  - name: lb-tls
    protocols: [tls]
    snis: [app.example.com]
- name: many
  url: tcp://127.0.0.1:7100
  routes:
${many}
certificates:
- id: ${CERT_ID}
  tags: [red]
  cert: ${block(pem.cert, 4)}
  key: ${block(pem.key, 4)}
  snis:
  - name: app.example.com
    tags: [red]
ca_certificates:
- cert: ${block(pem.caCert, 4)}
upstreams:
- name: pool.upstream
  healthchecks: {passive: {unhealthy: {tcp_failures: 3}}}
  targets:
  - target: 127.0.0.1:7001
  - target: 127.0.0.2:7002
    weight: 50
- name: off.upstream
  targets: [{target: 127.0.0.3:7003}]
consumers:
- username: alice
plugins:
- name: prometheus
  protocols: [tcp, tls]
`;
}
