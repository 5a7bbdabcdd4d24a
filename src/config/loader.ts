/**
 * The main thread's side of the load thread: it starts the thread on first use (and again after one died), sends
 * it jobs one at a time, and turns the thread's death (out of memory, crash) into a refused load; the process and
 * its live config never depend on the thread surviving.
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { Chunk, LoadJob, LoadReply } from './load-job.js';

export interface LoaderOptions {
  /** the load thread's old-generation heap limit, in MiB */
  heapMb: number;
}

/** Above this many entities, the thread that loaded them is ended after the load. */
const BIG_LOAD = 20_000;

export type LoaderReply = LoadReply | { id: number; status: 'failed'; message: string };

/** The entities of a good load, taken from the thread's port a few at a time (`next()` never blocks). */
export class ChunkReader {
  #port: MessagePort;
  constructor(port: MessagePort) {
    this.#port = port;
  }
  next(): Chunk | undefined {
    return receiveMessageOnPort(this.#port)?.message as Chunk | undefined;
  }
  close(): void {
    this.#port.close();
  }
}

export class ConfigLoader {
  #opts: LoaderOptions;
  #worker: Worker | undefined;
  #nextId = 0;
  #pending: { id: number; resolve: (r: LoaderReply) => void } | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(opts: LoaderOptions) {
    this.#opts = opts;
  }

  /** Runs one job; jobs run one after the other. The reader is there when the reply is `ok`. */
  run(job: Omit<LoadJob, 'id'>): Promise<{ reply: LoaderReply; chunks: ChunkReader }> {
    const p = this.#queue.then(() => this.#run(job));
    this.#queue = p.catch(() => undefined);
    return p;
  }

  async #run(job: Omit<LoadJob, 'id'>): Promise<{ reply: LoaderReply; chunks: ChunkReader }> {
    const id = ++this.#nextId;
    const { port1, port2 } = new MessageChannel();
    const w = this.#thread();
    const reply = await new Promise<LoaderReply>((resolve) => {
      this.#pending = { id, resolve };
      w.ref();
      try {
        w.postMessage({ job: { ...job, id }, port: port2 }, [port2]);
      } catch (err) {
        resolve({ id, status: 'failed', message: `cannot start the config load: ${(err as Error).message}` });
      }
    });
    this.#pending = undefined;
    if (reply.status === 'ok' && reply.entities > BIG_LOAD) {
      // a large load left a large heap in the thread: end it now, while this thread only waits, rather than let
      // it give the memory back later in the middle of the build (a new thread starts with the next load)
      const w2 = this.#worker;
      this.#worker = undefined;
      await w2?.terminate();
    } else this.#worker?.unref();
    return { reply, chunks: new ChunkReader(port1) };
  }

  #thread(): Worker {
    if (this.#worker) return this.#worker;
    const w = new Worker(new URL('./load-thread.js', import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb: this.#opts.heapMb, maxYoungGenerationSizeMb: 64 },
      stdout: false,
      stderr: false,
    });
    this.#worker = w;
    w.on('message', (r: LoadReply) => {
      if (this.#pending?.id === r.id) this.#pending.resolve(r);
    });
    const gone = (why: string) => {
      if (this.#worker !== w) return;
      this.#worker = undefined;
      const p = this.#pending;
      if (p) p.resolve({ id: p.id, status: 'failed', message: why });
    };
    w.on('error', (err: Error & { code?: string }) => {
      gone(
        err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? `the config load ran out of memory (its heap limit is ${this.#opts.heapMb} MiB, declarative_config_load_heap)`
          : `the config load thread failed: ${err.message}`,
      );
    });
    w.on('exit', (code) => gone(`the config load thread exited (code ${code})`));
    w.unref();
    return w;
  }

  /** Ends the thread (a stopping process); a running job is answered as failed. */
  async close(): Promise<void> {
    const w = this.#worker;
    if (w) await w.terminate();
  }
}
