/**
 * The UDP session table: sessions found by (listener, client ip, client port), kept in order of last activity
 * so the least recently active one is at hand in O(1) when a cap is reached.
 *
 * JavaScript Sets and Maps iterate in insertion order, so "touch" is a delete plus an add. It is skipped when the
 * session is already the newest, which is the common case of a client sending a burst.
 */

/** What the table needs of a session. */
export interface TableEntry {
  readonly clientIp: string;
  readonly clientPort: number;
  /** the client's sessions on this listener, by port (in order of last activity too) */
  readonly byPort: Map<number, TableEntry>;
  /** the listener's sessions by client ip */
  readonly sources: Map<string, Map<number, TableEntry>>;
}

export class SessionTable<S extends TableEntry> {
  readonly #lru = new Set<S>();
  #newest: S | undefined;

  get size(): number {
    return this.#lru.size;
  }

  add(s: S): void {
    this.#lru.add(s);
    s.byPort.set(s.clientPort, s);
    if (s.byPort.size === 1) s.sources.set(s.clientIp, s.byPort);
    this.#newest = s;
  }

  /** Marks the session as the most recently active. */
  touch(s: S): void {
    if (s === this.#newest) return;
    this.#lru.delete(s);
    this.#lru.add(s);
    s.byPort.delete(s.clientPort);
    s.byPort.set(s.clientPort, s);
    this.#newest = s;
  }

  /** Forgets the session; returns false when it was not in the table. */
  remove(s: S): boolean {
    if (!this.#lru.delete(s)) return false;
    if (s.byPort.get(s.clientPort) === s) s.byPort.delete(s.clientPort);
    if (s.byPort.size === 0 && s.sources.get(s.clientIp) === s.byPort) s.sources.delete(s.clientIp);
    if (this.#newest === s) this.#newest = undefined;
    return true;
  }

  /** The sessions, least recently active first (live: do not change the table while iterating). */
  values(): IterableIterator<S> {
    return this.#lru.values();
  }

  /** A snapshot of every session, least recently active first. */
  all(): S[] {
    return [...this.#lru];
  }
}

/** The sessions of one client address, least recently active first (its port map's order). */
export function sessionsOfSource<S extends TableEntry>(byPort: Map<number, TableEntry>): IterableIterator<S> {
  return byPort.values() as IterableIterator<S>;
}
