/**
 * Snapshot leases: how many sessions, TCP and UDP alike, still use each snapshot, and what to do when a retired
 * snapshot's last one ends. One Leases is shared by the TCP and the UDP server of a process (process/serve.ts), so a
 * retired snapshot's plugin chains are closed only when neither a connection nor a datagram session logs into them
 * any more.
 */
export class Leases {
  readonly #open = new Map<object, number>();
  readonly #retired = new Map<object, () => void>();

  /** A session starts on `snap`. */
  acquire(snap: object): void {
    this.#open.set(snap, (this.#open.get(snap) ?? 0) + 1);
  }

  /** A session on `snap` ended (after its record was logged): runs the retire callback when it was the last. */
  release(snap: object): void {
    const n = (this.#open.get(snap) ?? 1) - 1;
    if (n > 0) return void this.#open.set(snap, n);
    this.#open.delete(snap);
    const cb = this.#retired.get(snap);
    if (cb) {
      this.#retired.delete(snap);
      cb();
    }
  }

  /** Sessions open on `snap` now. */
  count(snap: object): number {
    return this.#open.get(snap) ?? 0;
  }

  /** `cb` runs once no session holds `snap` (at once when none does). */
  retire(snap: object, cb: () => void): void {
    if (!this.#open.has(snap)) cb();
    else this.#retired.set(snap, cb);
  }
}
