/**
 * One timer per server instead of one per socket: every `tick` ms it walks the open sessions and hands each, with
 * the time, to `check`, which compares the session's progress counters with what it saw last time.
 *
 * Why not `socket.setTimeout`: Node refreshes a socket's timer on every read and write (a cost on the hot path), and
 * it skips the first expiry while a write is pending, so a write_timeout against an upstream that never reads fired
 * at twice its value or later (issue 14). A sweep fires between `limit` and `limit + 2 * tick` after the last
 * progress, never early; the tick is a tenth of the shortest timeout it was asked to watch (50 ms to 1 s), so the
 * error stays within 20 % of the timeout plus 200 ms. The timer stops while no session is open.
 */

const MIN_TICK = 50;
const MAX_TICK = 1000;

export class Sweeper<T> {
  readonly #items: Set<T>;
  readonly #check: (item: T, now: number) => void;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined = undefined;
  #tick = MAX_TICK;

  constructor(items: Set<T>, check: (item: T, now: number) => void, now: () => number) {
    this.#items = items;
    this.#check = check;
    this.#now = now;
  }

  /** The sweep interval now (ms). */
  get tick(): number {
    return this.#tick;
  }

  /** Makes sure a sweep runs often enough for a timeout of `ms` (call when an item that has one is added). */
  watch(ms: number): void {
    const t = Math.max(MIN_TICK, Math.min(MAX_TICK, Math.floor(ms / 10)));
    if (this.#timer !== undefined) {
      if (t >= this.#tick) return;
      clearInterval(this.#timer);
    }
    this.#tick = t;
    const timer: NodeJS.Timeout = setInterval(sweep, this.#tick, this as Sweeper<unknown>);
    timer.unref();
    this.#timer = timer;
  }

  /** @internal the interval's callback */
  run(): void {
    if (this.#items.size === 0) {
      this.stop();
      return;
    }
    const now = this.#now();
    const check = this.#check;
    for (const item of this.#items) check(item, now);
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#tick = MAX_TICK;
  }
}

function sweep(s: Sweeper<unknown>): void {
  s.run();
}
