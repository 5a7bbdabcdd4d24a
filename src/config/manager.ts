import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Logger } from '../log.js';
import { Slicer } from '../slices.js';
import { whileLoading } from '../young-gen.js';
import { assemble, type Assembled, type Fingerprints } from './assemble.js';
import type { FingerprintBytes, LoadSource } from './load-job.js';
import { ConfigLoader, type LoaderReply } from './loader.js';
import { formatProblem } from './problems.js';
import { DEFAULT_MAX_CONFIG_BYTES } from './read.js';
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
  /** the raw content (decoded on first use: GET /config) */
  readonly text: string;
  generation: number;
  /** each entity's content fingerprint, by type and id (absent: compile everything) */
  fingerprints?: Fingerprints;
  /** the main thread's work is cut in slices of this */
  slicer?: Slicer;
}

/** What the next load refers to: the live config's entities and their fingerprints. */
interface Base {
  assembled: Assembled;
  fps: FingerprintBytes;
}

export type ReloadTrigger = 'start' | 'file' | 'signal' | 'admin';

export type ReloadOutcome<Snapshot extends Compiled = Compiled> =
  /** `entities`: how many the load sent; `reused`: of them, how many were the live config's own objects */
  | { status: 'loaded'; snapshot: Snapshot; problems: Problem[]; entities?: number; reused?: number }
  | { status: 'unchanged'; snapshot: Snapshot }
  /** `errorBody`: the admin API's 400 body, built off the event loop (reloadPosted) */
  | { status: 'invalid'; problems: Problem[]; hash: string; errorBody?: Record<string, unknown> }
  /** not read or not loadable at all; `tooLarge`: over declarative_config_max_size */
  | { status: 'unreadable'; message: string; tooLarge?: boolean }
  | { status: 'busy' };

/** One reload as it ended, for listeners (metrics, logs, a dashboard's history). */
export interface ReloadEvent {
  trigger: ReloadTrigger;
  status: 'loaded' | 'unchanged' | 'invalid' | 'unreadable';
  hash?: string;
  generation?: number;
  /** the error, for invalid and unreadable */
  message?: string;
  /** for invalid: every problem, each with its file:line:column */
  problems?: Problem[];
  /** wall time from the trigger to the swap (or refusal), ms */
  durationMs: number;
  /** the longest the event loop was held while this reload ran (monitorEventLoopDelay's max), ms */
  loopBlockedMs: number;
  /** main-thread slices the build took */
  slices: number;
  /** the longest of them, ms: how long this reload's own work held the event loop at most (wall time) */
  longestSliceMs: number;
  /** the most CPU time one of them used, ms (the wall time also counts what the machine gave other processes) */
  longestSliceCpuMs: number;
  at: number;
}

export interface ManagerOptions<Snapshot extends Compiled> {
  file: string;
  logger: Logger;
  loadOptions?: LoadOptions;
  /** builds the snapshot of a checked config (router, TLS, balancers, plugins); may throw with a user message */
  compile: (input: CompileInput) => Promise<Snapshot>;
  /** declarative_config_max_size: files and POST bodies above it are refused before they are read */
  maxBytes?: number;
  /** the load thread's heap limit, MiB (declarative_config_load_heap) */
  loadHeapMb?: number;
  /** the cluster primary: good configs are also written here, normalized, for the workers (`ReloadOutcome`'s snapshot) */
  checkedDir?: string;
}

export const DEFAULT_LOAD_HEAP_MB = 2048;

interface Job {
  source: LoadSource;
  file: string;
  trigger: ReloadTrigger;
  post?: { checkHash: boolean; flatten: boolean };
}

/**
 * Owns the live snapshot. Every trigger (start, file change, SIGHUP, admin POST /config) runs the same pipeline:
 * read → load (parse, validate, check, normalize) in the load thread → compile in slices on the main thread → swap
 * by one assignment. Loads are serialized; an invalid file never replaces the live snapshot.
 */
export class ConfigManager<Snapshot extends Compiled = Compiled> {
  #opts: ManagerOptions<Snapshot>;
  #loader: ConfigLoader;
  #current: Snapshot | undefined;
  /** the live config as assembled, with its fingerprints: the next load sends its unchanged entities by reference */
  #base: Base | undefined;
  #busy = false;
  #pending: Job | undefined;
  #listeners: ((s: Snapshot, previous: Snapshot | undefined) => void)[] = [];
  #loadListeners: ((ok: boolean) => void)[] = [];
  #reloadListeners: ((e: ReloadEvent) => void)[] = [];
  #generation = 0;
  /** the path of the live config's checked file (cluster primary) */
  checkedPath: string | undefined;
  readonly stats = {
    loaded: 0,
    invalid: 0,
    unchanged: 0,
    lastError: undefined as string | undefined,
    lastErrorAt: 0,
    lastLoadedAt: 0,
  };

  constructor(opts: ManagerOptions<Snapshot>) {
    this.#opts = opts;
    this.#loader = new ConfigLoader({ heapMb: opts.loadHeapMb ?? DEFAULT_LOAD_HEAP_MB });
  }

