/**
 * `/metrics` of a cluster: the workers' registries combined with prom-client's aggregator (counters and
 * histograms summed, gauges by their own aggregator, sum by default), plus the configuration series, which only
 * the primary knows (it alone loads files; a file it refuses reaches no worker).
 */
import { AggregatorRegistry } from 'prom-client';
import type { Metrics } from '../metrics/metrics.js';

/** Series the primary owns: the workers' copies are dropped. */
const PRIMARY_ONLY = /^kong_config_/;
/**
 * Each worker keeps its own target health (its own passive checks): a state any worker sees is shown, so an
 * unhealthy verdict is never hidden by a healthy one (a target may then show two states at 1).
 */
const ANY_WORKER = new Set(['kong_upstream_target_health']);

interface MetricJson {
  name: string;
  aggregator?: string;
}

/** The Prometheus text of the whole cluster. */
export async function clusterMetricsText(primary: Metrics, workers: object[][]): Promise<string> {
  const own = (await primary.registry.getMetricsAsJSON()).filter((m) => PRIMARY_ONLY.test(m.name));
  const sets: object[][] = workers.map((ms) =>
    (ms as MetricJson[])
      .filter((m) => !PRIMARY_ONLY.test(m.name))
      .map((m) => (ANY_WORKER.has(m.name) ? { ...m, aggregator: 'max' } : m)),
  );
  sets.push(own);
  return AggregatorRegistry.aggregate(sets).metrics();
}
