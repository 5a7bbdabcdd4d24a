/**
 * Rows of what a process serves, as the admin API's dashboard shows them: its listeners as bound, its upstreams'
 * targets with health and open connections, and those of a cluster's workers combined. cli/start.ts and
 * cluster/primary.ts fill the dashboard's sources with them, a cluster worker reports its targets with them, and
 * the admin API reads the same rows: so they live below all three.
 */
import type { Balancer, TargetHealth } from '../balancer/types.js';
import { hostPort } from '../net/address.js';
import type { ListenSpec } from '../settings/types.js';

export interface ListenerRow {
  kind: 'tcp' | 'udp' | 'admin';
  address: string;
  ssl: boolean;
  proxy_protocol: boolean;
  text?: string;
}

/** Pairs the listeners as configured with the addresses they were bound to (in order, TCP and UDP apart). */
export function listenerRows(
  specs: readonly ListenSpec[],
  bound: readonly { host: string; port: number; udp?: boolean }[],
): ListenerRow[] {
  const rows: ListenerRow[] = [];
  for (const udp of [false, true]) {
    const s = specs.filter((x) => x.udp === udp),
      b = bound.filter((x) => !!x.udp === udp);
    s.forEach((spec, i) =>
      rows.push({
        kind: udp ? 'udp' : 'tcp',
        address: b[i] ? hostPort(b[i].host, b[i].port) : hostPort(spec.host, spec.port),
        ssl: spec.ssl,
        proxy_protocol: spec.proxyProtocol,
        text: spec.text,
      }),
    );
  }
  return rows;
}

/** A balancer's targets with their health and open connections. */
export function targetRows(b: Balancer): TargetHealth[] {
  return b.healthWithConnections?.() ?? b.health();
}

const WORST: Record<TargetHealth['health'], number> = { HEALTHY: 0, HEALTHCHECKS_OFF: 1, DNS_ERROR: 2, UNHEALTHY: 3 };

/**
 * The targets of a cluster's workers as one: open connections summed per address; the health any worker sees at
 * its worst (each worker runs its own passive checks, so an unhealthy verdict is never hidden by a healthy one).
 */
export function combineTargets(
  parts: Iterable<Record<string, TargetHealth[]> | undefined>,
): Record<string, TargetHealth[]> {
  const out: Record<string, TargetHealth[]> = {};
  for (const part of parts) {
    for (const [upstream, targets] of Object.entries(part ?? {})) {
      const have = (out[upstream] ??= []);
      for (const t of targets) {
        const mine = have.find((x) => x.id === t.id);
        if (!mine) {
          have.push({ ...t, addresses: t.addresses.map((a) => ({ ...a })) });
          continue;
        }
        if (WORST[t.health] > WORST[mine.health]) mine.health = t.health;
        for (const a of t.addresses) {
          const m = mine.addresses.find((x) => x.ip === a.ip && x.port === a.port);
          if (!m) mine.addresses.push({ ...a });
          else {
            m.connections = (m.connections ?? 0) + (a.connections ?? 0);
            if (WORST[a.health] > WORST[m.health]) m.health = a.health;
          }
        }
      }
    }
  }
  return out;
}
