import { BalancerRegistry, type Resolver } from '../balancer/index.js';
import type { Logger } from '../log.js';
import { Metrics } from '../metrics/metrics.js';
import type { StreamPlugin } from '../plugins/types.js';
import type { CertPair } from '../tls/default-cert.js';
import { defaultCertificate } from '../tls/default-cert.js';
import type { RouterOptions } from '../router/compile.js';

/**
 * The state of a running kong-ts that outlives snapshots: balancer health and counters, metrics, the loaded plugin
 * code. A new snapshot attaches to it; nothing in it is derived from one particular file.
 */
export interface Runtime {
  readonly logger: Logger;
  readonly registry: BalancerRegistry;
  readonly metrics: Metrics;
  readonly plugins: ReadonlyMap<string, StreamPlugin>;
  /** served on ssl listeners when no SNI matches: ssl_cert + ssl_cert_key, or a self-signed localhost pair */
  readonly defaultCert: CertPair;
  /** the router's settings (port_maps, router_exact_sni_first) */
  readonly router: RouterOptions;
}

export function createRuntime(opts: {
  logger: Logger;
  plugins: ReadonlyMap<string, StreamPlugin>;
  metrics?: Metrics;
  defaultCert?: CertPair;
  /** the balancers' DNS resolver (tests inject a fake one) */
  resolver?: Resolver;
  router?: RouterOptions;
}): Runtime {
  return {
    logger: opts.logger,
    registry: new BalancerRegistry({ logger: opts.logger, resolver: opts.resolver }),
    metrics: opts.metrics ?? new Metrics({ processMetrics: true }),
    plugins: opts.plugins,
    defaultCert: opts.defaultCert ?? defaultCertificate(),
    router: opts.router ?? {},
  };
}
