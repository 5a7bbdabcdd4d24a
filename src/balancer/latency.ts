import { usable, type Algorithm, type Excluded, type PeerState, type Slot } from './types.js';

/** How fast old samples fade: after this many ms a sample weighs 1/e (Kong's ewma balancer uses 10 s too). */
export const EWMA_DECAY_MS = 10_000;
const MIN_SAMPLE_WEIGHT = 0.1;

/**
 * Kong's latency algorithm: the lowest EWMA of connect time divided by weight wins. A peer never measured scores
 * below every measured one, so each new peer is tried once before the averages decide; equal scores take turns.
 */
export class Latency implements Algorithm {
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
      const score = s.state.measured ? s.state.ewma / s.eff : -1;
      if (score < bestScore) {
        best = s;
        bestScore = score;
      }
    }
    return best;
  }
}

/**
 * Folds one connect time into a peer's EWMA, weighting the old average by how recent it is. Each sample counts for
 * at least MIN_SAMPLE_WEIGHT: with time decay alone a burst of connects in the same millisecond would not move it.
 */
export function recordLatency(state: PeerState, ms: number, now: number): void {
  if (!state.measured) {
    state.ewma = ms;
    state.measured = true;
  } else {
    const w = Math.min(1 - MIN_SAMPLE_WEIGHT, Math.exp(-Math.max(0, now - state.ewmaAt) / EWMA_DECAY_MS));
    state.ewma = state.ewma * w + ms * (1 - w);
  }
  state.ewmaAt = now;
}
