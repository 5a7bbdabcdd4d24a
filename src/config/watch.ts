import { watch as fsWatch, type FSWatcher as NodeWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from '../log.js';
import { DEFAULT_MAX_CONFIG_BYTES, readConfigFile } from './read.js';

export interface WatchOptions {
  file: string;
  logger: Logger;
  /** ms of quiet after the last event before the file is read */
  debounceMs: number;
  /**
   * ms the content must stay the same, with no event in between, before it counts as written (default 100):
   * a writer that pauses longer than this in the middle of a file cannot be told from one that finished, and
   * then the loader's validation is the second net.
   */
  settleMs?: number;
  /** ms between stat() checks that catch what the events missed (default 1000; 0 = events only) */
  pollMs?: number;
  /** receives the settled content (never the same text twice in a row); unused when `onContent` is given */
  onChange?: (text: string) => void;
  /**
   * receives the settled content as bytes (decoded in the load thread), or `undefined` when the path is no longer
   * something to read (a FIFO, a device, a directory, over `maxBytes`): the loader then refuses it with the reason
   */
  onContent?: (bytes: Buffer | undefined) => void;
  /** declarative_config_max_size: a larger file is never read */
  maxBytes?: number;
}

/**
 * Watches the declarative file the ways it is really updated:
 * - in place (truncate and write, perhaps slowly), or a temporary file renamed over it (editors);
 * - deleted and created again (the last good config keeps serving meanwhile, and that is logged);
 * - Kubernetes ConfigMap volumes: `kong.yml -> ..data/kong.yml`, with `..data` a symlink swapped atomically;
 * - the whole folder removed and recreated, or renamed away and another renamed in.
 * Events come from the file's folder (so renames and symlink swaps are seen) and from its parent (so a replaced
 * folder re-arms the folder watch); a slow stat() poll catches whatever events miss (network file systems,
 * events lost while re-arming). Events are debounced, and the content is handed on only when two reads
 * `settleMs` apart agree and no event came in between: a half-written file is never handed on.
 */
export class ConfigWatcher {
  #opts: WatchOptions;
  #file: string;
  #dir: string;
  #dirWatcher: FSWatcher | undefined;
  #parentWatcher: NodeWatcher | undefined;
  /** inode of the watched folder: a different one means the folder was replaced; -1 = watch it again */
  #dirIno = -1;
  #poll: NodeJS.Timeout | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** bumped by every event: a settle that saw it change starts over */
  #events = 0;
  #signature = '';
  #last: Buffer | string | undefined;
  #missing = false;
  #closed = false;
  #settling = false;

  constructor(opts: WatchOptions) {
    this.#opts = opts;
    this.#file = resolve(opts.file);
    this.#dir = dirname(this.#file);
  }

  async start(): Promise<void> {
    const parent = dirname(this.#dir);
    this.#signature = await this.#stat();
    await this.#armDir();
    if (parent !== this.#dir) {
      // chokidar reports nothing when the folder is swapped by two renames (measured), so the parent is watched
      // with fs.watch, which reports every rename of the folder's name
      const name = basename(this.#dir);
      try {
        this.#parentWatcher = fsWatch(parent, { persistent: false }, (_event, entry) => {
          if (entry !== null && entry !== name) return;
          this.#dirIno = -1; // the folder's name changed hands: watch whatever folder has it now
          this.#schedule();
        });
        this.#parentWatcher.on('error', (err) =>
          this.#opts.logger.debug({ err }, 'config watcher (parent folder) error'),
        );
      } catch (err) {
        this.#opts.logger.debug({ err }, 'cannot watch the parent folder; the stat poll covers a replaced folder');
      }
    }
    const pollMs = this.#opts.pollMs ?? 1000;
    if (pollMs > 0) {
      this.#poll = setInterval(() => void this.#check(), pollMs);
      this.#poll.unref();
    }
  }

  /** Watches the folder again when it is not the one watched (replaced, or back after being removed). */
  async #rearmIfReplaced(): Promise<void> {
    const ino = await stat(this.#dir).then(
      (s) => s.ino,
      () => -1,
    );
    // inode numbers are reused at once on some file systems: a removed folder is marked by setting -1 instead
    if (ino !== this.#dirIno && ino !== -1) await this.#armDir();
  }

  async #armDir(): Promise<void> {
    if (this.#closed) return;
    this.#dirIno = await stat(this.#dir).then(
      (s) => s.ino,
      () => -1,
    );
    const old = this.#dirWatcher;
    const dir = this.#dir;
    const name = basename(this.#file);
    const w = watch(dir, {
      depth: 0,
      ignoreInitial: true,
      followSymlinks: false,
      // only the entries that can change the config: the file itself (written, or renamed over by an editor) and
      // Kubernetes' ..data link and ..timestamp folders; busy neighbours (log files) would otherwise cost a stat()
      // per write, measured at 15 % of the CPU under load
      ignored: (p: string) => {
        if (p === dir) return false;
        const b = basename(p);
        return dirname(p) !== dir || (b !== name && !b.startsWith('..'));
      },
    });
    this.#dirWatcher = w;
    w.on('all', (event: string, p: string) => {
      if (event === 'unlinkDir' && p === dir) this.#dirIno = -1; // a folder made under this name later is new
      const b = basename(p);
      if (b === name || b.startsWith('..') || p === dir) this.#schedule();
    });
    w.on('error', (err) => this.#opts.logger.debug({ err }, 'config watcher error'));
    await old?.close();
    await ready(w);
    if (this.#closed) await w.close();
  }

  /** What changes when the file (through any symlinks) is replaced or written. */
  async #stat(): Promise<string> {
    try {
      const s = await stat(this.#file);
      return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      return 'missing';
    }
  }

  async #check(): Promise<void> {
    await this.#rearmIfReplaced();
    const sig = await this.#stat();
    if (sig !== this.#signature) {
      this.#signature = sig;
      this.#schedule();
    }
  }

  #schedule(event = true): void {
    if (this.#closed) return;
    if (event) this.#events++;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#settle(), this.#opts.debounceMs);
    this.#timer.unref();
  }

  async #settle(): Promise<void> {
    if (this.#settling) return void this.#schedule(false); // one at a time: try again after the running one
    this.#settling = true;
    try {
      await this.#settleOnce();
    } finally {
      this.#settling = false;
    }
  }

  async #settleOnce(): Promise<void> {
    await this.#rearmIfReplaced();
    const seen = this.#events;
    // bounded: regular files only (a FIFO never blocks a thread), never more than maxBytes
    const read = () => readConfigFile(this.#file, this.#opts.maxBytes ?? DEFAULT_MAX_CONFIG_BYTES);
    const first = await read();
    if (!first.ok && first.message.startsWith('cannot read')) {
      if (!this.#missing) {
        this.#missing = true;
        this.#opts.logger.warn(
          { file: this.#file, err: first.message },
          'declarative config file is gone or unreadable; the last good config keeps serving',
        );
      }
      return;
    }
    await new Promise((r) => setTimeout(r, this.#opts.settleMs ?? 100));
    const second = await read();
    if (this.#closed) return;
    const same =
      first.ok && second.ok
        ? first.bytes.equals(second.bytes)
        : !first.ok && !second.ok && first.message === second.message;
    if (!same || this.#events !== seen) {
      this.#schedule(false); // still being written (its events were counted)
      return;
    }
    this.#signature = await this.#stat();
    if (this.#missing) this.#opts.logger.info({ file: this.#file }, 'declarative config file is back');
    this.#missing = false;
    // a refusal (not a regular file, too large) is handed on once, as `undefined`: the loader says why
    const content = second.ok ? second.bytes : second.message;
    const last = this.#last;
    if (typeof content === 'string' ? content === last : Buffer.isBuffer(last) && content.equals(last)) return;
    this.#last = content;
    try {
      if (this.#opts.onContent) this.#opts.onContent(second.ok ? second.bytes : undefined);
      else if (second.ok) this.#opts.onChange?.(second.bytes.toString('utf8'));
    } catch (err) {
      this.#opts.logger.error({ err }, 'config change handler failed');
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    clearInterval(this.#poll);
    this.#parentWatcher?.close();
    await this.#dirWatcher?.close();
  }
}

function ready(w: FSWatcher): Promise<void> {
  return new Promise<void>((resolve) => w.once('ready', () => resolve()));
}
