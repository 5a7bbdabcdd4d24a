import { fnv1a, mix32 } from './hash.js';
import { pickSmooth } from './round-robin.js';
import { usable, type Algorithm, type Excluded, type Slot } from './types.js';

/**
 * Consistent hashing over a table of `slots` entries (Kong's `slots`). Each entry belongs to the peer with the best
 * weighted rendezvous score for it (score = weight / -ln(u), u a hash of peer and entry). A peer's scores do not
 * depend on the other peers, so removing a target hands over only the entries it owned and every other client
 * stays where it was; shares follow the weights. A client's entry is fnv1a(ip) mod slots; when its owner cannot be
 * used (unhealthy, or already tried) the next entries are walked, which spreads that owner's clients over the others.
 * Without a key (hash_on none, or no client address) it falls back to smooth weighted round-robin.
 */
export class ConsistentHash implements Algorithm {
  readonly #size: number;
  readonly #hashIp: boolean;
  #table: Uint32Array;

  constructor(slots: number, hashIp: boolean) {
    this.#size = Math.max(1, slots | 0);
    this.#hashIp = hashIp;
    this.#table = new Uint32Array(0);
  }

  rebuild(slots: readonly Slot[]): void {
    for (const s of slots) s.current = 0;
    const size = this.#size;
    const table = new Uint32Array(size);
    const seeds = slots.map((s) => fnv1a(`${s.peer.ip}:${s.peer.port}`));
    for (let e = 0; e < size; e++) {
      const salt = mix32(e + 0x9e3779b9);
      let best = 0;
      let bestScore = -1;
      for (let i = 0; i < slots.length; i++) {
        const w = slots[i]!.weight;
        if (w <= 0) continue;
        const u = (mix32(seeds[i]! ^ salt) + 0.5) / 4294967296;
        const score = w / -Math.log(u);
        if (score > bestScore) {
          bestScore = score;
          best = i;
        }
      }
      table[e] = best;
    }
    this.#table = table;
  }

  pick(slots: readonly Slot[], clientIp: string, exclude: Excluded | undefined): Slot | undefined {
    if (!this.#hashIp || clientIp === '' || slots.length === 0) return pickSmooth(slots, exclude);
    const table = this.#table;
    const size = table.length;
    const at = fnv1a(clientIp) % size;
    const first = slots[table[at]!]!;
    if (usable(first, exclude)) return first;
    if (!anyUsable(slots, exclude)) return undefined;
    for (let k = 1; k < size; k++) {
      const s = slots[table[(at + k) % size]!]!;
      if (usable(s, exclude)) return s;
    }
    // a peer of tiny weight may own no entry at all
    return pickSmooth(slots, exclude);
  }
}

function anyUsable(slots: readonly Slot[], exclude: Excluded | undefined): boolean {
  for (let i = 0; i < slots.length; i++) if (usable(slots[i]!, exclude)) return true;
  return false;
}
