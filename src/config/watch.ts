import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from '../log.js';

export interface WatchOptions {
  file: string;
  logger: Logger;
  /** ms of quiet after the last event before the file is read */
  debounceMs: number;
  /** ms the content must stay the same before it counts as written (a half-written file is never handed on) */
  settleMs?: number;
  /** receives the settled content */
  onChange: (text: string) => void;
}

/**
 * Watches the declarative file through its folder, so that an editor's write-to-temp-and-rename, a truncate-and-write,
 * a delete-and-recreate and Kubernetes' ConfigMap update (a `..data` symlink swapped atomically, the file itself a
 * symlink into it) are all seen. Events are debounced; the content is read twice `settleMs` apart and handed on only
 * when both reads agree. Unchanged content is skipped later by hash, so spurious events cost one read.
 */
export class ConfigWatcher {
  #opts: WatchOptions;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #missing = false;
  #closed = false;

  constructor(opts: WatchOptions) {
    this.#opts = opts;
  }

  async start(): Promise<void> {
    const dir = dirname(this.#opts.file);
    const name = basename(this.#opts.file);
    this.#watcher = watch(dir, {
      depth: 0,
      ignoreInitial: true,
      followSymlinks: false,
      // the folder's own entries: the file, editors' temporary files, Kubernetes' ..data and timestamped folders
      ignored: (p: string) => p !== dir && dirname(p) !== dir,
    });
    const onEvent = (_event: string, p: string) => {
      const b = basename(p);
      if (b === name || b === '..data' || b.startsWith('..') || p === dir) this.#schedule();
    };
    this.#watcher.on('all', onEvent);
    this.#watcher.on('error', (err) => this.#opts.logger.warn({ err }, 'config watcher error'));
    await new Promise<void>((resolve) => this.#watcher!.once('ready', () => resolve()));
  }

  #schedule(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#settle(), this.#opts.debounceMs);
    this.#timer.unref();
  }

  async #settle(): Promise<void> {
    const read = () => readFile(this.#opts.file, 'utf8').catch((err: NodeJS.ErrnoException) => err);
    const first = await read();
    if (first instanceof Error) {
      if (first.code === 'ENOENT' && !this.#missing) {
        this.#missing = true;
        this.#opts.logger.warn({ file: this.#opts.file }, 'declarative config file is gone; the last good config keeps serving');
      }
      return;
    }
    if (this.#missing) this.#opts.logger.info({ file: this.#opts.file }, 'declarative config file is back');
    this.#missing = false;
    await new Promise((r) => setTimeout(r, this.#opts.settleMs ?? 50));
    const second = await read();
    if (this.#closed) return;
    if (second instanceof Error || second !== first) {
      this.#schedule(); // still being written
      return;
    }
    this.#opts.onChange(second);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#watcher?.close();
  }
}
