import { readFile } from 'node:fs/promises';
import type { Logger } from '../log.js';
import { loadConfigText } from './load.js';
import { formatProblem } from './problems.js';
import type { LoadOptions, Problem } from './types.js';
import type { Snapshot } from './snapshot.js';

export type ReloadTrigger = 'start' | 'file' | 'signal' | 'admin';

export type ReloadOutcome =
  | { status: 'loaded'; snapshot: Snapshot; problems: Problem[] }
  | { status: 'unchanged'; snapshot: Snapshot }
  | { status: 'invalid'; problems: Problem[]; hash: string }
  | { status: 'unreadable'; message: string }
  | { status: 'busy' };

export interface ManagerOptions {
  file: string;
  logger: Logger;
  loadOptions?: LoadOptions;
  /** builds the snapshot of a checked config (the CLI adds TLS, balancers, plugins) */
  compile: (input: { config: import('./types.js').DeclarativeConfig; hash: string; file: string; text: string; generation: number }) => Snapshot;
}

/**
 * Owns the live snapshot. Every trigger (start, file change, SIGHUP, admin POST /config) runs the same pipeline:
 * read → load (parse, validate, check, normalize) → compile off to the side → swap by one assignment.
 * Loads are serialized; an invalid file never replaces the live snapshot.
 */
export class ConfigManager {
  #opts: ManagerOptions;
  #current: Snapshot | undefined;
  #busy = false;
  #listeners: ((s: Snapshot, previous: Snapshot | undefined) => void)[] = [];
  #generation = 0;
  readonly stats = { loaded: 0, invalid: 0, unchanged: 0, lastError: undefined as string | undefined, lastErrorAt: 0, lastLoadedAt: 0 };

  constructor(opts: ManagerOptions) {
    this.#opts = opts;
  }

  get current(): Snapshot | undefined {
    return this.#current;
  }

  get file(): string {
    return this.#opts.file;
  }

  /** Called after every swap, with the new and the previous snapshot. */
  onSwap(fn: (s: Snapshot, previous: Snapshot | undefined) => void): void {
    this.#listeners.push(fn);
  }

  /** Reads the file and reloads it. */
  async reloadFile(trigger: ReloadTrigger): Promise<ReloadOutcome> {
    let text: string;
    try {
      text = await readFile(this.#opts.file, 'utf8');
    } catch (err) {
      const message = `cannot read ${this.#opts.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
      this.#fail(trigger, message);
      return { status: 'unreadable', message };
    }
    return this.reloadText(text, this.#opts.file, trigger);
  }

  /** Loads the given content (from the file or from POST /config). */
  reloadText(text: string, file: string, trigger: ReloadTrigger): ReloadOutcome {
    if (this.#busy) return { status: 'busy' };
    this.#busy = true;
    try {
      return this.#load(text, file, trigger);
    } finally {
      this.#busy = false;
    }
  }

  #load(text: string, file: string, trigger: ReloadTrigger): ReloadOutcome {
    const log = this.#opts.logger;
    const result = loadConfigText(text, file, this.#opts.loadOptions);
    if (this.#current && result.hash === this.#current.hash && trigger !== 'admin') {
      this.stats.unchanged++;
      log.debug({ trigger, hash: result.hash }, 'declarative config unchanged');
      return { status: 'unchanged', snapshot: this.#current };
    }
    if (!result.ok) {
      const errors = result.problems.filter((p) => p.severity === 'error');
      this.#fail(trigger, `${errors.length} error(s) in ${file}`, result.problems, result.hash);
      return { status: 'invalid', problems: result.problems, hash: result.hash };
    }
    const snapshot = this.#opts.compile({ config: result.config, hash: result.hash, file, text, generation: ++this.#generation });
    const previous = this.#current;
    this.#current = snapshot;
    this.stats.loaded++;
    this.stats.lastLoadedAt = snapshot.loadedAt;
    for (const p of result.problems) log.warn({ problem: formatProblem(p) }, 'declarative config warning');
    log.info({ trigger, hash: snapshot.hash, generation: snapshot.generation, routes: snapshot.router.routes.length,
      services: snapshot.services.size }, previous ? 'declarative config reloaded' : 'declarative config loaded');
    for (const fn of this.#listeners) fn(snapshot, previous);
    return { status: 'loaded', snapshot, problems: result.problems };
  }

  #fail(trigger: ReloadTrigger, message: string, problems: Problem[] = [], hash?: string): void {
    this.stats.invalid++;
    this.stats.lastError = message;
    this.stats.lastErrorAt = Date.now();
    const errors = problems.filter((p) => p.severity === 'error').map(formatProblem);
    this.#opts.logger.error({ trigger, hash, errors, live_hash: this.#current?.hash },
      this.#current ? `declarative config rejected, the last good config keeps serving: ${message}` : `declarative config rejected: ${message}`);
  }
}
