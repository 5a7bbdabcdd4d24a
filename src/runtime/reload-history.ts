/**
 * The ring of the last reloads of a process, fed by the config manager's `onReload` event and by the reload
 * policy's outcome of each swap. The dashboard shows it; a cluster worker tells its primary what the policy did.
 * It lives here, beside the reload policy, so that the process (serve.ts) that makes it and the admin API that reads
 * it both import it from below.
 */
import type { Compiled, ReloadEvent, ReloadTrigger } from '../config/manager.js';
import type { Problem } from '../config/types.js';
import type { PolicyOutcome } from './reload-policy.js';

/** How many reloads are kept. */
const RELOAD_RING = 50;
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
