/**
 * The two small bounded rings behind the dashboard: the last reloads (fed by the config manager's `onReload` event
 * and by the reload policy's outcome of each swap), and one sample per second of counters the process already keeps
 * (connections accepted, sessions finished by status, bytes), from which the page draws its rate charts.
 */
import type { Compiled, ReloadEvent, ReloadTrigger } from '../config/manager.js';
import type { Problem } from '../config/types.js';
import type { Metrics } from '../metrics/metrics.js';
import type { PolicyOutcome } from '../runtime/reload-policy.js';

/** How many reloads and samples are kept. */
export const RELOAD_RING = 50;
export const SAMPLE_RING = 300;
export const SAMPLE_EVERY_MS = 1000;
/** a sample slower than this (a huge registry, a busy worker) makes the sampler back off to one every 10 s */
const CHEAP_MS = 50;
/** problems kept per failed reload (the first ones: the page shows file:line:column for each) */
const PROBLEMS_KEPT = 10;

export interface ReloadEntry {
  at: string;
  trigger: ReloadTrigger;
  duration_ms: number;
  result: 'loaded' | 'invalid' | 'unreadable' | 'unchanged';
  generation?: number;
  hash?: string;
  error?: string;
  problems?: { file: string; line: number; column: number; path: string; message: string }[];
  /** open sessions of removed or changed routes that the reload policy kept, drained or closed (summed over workers) */
  sessions?: PolicyOutcome;
}

function problemRows(problems: Problem[]): NonNullable<ReloadEntry['problems']> {
  return problems
    .filter((p) => p.severity === 'error')
    .slice(0, PROBLEMS_KEPT)
    .map((p) => ({ file: p.file, line: p.line, column: p.column, path: p.path, message: p.message }));
}

/** The last RELOAD_RING reload attempts, newest last. `unchanged` ones (a file saved as it was) are not kept. */
export class ReloadHistory {
  readonly #ring: ReloadEntry[] = [];
  #lastError: ReloadEntry | undefined;
  /** outcomes noted during a swap, before the manager's reload event made the entry */
  readonly #early = new Map<number, PolicyOutcome>();

  constructor(manager: { readonly current: Compiled | undefined; onReload(fn: (e: ReloadEvent) => void): void }) {
    const live = manager.current;
    // the first load usually ran before anyone listened: it is shown from the live snapshot
    if (live)
      this.#push({
        at: new Date(live.loadedAt).toISOString(),
        trigger: 'start',
        duration_ms: 0,
        result: 'loaded',
        generation: live.generation,
        hash: live.hash,
      });
    manager.onReload((e) => this.#record(e));
  }

  #push(e: ReloadEntry): void {
    this.#ring.push(e);
    if (this.#ring.length > RELOAD_RING) this.#ring.shift();
  }

  #record(e: ReloadEvent): void {
    if (e.status === 'unchanged') return;
    // `at` is when the reload ended
    const entry: ReloadEntry = {
      at: new Date(e.at - e.durationMs).toISOString(),
      trigger: e.trigger,
      duration_ms: Math.round(e.durationMs),
      result: e.status,
    };
    if (e.hash !== undefined) entry.hash = e.hash;
    if (e.status === 'loaded') {
      entry.generation = e.generation;
      const early = entry.generation !== undefined ? this.#early.get(entry.generation) : undefined;
      if (early) entry.sessions = early;
      this.#early.clear();
    } else {
      const rows = problemRows(e.problems ?? []);
      entry.error = rows.length
        ? `${rows[0]!.message}${(e.problems?.length ?? 0) > 1 ? ` (and ${e.problems!.length - 1} more)` : ''}`
        : (e.message ?? e.status);
      if (rows.length) entry.problems = rows;
      this.#lastError = entry;
    }
    this.#push(entry);
  }

  /** Adds what the reload policy did to the open sessions of one process (or worker) on the swap to `generation`. */
  notePolicy(generation: number, o: PolicyOutcome): void {
    let e: ReloadEntry | undefined;
    for (let i = this.#ring.length - 1; i >= 0 && !e; i--)
      if (this.#ring[i]!.generation === generation && this.#ring[i]!.result === 'loaded') e = this.#ring[i];
    const s = e
      ? (e.sessions ??= { kept: 0, drained: 0, closed: 0 })
      : (this.#early.get(generation) ?? { kept: 0, drained: 0, closed: 0 });
    if (!e) this.#early.set(generation, s);
    s.kept += o.kept;
    s.drained += o.drained;
    s.closed += o.closed;
  }

  /** What the reload policy did on the swap to `generation` (a worker tells its primary). */
  policyOf(generation: number): PolicyOutcome | undefined {
    for (let i = this.#ring.length - 1; i >= 0; i--)
      if (this.#ring[i]!.generation === generation) return this.#ring[i]!.sessions;
    return undefined;
  }

  entries(): readonly ReloadEntry[] {
    return this.#ring;
  }

  /** The last reload that failed (kept even when it left the ring). */
  get lastError(): ReloadEntry | undefined {
    return this.#lastError;
  }
}

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

/** One point of a rate chart: per-second rates between two samples. */
export interface RatePoint {
  t: number;
  connections: number;
  bytes_in: number;
  bytes_out: number;
  statuses: Record<string, number>;
}

/**
 * Samples the totals once a second into a ring of SAMPLE_RING (five minutes). A sample that takes longer than
 * CHEAP_MS backs the sampler off to one every 10 s until samples are cheap again.
 */
export class Sampler {
  readonly #ring: { t: number; totals: Totals }[] = [];
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(private readonly read: () => Promise<Totals>) {}

  start(): void {
    this.#stopped = false;
    void this.#tick();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  async #tick(): Promise<void> {
    const begin = Date.now();
    try {
      const totals = await this.read();
      this.#ring.push({ t: begin, totals });
      if (this.#ring.length > SAMPLE_RING + 1) this.#ring.shift();
    } catch {
      // a sample lost (a worker gone mid-report) is a gap in the chart, nothing more
    }
    if (this.#stopped) return;
    const took = Date.now() - begin;
    this.#timer = setTimeout(() => void this.#tick(), took > CHEAP_MS ? 10_000 : Math.max(0, SAMPLE_EVERY_MS - took));
    this.#timer.unref();
  }

  /** Per-second rates between consecutive samples; a counter that went down (a worker replaced) counts from 0. */
  rates(): RatePoint[] {
    const out: RatePoint[] = [];
    const d = (a: number, b: number, s: number) => Math.max(0, b >= a ? b - a : b) / s;
    for (let i = 1; i < this.#ring.length; i++) {
      const a = this.#ring[i - 1]!,
        b = this.#ring[i]!;
      const s = Math.max(0.001, (b.t - a.t) / 1000);
      const statuses: Record<string, number> = {};
      for (const [code, n] of Object.entries(b.totals.statuses)) {
        const r = d(a.totals.statuses[code] ?? 0, n, s);
        if (r > 0) statuses[code] = Math.round(r * 100) / 100;
      }
      out.push({
        t: b.t,
        connections: Math.round(d(a.totals.accepted, b.totals.accepted, s) * 100) / 100,
        bytes_in: Math.round(d(a.totals.bytes_in, b.totals.bytes_in, s)),
        bytes_out: Math.round(d(a.totals.bytes_out, b.totals.bytes_out, s)),
        statuses,
      });
    }
    return out;
  }

  /** The newest totals, if any sample was taken. */
  latest(): Totals | undefined {
    return this.#ring.at(-1)?.totals;
  }
}