  get current(): Snapshot | undefined {
    return this.#current;
  }

  get file(): string {
    return this.#opts.file;
  }

  get maxBytes(): number {
    return this.#opts.maxBytes ?? DEFAULT_MAX_CONFIG_BYTES;
  }

  /** Called after every swap, with the new and the previous snapshot. */
  onSwap(fn: (s: Snapshot, previous: Snapshot | undefined) => void): void {
    this.#listeners.push(fn);
  }

  /** Called after every load that was tried (not for unchanged content): true when it was swapped in. */
  onLoad(fn: (ok: boolean) => void): void {
    this.#loadListeners.push(fn);
  }

  /** Called after every reload that ran (not for `busy`), with its outcome, duration and event-loop delay. */
  onReload(fn: (e: ReloadEvent) => void): void {
    this.#reloadListeners.push(fn);
  }

  /** Reads the file (in the load thread: regular files only, size-limited) and reloads it. */
  reloadFile(trigger: ReloadTrigger): Promise<ReloadOutcome<Snapshot>> {
    return this.#submit({ source: { kind: 'file', path: this.#opts.file }, file: this.#opts.file, trigger });
  }

  /** Loads the given content. */
  reloadText(text: string, file: string, trigger: ReloadTrigger): Promise<ReloadOutcome<Snapshot>> {
    return this.#submit({ source: { kind: 'bytes', bytes: Buffer.from(text, 'utf8') }, file, trigger });
  }

  /** Loads content already read (the watcher's settled bytes): decoded, strictly, in the load thread. */
  reloadBytes(bytes: Uint8Array, file: string, trigger: ReloadTrigger): Promise<ReloadOutcome<Snapshot>> {
    return this.#submit({ source: { kind: 'bytes', bytes }, file, trigger });
  }

  /**
   * A POST /config body, unwrapped (`config` key or form field) and loaded in the load thread; `checkHash`: answer
   * `unchanged` when it is the live config; an invalid one comes with the admin API's 400 body.
   */
  reloadPosted(
    body: Uint8Array,
    contentType: string,
    file: string,
    post: { checkHash: boolean; flatten: boolean },
  ): Promise<ReloadOutcome<Snapshot>> {
    return this.#submit({ source: { kind: 'bytes', bytes: body, contentType }, file, trigger: 'admin', post });
  }

  /** A config the cluster primary checked (its normalized JSON at `path`): compiled without checking it again. */
  reloadChecked(path: string, file: string, trigger: ReloadTrigger): Promise<ReloadOutcome<Snapshot>> {
    return this.#submit({ source: { kind: 'checked', path }, file, trigger });
  }

  /** True while a load is running (POST /config answers 429 then). */
  get busy(): boolean {
    return this.#busy;
  }

  /** Ends the load thread. */
  close(): Promise<void> {
    return this.#loader.close();
  }

