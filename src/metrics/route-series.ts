/**
 * The per-route session series (sessions by status, bytes, session duration, connect time), counted on the data
 * path in plain numbers and handed to prom-client only when someone reads the registry (its `collect` hooks).
 *
 * prom-client's own `inc` and `observe` build a string key from the labels on every call, even on a label-bound
 * child: five of them per session cost 3 µs, a twentieth of a short connection's CPU (docs/performance.md,
 * round 11). Here a session costs a Map lookup and a few additions.
 */
import type { Counter, Histogram } from 'prom-client';

/** Counts of one histogram series: per bucket (not cumulative), with the sum and count of every observation. */
export interface HistogramCounts {
  readonly perBucket: Float64Array;
  sum: number;
  count: number;
}

/** One route's series, under the labels it had when it was made (a renamed route gets a new one). */
export interface RouteSeries {
  readonly routeName: string;
  readonly serviceId: string;
  readonly serviceName: string;
  /** sessions by status code */
  readonly byStatus: Map<number, number>;
  ingress: number;
  egress: number;
  readonly duration: HistogramCounts;
  readonly connect: HistogramCounts;
}

export function newRouteSeries(routeName: string, serviceId: string, serviceName: string, buckets: number) {
  const hist = (): HistogramCounts => ({ perBucket: new Float64Array(buckets), sum: 0, count: 0 });
  return {
    routeName,
    serviceId,
    serviceName,
    byStatus: new Map<number, number>(),
    ingress: 0,
    egress: 0,
    duration: hist(),
    connect: hist(),
  } satisfies RouteSeries;
}

/** Adds `value` as prom-client's `observe` would: to the first bucket whose bound is at least `value`, if any. */
export function observe(h: HistogramCounts, bounds: readonly number[], value: number): void {
  if (!Number.isFinite(value)) return;
  for (let i = 0; i < bounds.length; i++) {
    if (value <= bounds[i]!) {
      h.perBucket[i]!++;
      break;
    }
  }
  h.sum += value;
  h.count++;
}

/** The counters' and histograms' `collect` hooks: they rebuild the exported values from `all()`'s series. */
export function collectSessions(c: Counter<'service' | 'route' | 'code'>, all: () => Iterable<RouteSeries>): void {
  c.reset();
  for (const s of all())
    for (const [code, n] of s.byStatus) c.inc({ service: s.serviceName, route: s.routeName, code: String(code) }, n);
}

export function collectBandwidth(c: Counter<'service' | 'route' | 'direction'>, all: () => Iterable<RouteSeries>) {
  c.reset();
  for (const s of all()) {
    if (s.ingress > 0) c.inc({ service: s.serviceName, route: s.routeName, direction: 'ingress' }, s.ingress);
    if (s.egress > 0) c.inc({ service: s.serviceName, route: s.routeName, direction: 'egress' }, s.egress);
  }
}

/** prom-client's histogram entry (its `hashMap` values: the one shape its exposition reads). */
interface HistogramEntry {
  labels: { service: string; route: string };
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

/**
 * Rebuilds a histogram's entries from the series (`which` picks duration or connect). prom-client has no public way to
 * set a histogram's counts, so this writes its `hashMap`, the table its `get()` renders (kept since prom-client 11;
 * test/metrics/metrics.test.ts reads the rendered text, so a change of shape fails there). Series with the same
 * labels (two routes that took each other's names in a reload) are added together, as prom-client's children are.
 */
export function collectHistogram(
  h: Histogram<'service' | 'route'>,
  bounds: readonly number[],
  all: () => Iterable<RouteSeries>,
  which: 'duration' | 'connect',
): void {
  const entries: Record<string, HistogramEntry> = {};
  for (const s of all()) {
    const counts = s[which];
    if (counts.count === 0) continue;
    const key = JSON.stringify([s.serviceName, s.routeName]);
    let e = entries[key];
    if (e === undefined) {
      e = { labels: { service: s.serviceName, route: s.routeName }, bucketValues: {}, sum: 0, count: 0 };
      for (const b of bounds) e.bucketValues[b] = 0;
      entries[key] = e;
    }
    for (let i = 0; i < bounds.length; i++)
      e.bucketValues[bounds[i]!] = (e.bucketValues[bounds[i]!] ?? 0) + counts.perBucket[i]!;
    e.sum += counts.sum;
    e.count += counts.count;
  }
  (h as unknown as { hashMap: Record<string, HistogramEntry> }).hashMap = entries;
}
