/**
 * Prometheus metrics of the proxy, in a private prom-client Registry (never the global one, so two instances in
 * one process, as in tests, do not collide).
 *
 * Names follow Kong's prometheus plugin where Kong has one (`kong_stream_sessions_total`, `kong_session_duration_ms`,
 * `kong_bandwidth_bytes`, `kong_upstream_target_health`). Labels are bounded: route and service names (their id
 * when unnamed), status codes, upstream and target names from the file; never client addresses.
 *
 * `observeSession` is on the path of every session: it adds to plain numbers kept per route (route-series.ts),
 * which the session series' `collect` hooks hand to prom-client when the registry is read.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SessionRecord } from '../proxy/record.js';
import {
  collectBandwidth,
  collectHistogram,
  collectSessions,
  newRouteSeries,
  observe,
  type RouteSeries,
} from './route-series.js';

/** Kong's default latency buckets, in ms. */
const LATENCY_BUCKETS_MS = [
  1, 2, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 750, 1000, 2000, 5000, 10000, 30000, 60000,
];

export type TargetHealth = 'healthy' | 'unhealthy' | 'dns_error' | 'healthchecks_off';
const HEALTH_STATES: readonly TargetHealth[] = ['healthy', 'unhealthy', 'dns_error', 'healthchecks_off'];

/** Which per-session series `observeSession` feeds (the prometheus plugin's switches). */
export interface SessionSeries {
  /** bytes in and out (Kong's `bandwidth_metrics`) */
  bandwidth?: boolean;
  /** upstream connect time (Kong's `latency_metrics`) */
  latency?: boolean;
}

export interface MetricsOptions {
  /** also export prom-client's process metrics (cpu, memory, event loop lag) */
  processMetrics?: boolean;
}

const ALL: SessionSeries = { bandwidth: true, latency: true };

