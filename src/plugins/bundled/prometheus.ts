/**
 * Kong's prometheus plugin on streams. kong-ts counts every session in the process Metrics whether or not the
 * plugin is configured (`kong_stream_sessions_total`, `kong_session_duration_ms`, `kong_bandwidth_bytes`,
 * `kong_stream_upstream_connect_ms`, scraped at the admin API's `GET /metrics`), so the plugin is accepted for
 * Kong files and adds nothing per session: counting here as well counted every session twice.
 * Its switches (`per_consumer`, `status_code_metrics`, `latency_metrics`, `bandwidth_metrics`,
 * `upstream_health_metrics`) are validated and have no effect on streams.
 */
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
  create(_config, ctx): PluginInstance {
    if (!ctx.metrics)
      ctx.logger.warn('prometheus plugin configured but no metrics registry was given: it does nothing');
    return {};
  },
};
