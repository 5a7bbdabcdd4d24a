/**
 * Session and byte totals read off a metrics registry: what the dashboard's rate charts sample, and what a cluster
 * worker reports to its primary, which sums them.
 */
import type { Metrics } from './metrics.js';

/** Counters since start; the page charts their per-second differences. */
export interface Totals {
  /** TCP connections accepted and UDP sessions started */
  accepted: number;
  /** bytes from and to clients, counted when a session ends (as Kong's bandwidth metric) */
  bytes_in: number;
  bytes_out: number;
  /** finished sessions by status code */
  statuses: Record<string, number>;
}

interface Values {
  get(): Promise<{ values: { value: number; labels: Record<string, string | number> }[] }>;
}

/** The session and byte totals of a metrics registry (a Map walk of its label children; nothing on the data path). */
export async function metricTotals(metrics: Metrics, accepted: number): Promise<Totals> {
  const t: Totals = { accepted, bytes_in: 0, bytes_out: 0, statuses: {} };
  const sessions = metrics.registry.getSingleMetric('kong_stream_sessions_total') as Values | undefined;
  const bytes = metrics.registry.getSingleMetric('kong_bandwidth_bytes') as Values | undefined;
  for (const v of (await sessions?.get())?.values ?? []) {
    const code = String(v.labels.code);
    t.statuses[code] = (t.statuses[code] ?? 0) + v.value;
  }
  for (const v of (await bytes?.get())?.values ?? []) {
    if (v.labels.direction === 'ingress') t.bytes_in += v.value;
    else t.bytes_out += v.value;
  }
  return t;
}

/** Sums totals (a cluster's workers). */
export function addTotals(into: Totals, t: Totals): Totals {
  into.accepted += t.accepted;
  into.bytes_in += t.bytes_in;
  into.bytes_out += t.bytes_out;
  for (const [k, n] of Object.entries(t.statuses)) into.statuses[k] = (into.statuses[k] ?? 0) + n;
  return into;
}
