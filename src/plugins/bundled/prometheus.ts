/**
 * Kong's prometheus plugin on streams: its presence (globally, on a service or on a route) makes the sessions
 * of those routes count in the per-route series of the process Metrics (`kong_stream_sessions_total` and
 * `kong_session_duration_ms` always; bytes with `bandwidth_metrics`, upstream connect time with `latency_metrics`).
 * Process-wide series (connections, TLS handshakes, config loads, target health) do not depend on it.
 * `per_consumer`, `status_code_metrics` and `upstream_health_metrics` are accepted for Kong files and have no
 * effect on streams.
 */
import type { SessionSeries } from '../../metrics/metrics.js';
import type { PluginInstance, StreamPlugin } from '../types.js';

export interface PrometheusConfig {
  per_consumer: boolean;
  status_code_metrics: boolean;
  latency_metrics: boolean;
  bandwidth_metrics: boolean;
  upstream_health_metrics: boolean;
}

const flag = { type: 'boolean', default: false };
const configSchema = {
  type: 'object',
  properties: {
    per_consumer: flag,
    status_code_metrics: flag,
    latency_metrics: flag,
    bandwidth_metrics: flag,
    upstream_health_metrics: flag,
  },
  additionalProperties: false,
};

export const prometheus: StreamPlugin<PrometheusConfig> = {
  name: 'prometheus',
  priority: 13,
  configSchema,
  create(config, ctx): PluginInstance {
    const metrics = ctx.metrics;
    if (!metrics) {
      ctx.logger.warn('prometheus plugin configured but no metrics registry was given: it does nothing');
      return {};
    }
    const series: SessionSeries = { bandwidth: config.bandwidth_metrics, latency: config.latency_metrics };
    return { log: (record) => metrics.observeSession(record, series) };
  },
};
