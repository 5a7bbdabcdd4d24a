import { readFile } from 'node:fs/promises';
import type { Logger } from '../log.js';
import { loadConfigText } from './load.js';
import { formatProblem } from './problems.js';
import type { DeclarativeConfig, LoadOptions, Problem } from './types.js';

/** What the manager needs to know of a compiled snapshot (the runtime's Snapshot is a superset). */
export interface Compiled {
  readonly hash: string;
  readonly generation: number;
  readonly loadedAt: number;
  readonly config: DeclarativeConfig;
}

export interface CompileInput {
  config: DeclarativeConfig;
  hash: string;
  file: string;
  text: string;
  generation: number;
}

export type ReloadTrigger = 'start' | 'file' | 'signal' | 'admin';

export type ReloadOutcome<Snapshot extends Compiled = Compiled> =
  | { status: 'loaded'; snapshot: Snapshot; problems: Problem[] }
  | { status: 'unchanged'; snapshot: Snapshot }
  | { status: 'invalid'; problems: Problem[]; hash: string }
  | { status: 'unreadable'; message: string }
  | { status: 'busy' };

export interface ManagerOptions<Snapshot extends Compiled> {
  file: string;
  logger: Logger;
  loadOptions?: LoadOptions;
  /** builds the snapshot of a checked config (router, TLS, balancers, plugins); may throw with a user message */
  compile: (input: CompileInput) => Promise<Snapshot>;
}

/**
 * Owns the live snapshot. Every trigger (start, file change, SIGHUP, admin POST /config) runs the same pipeline:
 * read → load (parse, validate, check, normalize) → compile off to the side → swap by one assignment.
 * Loads are serialized; an invalid file never replaces the live snapshot.
 */
export class ConfigManager<Snapshot extends Compiled = Compiled> {
  #opts: ManagerOptions<Snapshot>;
  #current: Snapshot | undefined;
  #busy = false;
  #pending: { text: string; file: string; trigger: ReloadTrigger } | undefined;
  #listeners: ((s: Snapshot, previous: Snapshot | undefined) => void)[] = [];
  #loadListeners: ((ok: boolean) => void)[] = [];
  #generation = 0;
  readonly stats = { loaded: 0, invalid: 0, unchanged: 0, lastError: undefined as string | undefined, lastErrorAt: 0, lastLoadedAt: 0 };

  constructor(opts: ManagerOptions<Snapshot>) {
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

  /** Called after every load that was tried (not for unchanged content): true when it was swapped in. */
  onLoad(fn: (ok: boolean) => void): void {
    this.#loadListeners.push(fn);
  }

  /** Reads the file and reloads it. */
  async reloadFile(trigger: ReloadTrigger): Promise<ReloadOutcome<Snapshot>> {
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
  async reloadText(text: string, file: string, trigger: ReloadTrigger): Promise<ReloadOutcome<Snapshot>> {
    if (this.#busy) {
      // a file change during a load is not lost: it is loaded right after
      if (trigger !== 'admin') this.#pending = { text, file, trigger };
      return { status: 'busy' };
    }
    this.#busy = true;
    try {
      return await this.#load(text, file, trigger);
    } finally {
      this.#busy = false;
      const next = this.#pending;
      this.#pending = undefined;
      if (next) void this.reloadText(next.text, next.file, next.trigger);
    }
  }

  /** True while a load is running (POST /config answers 429 then). */
  get busy(): boolean {
    return this.#busy;
  }

  async #load(text: string, file: string, trigger: ReloadTrigger): Promise<ReloadOutcome<Snapshot>> {
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
    let snapshot: Snapshot;
    try {
      snapshot = await this.#opts.compile({ config: result.config, hash: result.hash, file, text, generation: this.#generation + 1 });
    } catch (err) {
      const message = (err as Error).message;
      const problems: Problem[] = [{ severity: 'error', file, line: 1, column: 1, path: '', message }];
      this.#fail(trigger, message, problems, result.hash);
      return { status: 'invalid', problems, hash: result.hash };
    }
    this.#generation = snapshot.generation;
    const previous = this.#current;
    this.#current = snapshot;
    this.stats.loaded++;
    this.stats.lastLoadedAt = snapshot.loadedAt;
    for (const p of result.problems) log.warn({ problem: formatProblem(p) }, 'declarative config warning');
    log.info({ trigger, hash: snapshot.hash, generation: snapshot.generation, routes: snapshot.config.routes.length,
      services: snapshot.config.services.length }, previous ? 'declarative config reloaded' : 'declarative config loaded');
    for (const fn of this.#listeners) fn(snapshot, previous);
    for (const fn of this.#loadListeners) fn(true);
    return { status: 'loaded', snapshot, problems: result.problems };
  }

  #fail(trigger: ReloadTrigger, message: string, problems: Problem[] = [], hash?: string): void {
    this.stats.invalid++;
    this.stats.lastError = message;
    this.stats.lastErrorAt = Date.now();
    for (const fn of this.#loadListeners) fn(false);
    const errors = problems.filter((p) => p.severity === 'error').map(formatProblem);
    this.#opts.logger.error({ trigger, hash, errors, live_hash: this.#current?.hash },
      this.#current ? `declarative config rejected, the last good config keeps serving: ${message}` : `declarative config rejected: ${message}`);
  }
}
