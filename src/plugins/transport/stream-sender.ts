/**
 * One persistent stream connection (TCP, TLS or a unix socket) to a log collector, fed through a bounded queue.
 *
 * `send` only pushes to the queue and returns: a slow or dead collector costs the data path nothing but the drop
 * of records beyond `queueSize` (counted, and warned about at most once per 10 s). Records are serialized when they
 * are written, gathered for up to 20 ms (or 256 records) into one write, so a burst costs one syscall, not one each.
 * The socket buffer is kept small (writes stop at the first `false` until 'drain'), which bounds memory to the
 * queue plus about one chunk. A failed connect is retried with a doubling backoff; an idle connection is closed
 * after `keepalive` ms and opened again by the next record.
 */
import type { Socket } from 'node:net';
import { RateLimitedWarn, type Logger } from '../../log.js';

export interface StreamSenderOptions {
  /** opens the connection (`net.connect` or `tls.connect`); called again on every reconnect */
  connect(): Socket;
  /** the event that says the connection is usable: 'connect', or 'secureConnect' for TLS */
  readyEvent: 'connect' | 'secureConnect';
  /** connect and write timeout, ms */
  timeout: number;
  /** an idle connection is closed after this many ms */
  keepalive: number;
  /** records waiting beyond this are dropped */
  queueSize: number;
  logger: Logger;
  /** called with the number of records dropped */
  onDrop?(count: number): void;
  backoffMinMs?: number;
  backoffMaxMs?: number;
}

const CHUNK_BYTES = 64 * 1024;
// Records gather this long (or until FLUSH_AT are queued) into one write: a write per event-loop turn, one or two
// lines each under steady traffic, cost about 10 % of the new-connection rate in syscalls.
const GATHER_MS = 20;
const FLUSH_AT = 256;

export class StreamSender<T> {
  readonly #opts: StreamSenderOptions;
  readonly #serialize: (item: T) => string;
  #queue: T[] = [];
  #socket: Socket | undefined;
  #connected = false;
  #needDrain = false;
  #flushTimer: NodeJS.Timeout | undefined;
  #flushImmediate: NodeJS.Immediate | undefined;
  #idleClose = false;
  #closed = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #writeTimer: NodeJS.Timeout | undefined;
  #backoff: number;
  #onClosed: (() => void) | undefined;
  #sent = 0;
  #dropped = 0;
  #connectFailures = 0;
  readonly #dropWarn: RateLimitedWarn;

  constructor(opts: StreamSenderOptions, serialize: (item: T) => string) {
    this.#opts = opts;
    this.#serialize = serialize;
    this.#dropWarn = new RateLimitedWarn(opts.logger);
    this.#backoff = opts.backoffMinMs ?? 100;
  }

  /** Queues one record; never blocks, never throws. */
  send(item: T): void {
    if (this.#closed || this.#queue.length >= this.#opts.queueSize) {
      this.#drop(1);
      return;
    }
    this.#queue.push(item);
    if (this.#connected) this.#scheduleFlush();
    else if (this.#socket === undefined && this.#retryTimer === undefined) this.#connect();
  }

  stats(): Readonly<Record<string, number>> {
    return {
      sent: this.#sent,
      dropped: this.#dropped,
      queued: this.#queue.length,
      connect_failures: this.#connectFailures,
      connected: this.#connected ? 1 : 0,
    };
  }

  /** Writes what is queued if connected, then closes the connection (waits at most `timeout`, 1 s at most). */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#flushTimer);
    if (this.#flushImmediate !== undefined) clearImmediate(this.#flushImmediate);
    const socket = this.#socket;
    if (!socket) {
      this.#drop(this.#queue.splice(0).length);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => socket.destroy(), Math.min(this.#opts.timeout, 1000));
      this.#onClosed = () => {
        clearTimeout(timer);
        resolve();
      };
      if (this.#connected) {
        while (this.#queue.length > 0) socket.write(this.#takeChunk());
        socket.end();
      } else {
        this.#drop(this.#queue.splice(0).length);
        socket.destroy();
      }
    });
  }

  #drop(n: number): void {
    if (n === 0) return;
    this.#dropped += n;
    this.#opts.onDrop?.(n);
    this.#dropWarn.warn({ dropped_total: this.#dropped }, 'log collector too slow or unreachable: records dropped');
  }

  #connect(): void {
    const socket = this.#opts.connect();
    this.#socket = socket;
    this.#idleClose = false;
    socket.setTimeout(this.#opts.timeout);
    socket.once(this.#opts.readyEvent, () => this.#onReady(socket));
    socket.on('timeout', () => this.#onTimeout(socket));
    socket.on('drain', () => this.#onDrain());
    socket.on('error', (err) => {
      if (!this.#connected) this.#connectFailures++;
      this.#opts.logger.debug({ err }, 'log collector connection error');
    });
    socket.on('close', () => this.#onClose(socket));
    socket.on('end', () => socket.end());
    socket.resume();
    socket.unref();
  }

  #onReady(socket: Socket): void {
    if (socket !== this.#socket) return;
    this.#connected = true;
    this.#backoff = this.#opts.backoffMinMs ?? 100;
    socket.setTimeout(this.#opts.keepalive);
    this.#flush();
  }

  #onTimeout(socket: Socket): void {
    if (!this.#connected) {
      socket.destroy(new Error(`connect timed out after ${this.#opts.timeout} ms`));
    } else if (this.#queue.length === 0 && socket.writableLength === 0) {
      this.#idleClose = true;
      socket.end();
    }
  }

  #onDrain(): void {
    this.#needDrain = false;
    clearTimeout(this.#writeTimer);
    this.#flush();
  }

  #onClose(socket: Socket): void {
    if (socket !== this.#socket) return;
    this.#socket = undefined;
    this.#connected = false;
    this.#needDrain = false;
    clearTimeout(this.#writeTimer);
    if (this.#closed) {
      this.#onClosed?.();
      return;
    }
    if (this.#idleClose && this.#queue.length === 0) return;
    const delay = this.#backoff;
    this.#backoff = Math.min(this.#backoff * 2, this.#opts.backoffMaxMs ?? 5000);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#queue.length > 0 && !this.#closed) this.#connect();
    }, delay);
    this.#retryTimer.unref();
  }

  #scheduleFlush(): void {
    if (this.#needDrain) return;
    if (this.#queue.length >= FLUSH_AT) {
      if (this.#flushImmediate !== undefined) return;
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
      this.#flushImmediate = setImmediate(this.#flushNow);
    } else if (this.#flushTimer === undefined && this.#flushImmediate === undefined) {
      this.#flushTimer = setTimeout(this.#flushNow, GATHER_MS);
      this.#flushTimer.unref();
    }
  }

  readonly #flushNow = (): void => {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#flushImmediate = undefined;
    this.#flush();
  };

  #flush(): void {
    const socket = this.#socket;
    if (!socket || !this.#connected) return;
    while (this.#queue.length > 0 && !this.#needDrain) {
      if (!socket.write(this.#takeChunk())) {
        this.#needDrain = true;
        this.#writeTimer = setTimeout(() => {
          socket.destroy(new Error(`write timed out after ${this.#opts.timeout} ms`));
        }, this.#opts.timeout);
        this.#writeTimer.unref();
      }
    }
  }

  /** Serializes queued records into one string of about CHUNK_BYTES at most. */
  #takeChunk(): string {
    let out = '';
    let n = 0;
    const q = this.#queue;
    while (n < q.length && out.length < CHUNK_BYTES) out += this.#serialize(q[n++]!);
    q.splice(0, n);
    this.#sent += n;
    return out;
  }
}
