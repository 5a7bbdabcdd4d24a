/**
 * One connected UDP socket to a log collector: one datagram per record.
 * The host name is resolved once, when the socket connects; records sent before that wait in a bounded queue.
 * Sends in flight are bounded too (UDP has no 'drain'): beyond `queueSize` records are dropped and counted.
 */
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { RateLimitedWarn, type Logger } from '../../log.js';

export interface DatagramSenderOptions {
  host: string;
  port: number;
  /** resolve-and-connect timeout, ms */
  timeout: number;
  queueSize: number;
  logger: Logger;
  onDrop?(count: number): void;
}

export class DatagramSender {
  readonly #opts: DatagramSenderOptions;
  #socket: Socket | undefined;
  #ready = false;
  #closed = false;
  #pending: string[] = [];
  #inFlight = 0;
  #sent = 0;
  #dropped = 0;
  #errors = 0;
  readonly #dropWarn: RateLimitedWarn;
  readonly #onSent = (err: Error | null): void => {
    this.#inFlight--;
    if (err) this.#onError(err);
    else this.#sent++;
  };

  constructor(opts: DatagramSenderOptions) {
    this.#opts = opts;
    this.#dropWarn = new RateLimitedWarn(opts.logger);
    void this.#open();
  }

  /** Sends one datagram (queued until the socket is connected); never blocks, never throws. */
  send(message: string): void {
    if (this.#closed) return this.#drop(1);
    if (!this.#ready) {
      if (this.#pending.length >= this.#opts.queueSize) return this.#drop(1);
      this.#pending.push(message);
      return;
    }
    if (this.#inFlight >= this.#opts.queueSize) return this.#drop(1);
    this.#inFlight++;
    this.#socket!.send(message, this.#onSent);
  }

  stats(): Readonly<Record<string, number>> {
    return { sent: this.#sent, dropped: this.#dropped, errors: this.#errors, queued: this.#pending.length };
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#drop(this.#pending.splice(0).length);
    const socket = this.#socket;
    if (!socket) return Promise.resolve();
    return new Promise((resolve) => socket.close(() => resolve()));
  }

  async #open(): Promise<void> {
    const { host, port, timeout, logger } = this.#opts;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`resolving ${host} timed out after ${timeout} ms`)), timeout);
      });
      const { address, family } = await Promise.race([lookup(host), timedOut]);
      if (this.#closed) return;
      const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
      this.#socket = socket;
      socket.on('error', (err) => this.#onError(err));
      socket.unref();
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.connect(port, address, () => {
          socket.off('error', reject);
          resolve();
        });
      });
      if (this.#closed) return;
      this.#ready = true;
      for (const m of this.#pending.splice(0)) this.send(m);
    } catch (err) {
      logger.warn({ err, host, port }, 'udp log target unusable: its records are dropped');
      this.#drop(this.#pending.splice(0).length);
      this.#closed = true;
      this.#socket?.close();
      this.#socket = undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  #onError(err: Error): void {
    this.#errors++;
    this.#opts.logger.debug({ err }, 'udp log send failed');
  }

  #drop(n: number): void {
    if (n === 0) return;
    this.#dropped += n;
    this.#opts.onDrop?.(n);
    this.#dropWarn.warn({ dropped_total: this.#dropped }, 'udp log records dropped');
  }
}
