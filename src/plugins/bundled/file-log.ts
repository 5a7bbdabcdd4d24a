/**
 * Kong's file-log: one JSON line per session, appended to `path`.
 *
 * Writes never block the data path: records are queued (at most 10,000; more are dropped and counted) and
 * written by one asynchronous loop that gathers them for up to 50 ms (or 1,000 records) into one write. With `reopen: true` Kong opens and closes
 * the file for every session; here the loop instead checks, before each write, whether `path` still names the
 * open file (same inode) and reopens it when it was renamed or removed: log rotation works the same, without an
 * open and a close per session.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { RateLimitedWarn } from '../../log.js';
import type { LogRecord, PluginCreateContext, PluginInstance, StreamPlugin } from '../types.js';
import { serializeRecord } from '../serialize.js';

export interface FileLogConfig {
  path: string;
  reopen: boolean;
}

const configSchema = {
  type: 'object',
  properties: {
    path: { type: 'string', minLength: 1, pattern: '^[^*&%\\\\`]+$' },
    reopen: { type: 'boolean', default: false },
  },
  required: ['path'],
  additionalProperties: false,
};

const MAX_QUEUED = 10_000;
// Records gather this long (or up to BATCH of them) into one write: a write per event-loop turn cost about 10 % of
// the new-connection rate (a threadpool write for one or two lines), one per 50 ms costs nothing measurable.
const GATHER_MS = 50;
const BATCH = 1000;

class FileLog implements PluginInstance {
  readonly #path: string;
  readonly #reopen: boolean;
  readonly #ctx: PluginCreateContext;
  #queue: LogRecord[] = [];
  #file: FileHandle | undefined;
  #ino = -1;
  #running: Promise<void> | undefined;
  /** ends the gathering wait of the write loop early (a full batch, or close) */
  #wake: (() => void) | undefined;
  #closed = false;
  #written = 0;
  #dropped = 0;
  readonly #dropWarn: RateLimitedWarn;

  constructor(config: FileLogConfig, ctx: PluginCreateContext) {
    this.#path = config.path;
    this.#reopen = config.reopen;
    this.#dropWarn = new RateLimitedWarn(ctx.logger);
    this.#ctx = ctx;
  }

  log(record: LogRecord): void {
    if (this.#closed || this.#queue.length >= MAX_QUEUED) return this.#drop(1, undefined);
    this.#queue.push(record);
    if (this.#running === undefined) this.#running = this.#run();
    else if (this.#queue.length >= BATCH) this.#wake?.();
  }

  stats(): Readonly<Record<string, number>> {
    return { written: this.#written, dropped: this.#dropped, queued: this.#queue.length };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    await this.#running;
    // records queued after the loop's last look at the queue
    if (this.#queue.length > 0) await this.#run();
    await this.#file?.close().catch(() => undefined);
    this.#file = undefined;
  }

  async #run(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        // before every write, not only the first: under steady traffic the loop never stops
        if (!this.#closed && this.#queue.length < BATCH) await this.#gather();
        const batch = this.#queue.splice(0);
        let text = '';
        for (const r of batch) text += serializeRecord(r) + '\n';
        try {
          const file = await this.#handle();
          await file.write(text);
          this.#written += batch.length;
        } catch (err) {
          await this.#file?.close().catch(() => undefined);
          this.#file = undefined;
          this.#drop(batch.length, err);
        }
      }
    } finally {
      this.#running = undefined;
    }
  }

  #gather(): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(wake, GATHER_MS);
      // unref: close() wakes the loop, so a pending batch never holds the process open nor is lost at stop
      timer.unref();
      this.#wake = wake;
    });
  }

  async #handle(): Promise<FileHandle> {
    if (this.#file && this.#reopen) {
      const current = await stat(this.#path).then(
        (s) => s.ino,
        () => -1,
      );
      if (current !== this.#ino) {
        await this.#file.close().catch(() => undefined);
        this.#file = undefined;
      }
    }
    if (!this.#file) {
      this.#file = await open(this.#path, 'a');
      this.#ino = (await this.#file.stat()).ino;
    }
    return this.#file;
  }

  #drop(n: number, err: unknown): void {
    this.#dropped += n;
    this.#ctx.metrics?.logDropped('file-log', n);
    this.#dropWarn.warn({ err, path: this.#path, dropped_total: this.#dropped }, 'file-log records dropped');
  }
}

export const fileLog: StreamPlugin<FileLogConfig> = {
  name: 'file-log',
  priority: 9,
  configSchema,
  create: (config, ctx) => new FileLog(config, ctx),
};
