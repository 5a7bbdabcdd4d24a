/**
 * Work on the main thread in slices: a loop asks `due()` (cheap) and, when the slice has run its budget, awaits
 * `pause()`, which lets the event loop run (timers, I/O, every proxied byte) before the next slice. The budget is a
 * few milliseconds, so nothing built on the main thread holds the data path longer than that.
 */
export class Slicer {
  #start = performance.now();
  #cpu = process.cpuUsage();
  #slices = 1;
  #longest = 0;
  #longestCpu = 0;
  constructor(readonly budgetMs = 3) {}

  due(): boolean {
    return performance.now() - this.#start >= this.budgetMs;
  }

  async pause(): Promise<void> {
    this.#note();
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.#slices++;
    this.resume();
  }

  /** `pause()` when due. */
  async tick(): Promise<void> {
    if (this.due()) await this.pause();
  }

  get slices(): number {
    return this.#slices;
  }

  /** The longest slice so far, ms: how long this work itself held the event loop at most. */
  get longestMs(): number {
    this.#note();
    return this.#longest;
  }

  /** Ends the current slice's measure (call when the work stops without a pause: it is waiting for something else). */
  idle(): void {
    this.#note();
    this.#start = Number.POSITIVE_INFINITY;
  }

  /**
   * The most CPU time one slice used, ms: the process's CPU time, which while a build runs is this thread's (the
   * load thread is idle by then) plus the GC's helpers. Unlike the wall time, it does not count the time the machine
   * gave to other processes.
   */
  get longestCpuMs(): number {
    this.#note();
    return this.#longestCpu;
  }

  /** Starts measuring a slice again after `idle()`. */
  resume(): void {
    this.#start = performance.now();
    this.#cpu = process.cpuUsage();
  }

  #note(): void {
    const d = performance.now() - this.#start;
    if (d > this.#longest) this.#longest = d;
    if (d > 0) {
      const c = process.cpuUsage(this.#cpu);
      const ms = (c.user + c.system) / 1000;
      if (ms > this.#longestCpu) this.#longestCpu = ms;
    }
  }
}
