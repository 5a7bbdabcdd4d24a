/**
 * Maximum connection counts per listener and per route. A listener's count could also be left to
 * `server.maxConnections` (Node drops the connection after accept and emits 'drop'); this counter is for the
 * places Node has no knob: a route is known only after the router ran, and its count must survive reloads, so it
 * is kept by the route's stable id (docs/architecture.md: runtime state lives beside the snapshot, keyed by id).
 */

/** One counter with a maximum; 0 = unlimited. */
export class ConnectionCap {
  max: number;
  #active = 0;

  constructor(max: number) {
    this.max = max;
  }

  get active(): number {
    return this.#active;
  }

  /** True (and counted) when below the maximum. */
  tryAcquire(): boolean {
    if (this.max > 0 && this.#active >= this.max) return false;
    this.#active++;
    return true;
  }

  release(): void {
    if (this.#active > 0) this.#active--;
  }
}

/**
 * Counters by key (route id). The maximum is read from the current snapshot at each acquire, so a reload that
 * changes a route's tag applies to new connections while the count of open ones carries over.
 */
export class CapTable {
  readonly #caps = new Map<string, { active: number }>();

  /** True (and counted) when `key` has fewer than `max` open connections; `max` 0 = unlimited (still counted). */
  tryAcquire(key: string, max: number): boolean {
    let c = this.#caps.get(key);
    if (c === undefined) {
      c = { active: 0 };
      this.#caps.set(key, c);
    }
    if (max > 0 && c.active >= max) return false;
    c.active++;
    return true;
  }

  release(key: string): void {
    const c = this.#caps.get(key);
    if (c === undefined) return;
    // drop the entry at zero so routes removed by reloads do not pile up
    if (--c.active <= 0) this.#caps.delete(key);
  }

  active(key: string): number {
    return this.#caps.get(key)?.active ?? 0;
  }

  get size(): number {
    return this.#caps.size;
  }
}