export class Metrics {
  /** the registry to scrape; `metricsText()` renders it */
  readonly registry = new Registry();
  readonly #sessions: Counter<'service' | 'route' | 'code'>;
  readonly #bandwidth: Counter<'service' | 'route' | 'direction'>;
  readonly #duration: Histogram<'service' | 'route'>;
  readonly #connect: Histogram<'service' | 'route'>;
  readonly #active: Gauge;
  readonly #handshakes: Counter<'result'>;
  readonly #targetHealth: Gauge<'upstream' | 'target' | 'state'>;
  readonly #configLoads: Counter<'outcome'>;
  readonly #configInfo: Gauge<'hash'>;
  readonly #generation: Gauge;
  readonly #lastSuccess: Gauge;
  readonly #reloadDuration: Histogram<'status'>;
  readonly #reloadBlocked: Histogram<'status'>;
  readonly #lastReloadBlocked: Gauge;
  readonly #pluginErrors: Counter<'plugin'>;
  readonly #logDropped: Counter<'plugin'>;
  /** by route id; a route renamed by a reload leaves its old series in #retired (counters never go back) */
  readonly #routes = new Map<string, RouteSeries>();
  readonly #retired: RouteSeries[] = [];
  readonly #allSeries = (): Iterable<RouteSeries> => this.#eachSeries();

  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    this.#sessions = new Counter({
      name: 'kong_stream_sessions_total',
      help: 'Stream sessions by route, service and status code',
      labelNames: ['service', 'route', 'code'],
      registers,
      collect: () => collectSessions(this.#sessions, this.#allSeries),
    });
    this.#bandwidth = new Counter({
      name: 'kong_bandwidth_bytes',
      help: 'Bytes from clients (ingress) and to clients (egress) by route and service',
      labelNames: ['service', 'route', 'direction'],
      registers,
      collect: () => collectBandwidth(this.#bandwidth, this.#allSeries),
    });
    this.#duration = new Histogram({
      name: 'kong_session_duration_ms',
      help: 'Stream session duration in ms',
      labelNames: ['service', 'route'],
      buckets: LATENCY_BUCKETS_MS,
      registers,
      collect: () => collectHistogram(this.#duration, LATENCY_BUCKETS_MS, this.#allSeries, 'duration'),
    });
    this.#connect = new Histogram({
      name: 'kong_stream_upstream_connect_ms',
      help: 'Time to connect to the upstream in ms',
      labelNames: ['service', 'route'],
      buckets: LATENCY_BUCKETS_MS,
      registers,
      collect: () => collectHistogram(this.#connect, LATENCY_BUCKETS_MS, this.#allSeries, 'connect'),
    });
    this.#active = new Gauge({
      name: 'kong_stream_connections_active',
      help: 'Client connections open now',
      registers,
    });
    this.#handshakes = new Counter({
      name: 'kong_stream_tls_handshakes_total',
      help: 'TLS handshakes with clients by result (ok, failed)',
      labelNames: ['result'],
      registers,
    });
    this.#targetHealth = new Gauge({
      name: 'kong_upstream_target_health',
      help: 'Health of each upstream target: 1 for its current state',
      labelNames: ['upstream', 'target', 'state'],
      registers,
    });
    this.#configLoads = new Counter({
      name: 'kong_config_loads_total',
      help: 'Declarative configuration loads by outcome (success, failure)',
      labelNames: ['outcome'],
      registers,
    });
    this.#configInfo = new Gauge({
      name: 'kong_config_info',
      help: 'The configuration being served: its hash as a label, value 1',
      labelNames: ['hash'],
      registers,
    });
    this.#generation = new Gauge({
      name: 'kong_config_generation',
      help: 'Number of configurations loaded since start, the live one included',
      registers,
    });
    this.#lastSuccess = new Gauge({
      name: 'kong_config_last_success_timestamp_seconds',
      help: 'Time of the last successful configuration load',
      registers,
    });
    this.#reloadDuration = new Histogram({
      name: 'kong_config_reload_duration_ms',
      help: 'Time from a reload trigger to its swap or refusal, in ms, by status (loaded, unchanged, invalid, unreadable)',
      labelNames: ['status'],
      buckets: [10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000],
      registers,
    });
    this.#reloadBlocked = new Histogram({
      name: 'kong_config_reload_loop_delay_ms',
      help: 'The longest event-loop delay (the data path held) while each reload ran, in ms, by status',
      labelNames: ['status'],
      buckets: [1, 2, 5, 10, 20, 50, 100, 250, 1000],
      registers,
    });
    this.#lastReloadBlocked = new Gauge({
      name: 'kong_config_last_reload_loop_delay_ms',
      help: 'The longest event-loop delay while the last reload ran, in ms',
      registers,
    });
    this.#pluginErrors = new Counter({
      name: 'kong_stream_plugin_errors_total',
      help: 'Plugin steps that threw, by plugin',
      labelNames: ['plugin'],
      registers,
    });
    this.#logDropped = new Counter({
      name: 'kong_stream_log_records_dropped_total',
      help: 'Log records dropped by a slow or unreachable log target, by plugin',
      labelNames: ['plugin'],
      registers,
    });
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** Counts one finished session on its route and service: a Map lookup and a few additions (route-series.ts). */
  observeSession(record: SessionRecord, series: SessionSeries = ALL): void {
    const s = this.#series(record);
    const session = record.session;
    s.byStatus.set(session.status, (s.byStatus.get(session.status) ?? 0) + 1);
    observe(s.duration, LATENCY_BUCKETS_MS, record.latencies.session);
    if (series.bandwidth) {
      if (session.received > 0) s.ingress += session.received;
      if (session.sent > 0) s.egress += session.sent;
    }
    if (series.latency && record.latencies.connect !== undefined)
      observe(s.connect, LATENCY_BUCKETS_MS, record.latencies.connect);
  }

  #series(record: SessionRecord): RouteSeries {
    const routeId = record.route?.id ?? '';
    const routeName = record.route ? (record.route.name ?? record.route.id) : '';
    const serviceId = record.service?.id ?? '';
    const serviceName = record.service ? (record.service.name ?? record.service.id) : '';
    let s = this.#routes.get(routeId);
    // a reload may rename a route or move it to another service: new labels then
    if (s === undefined || s.routeName !== routeName || s.serviceId !== serviceId || s.serviceName !== serviceName) {
      if (s !== undefined) this.#retired.push(s);
      s = newRouteSeries(routeName, serviceId, serviceName, LATENCY_BUCKETS_MS.length);
      this.#routes.set(routeId, s);
    }
    return s;
  }

  *#eachSeries(): Iterable<RouteSeries> {
    yield* this.#routes.values();
    yield* this.#retired;
  }

  connectionOpened(): void {
    this.#active.inc();
  }
  connectionClosed(): void {
    this.#active.dec();
  }

  // label-bound children made once: a handshake costs an increment, not a label lookup
  #handshakeOk: { inc(): void } | undefined;
  #handshakeFailed: { inc(): void } | undefined;

  tlsHandshake(ok: boolean): void {
    if (ok) (this.#handshakeOk ??= this.#handshakes.labels('ok')).inc();
    else (this.#handshakeFailed ??= this.#handshakes.labels('failed')).inc();
  }

  /** Sets a target's state (1) and clears its other states (0), as Kong's `upstream_target_health`. */
  setTargetHealth(upstream: string, target: string, state: TargetHealth): void {
    for (const st of HEALTH_STATES) this.#targetHealth.set({ upstream, target, state: st }, st === state ? 1 : 0);
  }

  /** Forgets every target (call after a reload, then set the targets of the new snapshot). */
  clearTargetHealth(): void {
    this.#targetHealth.reset();
  }

  /** Records a configuration load; a success also sets the live hash and generation. */
  configLoaded(ok: boolean, live?: { hash: string; generation: number }): void {
    this.#configLoads.inc({ outcome: ok ? 'success' : 'failure' });
    if (!ok || !live) return;
    this.#configInfo.reset();
    this.#configInfo.set({ hash: live.hash }, 1);
    this.#generation.set(live.generation);
    this.#lastSuccess.set(Date.now() / 1000);
  }

  /** One reload that ran: its duration and the longest event-loop delay meanwhile. */
  configReload(e: { status: string; durationMs: number; loopBlockedMs: number }): void {
    this.#reloadDuration.observe({ status: e.status }, e.durationMs);
    this.#reloadBlocked.observe({ status: e.status }, e.loopBlockedMs);
    this.#lastReloadBlocked.set(e.loopBlockedMs);
  }

  pluginError(plugin: string): void {
    this.#pluginErrors.inc({ plugin });
  }
  logDropped(plugin: string, count = 1): void {
    this.#logDropped.inc({ plugin }, count);
  }

  /** The Content-Type of `metricsText()`. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text exposition for `GET /metrics`. */
  metricsText(): Promise<string> {
    return this.registry.metrics();
  }
}
