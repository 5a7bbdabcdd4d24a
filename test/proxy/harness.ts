/**
 * A StreamServer on port 0 with a compiled snapshot, collecting every SessionRecord it reports.
 */
import type { RouteEntity, ServiceEntity } from '../../src/config/types.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { AccessLog } from '../../src/proxy/access-log.js';
import type { SessionRecord } from '../../src/proxy/record.js';
import { StreamServer } from '../../src/proxy/stream-server.js';
import type { ProxySnapshot } from '../../src/proxy/types.js';
import { compileRouter, compileService } from '../../src/router/compile.js';
import type { CompiledService } from '../../src/router/types.js';
import type { ListenSpec } from '../../src/settings/types.js';
import { listenSpec } from '../helpers/entities.js';

let generation = 0;

export function snapshot(services: ServiceEntity[], routes: RouteEntity[]): ProxySnapshot {
  const map = new Map<string, CompiledService>();
  for (const s of services) map.set(s.id, compileService(s));
  return { generation: ++generation, router: compileRouter(routes, map) };
}

export interface Harness {
  server: StreamServer;
  /** the first listener's port */
  port: number;
  ports: number[];
  records: SessionRecord[];
  /** resolves with the next record reported (or one already waiting) */
  nextRecord(): Promise<SessionRecord>;
  close(): Promise<void>;
}

export async function startProxy(opts: {
  services: ServiceEntity[];
  routes: RouteEntity[];
  listeners?: ListenSpec[];
  accessLog?: AccessLog;
  logger?: Logger;
  record?: boolean;
}): Promise<Harness> {
  const records: SessionRecord[] = [];
  const waiting: ((r: SessionRecord) => void)[] = [];
  const server = new StreamServer({
    listeners: opts.listeners ?? [listenSpec()],
    logger: opts.logger ?? silentLogger,
    accessLog: opts.accessLog,
    onSessionEnd:
      opts.record === false
        ? undefined
        : (r) => {
            const w = waiting.shift();
            if (w) w(r);
            else records.push(r);
          },
  });
  server.swap(snapshot(opts.services, opts.routes));
  await server.listen();
  const ports = server.addresses().map((a) => a.port);
  return {
    server,
    port: ports[0]!,
    ports,
    records,
    nextRecord: () => {
      const r = records.shift();
      return r ? Promise.resolve(r) : new Promise((resolve) => waiting.push(resolve));
    },
    close: async () => {
      await server.close();
    },
  };
}
