/**
 * Work on the main thread in slices: a loop asks `due()` (cheap) and, when the slice has run its budget, awaits
 * `pause()`, which lets the event loop run (timers, I/O, every proxied byte) before the next slice. The budget is a
 * few milliseconds, so nothing built on the main thread holds the data path longer than that.
 */
export class Slicer {
  #start = performance.now();
  #slices = 1;
  #longest = 0;
  constructor(readonly budgetMs = 3) {}

  due(): boolean {
    return performance.now() - this.#start >= this.budgetMs;
  }

  async pause(): Promise<void> {
    this.#note();
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.#slices++;
    this.#start = performance.now();
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

  /** Starts measuring a slice again after `idle()`. */
  resume(): void {
    this.#start = performance.now();
  }

  #note(): void {
    const d = performance.now() - this.#start;
    if (d > this.#longest) this.#longest = d;
  }
}
