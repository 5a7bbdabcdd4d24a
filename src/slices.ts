/**
 * Work on the main thread in slices: a loop asks `due()` (cheap) and, when the slice has run its budget, awaits
 * `pause()`, which lets the event loop run (timers, I/O, every proxied byte) before the next slice. The budget is a
 * few milliseconds, so nothing built on the main thread holds the data path longer than that.
 */
export class Slicer {
  #start = performance.now();
  #slices = 1;
  constructor(readonly budgetMs = 3) {}

  due(): boolean {
    return performance.now() - this.#start >= this.budgetMs;
  }

  async pause(): Promise<void> {
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
}