  async #submit(job: Job): Promise<ReloadOutcome<Snapshot>> {
    if (this.#busy) {
      // a file change during a load is not lost: it is loaded right after
      if (job.trigger !== 'admin') this.#pending = job;
      return { status: 'busy' };
    }
    this.#busy = true;
    try {
      return await this.#load(job);
    } finally {
      this.#busy = false;
      const next = this.#pending;
      this.#pending = undefined;
      if (next) void this.#submit(next);
    }
  }

  async #load(job: Job): Promise<ReloadOutcome<Snapshot>> {
    const started = performance.now();
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const slicer = new Slicer();
    let outcome: ReloadOutcome<Snapshot>;
    try {
      outcome = await whileLoading(() => this.#run(job, slicer));
    } finally {
      delay.disable();
    }
    if (outcome.status === 'busy') return outcome;
    const event: ReloadEvent = {
      trigger: job.trigger,
      status: outcome.status,
      durationMs: performance.now() - started,
      loopBlockedMs: delay.count > 0 ? delay.max / 1e6 : 0,
      slices: slicer.slices,
      longestSliceMs: slicer.longestMs,
      longestSliceCpuMs: slicer.longestCpuMs,
      at: Date.now(),
    };
    if (outcome.status === 'loaded' || outcome.status === 'unchanged') {
      event.hash = outcome.snapshot.hash;
      event.generation = outcome.snapshot.generation;
    } else if (outcome.status === 'invalid') {
      event.hash = outcome.hash;
      event.message = this.stats.lastError;
      event.problems = outcome.problems;
    } else event.message = outcome.message;
    const log = this.#opts.logger;
    const timing = {
      duration_ms: Math.round(event.durationMs),
      loop_blocked_ms: Math.round(event.loopBlockedMs * 10) / 10,
      slices: event.slices,
      longest_slice_ms: Math.round(event.longestSliceMs * 10) / 10,
      longest_slice_cpu_ms: Math.round(event.longestSliceCpuMs * 10) / 10,
    };
    if (outcome.status === 'loaded') {
      const s = outcome.snapshot;
      log.info(
        {
          trigger: job.trigger,
          hash: s.hash,
          generation: s.generation,
          routes: s.config.routes.length,
          services: s.config.services.length,
          entities: outcome.entities,
          entities_reused: outcome.reused,
          ...timing,
        },
        this.stats.loaded > 1 ? 'declarative config reloaded' : 'declarative config loaded',
      );
    } else if (outcome.status !== 'unchanged')
      log.info({ trigger: job.trigger, ...timing }, 'declarative config reload refused');
    for (const fn of this.#reloadListeners) fn(event);
    return outcome;
  }

  async #run(job: Job, slicer: Slicer): Promise<ReloadOutcome<Snapshot>> {
    const { file, trigger } = job;
    const live = this.#current;
    const skipHash = job.post
      ? job.post.checkHash
        ? live?.hash
        : undefined
      : trigger !== 'admin'
        ? live?.hash
        : undefined;
    slicer.idle(); // the load thread works; this thread only waits
    const base = this.#base;
    const { reply, chunks } = await this.#loader.run({
      source: job.source,
      file,
      maxBytes: this.maxBytes,
      options: this.#opts.loadOptions ?? {},
      skipHash,
      checkedDir: this.#opts.checkedDir,
      errorBody: job.post ? { flatten: job.post.flatten } : undefined,
      base: base?.fps,
    });
    slicer.resume();
    if (reply.status !== 'ok') chunks.close();
    switch (reply.status) {
      case 'unchanged':
        if (!live) return this.#unreadable(trigger, 'the load thread answered unchanged with no live config');
        this.stats.unchanged++;
        this.stats.lastError = undefined;
        this.#opts.logger.debug({ trigger, hash: reply.hash }, 'declarative config unchanged');
        return { status: 'unchanged', snapshot: live };
      case 'unreadable':
      case 'failed':
        return this.#unreadable(trigger, reply.message, reply.status === 'unreadable' ? reply.tooLarge : undefined);
      case 'invalid': {
        const errors = reply.problems.filter((p) => p.severity === 'error');
        this.#fail(trigger, `${errors.length} error(s) in ${file}`, reply.problems, reply.hash);
        return { status: 'invalid', problems: reply.problems, hash: reply.hash, errorBody: reply.errorBody };
      }
    }
    return this.#compile(job, reply, chunks, slicer, base);
  }

  async #compile(
    job: Job,
    reply: Extract<LoaderReply, { status: 'ok' }>,
    chunks: import('./loader.js').ChunkReader,
    slicer: Slicer,
    base: Base | undefined,
  ): Promise<ReloadOutcome<Snapshot>> {
    const { file, trigger } = job;
    let assembled: Assembled;
    try {
      assembled = await assemble(reply.formatVersion, chunks, slicer, base?.assembled);
    } catch (err) {
      return this.#unreadable(trigger, (err as Error).message);
    }
    const { config, fingerprints } = assembled;
    const bytes = reply.text;
    let text: string | undefined;
    const input: CompileInput = {
      config,
      hash: reply.hash,
      file,
      generation: this.#generation + 1,
      fingerprints,
      slicer,
      get text() {
        return (text ??= bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8') : '');
      },
    };
    let snapshot: Snapshot;
    try {
      snapshot = await this.#opts.compile(input);
    } catch (err) {
      const message = (err as Error).message;
      const problems: Problem[] = [{ severity: 'error', file, line: 1, column: 1, path: '', message }];
      this.#fail(trigger, message, problems, reply.hash);
      return { status: 'invalid', problems, hash: reply.hash };
    }
    this.#generation = snapshot.generation;
    const previous = this.#current;
    this.#current = snapshot;
    this.#base = { assembled, fps: reply.fps };
    this.checkedPath = reply.checked;
    this.stats.loaded++;
    this.stats.lastLoadedAt = snapshot.loadedAt;
    this.stats.lastError = undefined;
    for (const p of reply.problems) this.#opts.logger.warn({ problem: formatProblem(p) }, 'declarative config warning');
    for (const fn of this.#listeners) fn(snapshot, previous);
    for (const fn of this.#loadListeners) fn(true);
    return { status: 'loaded', snapshot, problems: reply.problems, entities: reply.entities, reused: reply.reused };
  }

  #unreadable(trigger: ReloadTrigger, message: string, tooLarge?: boolean): ReloadOutcome<Snapshot> {
    this.#fail(trigger, message);
    return tooLarge ? { status: 'unreadable', message, tooLarge } : { status: 'unreadable', message };
  }

  #fail(trigger: ReloadTrigger, message: string, problems: Problem[] = [], hash?: string): void {
    this.stats.invalid++;
    this.stats.lastError = message;
    this.stats.lastErrorAt = Date.now();
    for (const fn of this.#loadListeners) fn(false);
    const errors = problems
      .filter((p) => p.severity === 'error')
      .slice(0, 100)
      .map(formatProblem);
    this.#opts.logger.error(
      { trigger, hash, errors, live_hash: this.#current?.hash },
      this.#current
        ? `declarative config rejected, the last good config keeps serving: ${message}`
        : `declarative config rejected: ${message}`,
    );
  }
}
