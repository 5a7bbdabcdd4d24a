/**
 * Builders for normalized entities and listen specs, with Kong's defaults filled in, for router and proxy tests.
 */
import type { RouteEntity, ServiceEntity } from '../../src/config/types.js';
import type { ListenSpec } from '../../src/settings/types.js';

export function service(over: Partial<ServiceEntity> & { id: string }): ServiceEntity {
  return {
    protocol: 'tcp',
    host: '127.0.0.1',
    port: 80,
    retries: 5,
    connect_timeout: 60000,
    write_timeout: 60000,
    read_timeout: 60000,
    enabled: true,
    tags: [],
    ...over,
  };
}

export function route(over: Partial<RouteEntity> & { id: string }): RouteEntity {
  return { protocols: ['tcp'], tags: [], ...over };
}

export function listenSpec(host = '127.0.0.1', port = 0, over: Partial<ListenSpec> = {}): ListenSpec {
  return {
    host,
    port,
    ssl: false,
    proxyProtocol: false,
    udp: false,
    reuseport: false,
    bind: false,
    text: `${host.includes(':') ? `[${host}]` : host}:${port}`,
    ...over,
  };
}
