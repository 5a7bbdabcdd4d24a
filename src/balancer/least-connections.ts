import { usable, type Algorithm, type Excluded, type Slot } from './types.js';

/**
 * Kong's least-connections: the peer with the lowest `(connections + 1) / weight` wins. The scan starts one slot
 * further at every pick so that equal scores take turns instead of piling onto the first slot.
 */
export class LeastConnections implements Algorithm {
  #start = 0;

  rebuild(_slots: readonly Slot[]): void {
    this.#start = 0;
  }

  pick(slots: readonly Slot[], _clientIp: string, exclude: Excluded | undefined): Slot | undefined {
    const n = slots.length;
    if (n === 0) return undefined;
    const start = (this.#start = (this.#start + 1) % n);
    let best: Slot | undefined;
    let bestScore = Infinity;
    for (let k = 0; k < n; k++) {
      const s = slots[(start + k) % n]!;
      if (!usable(s, exclude)) continue;
      const score = (s.state.connections + 1) / s.eff;
      if (score < bestScore) {
        best = s;
        bestScore = score;
      }
    }
    return best;
  }
}
