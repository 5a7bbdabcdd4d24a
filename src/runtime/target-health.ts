/**
 * The per-target health gauges of `/metrics`, set from the live snapshot's balancers: the admin API does it before
 * it answers, a cluster worker before it reports its series to the primary.
 */
import type { HealthName } from '../balancer/types.js';
import type { TargetHealth as MetricHealth } from '../metrics/metrics.js';
import type { Runtime } from './runtime.js';
import type { Snapshot } from './snapshot.js';

const METRIC_HEALTH: Record<HealthName, MetricHealth> = {
  HEALTHY: 'healthy',
  UNHEALTHY: 'unhealthy',
  DNS_ERROR: 'dns_error',
  HEALTHCHECKS_OFF: 'healthchecks_off',
};

/** Sets the per-target health gauges from the live balancers (targets of older snapshots are forgotten). */
export function refreshTargetHealth(runtime: Runtime, snap: Snapshot | undefined): void {
  const m = runtime.metrics;
  m.clearTargetHealth();
  for (const b of snap?.balancers.values() ?? []) {
    for (const t of b.health()) m.setTargetHealth(b.upstreamName, t.target, METRIC_HEALTH[t.health]);
  }
}
