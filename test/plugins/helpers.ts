import type { PluginEntity } from '../../src/config/types.js';
import type { LogRecord } from '../../src/plugins/types.js';

let n = 0;

/** A plugin entity with Kong's stream defaults; override what the test is about. */
export function entity(name: string, over: Partial<PluginEntity> = {}): PluginEntity {
  n++;
  return {
    id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    name,
    config: {},
    enabled: true,
    protocols: ['tcp', 'tls'],
    tags: [],
    ...over,
  };
}

/** A finished session record. */
export function record(over: Partial<LogRecord> = {}, status = 200): LogRecord {
  return {
    session: { received: 120, sent: 4096, status, server_port: 9000 },
    upstream: { received: 4096, sent: 120 },
    latencies: { kong: 1, session: 35, connect: 2 },
    tries: [{ ip: '127.0.0.1', port: 8080, balancer_latency: 2 }],
    route: { id: 'r1-id', name: 'r1' },
    service: { id: 's1-id', name: 's1' },
    client_ip: '127.0.0.1',
    client_port: 50000,
    listener: '0.0.0.0:9000',
    protocol: 'tcp',
    started_at: Date.now(),
    ...over,
  };
}

/** Polls until `check` returns true or the time is up. */
export async function waitFor(check: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
