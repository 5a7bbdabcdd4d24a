/**
 * The small bounded ring behind the dashboard's rate charts: one sample per second of counters the process already
 * keeps (connections accepted, sessions finished by status, bytes; metrics/totals.ts). The ring of reloads is
 * runtime/reload-history.ts.
 */
import type { Totals } from '../metrics/totals.js';

/** How many samples are kept, and how often one is taken. */
const SAMPLE_RING = 300;
export const SAMPLE_EVERY_MS = 1000;
/** a sample slower than this (a huge registry, a busy worker) makes the sampler back off to one every 10 s */
const CHEAP_MS = 50;

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
