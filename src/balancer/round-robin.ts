import { usable, type Algorithm, type Excluded, type Slot } from './types.js';

/**
 * nginx's smooth weighted round-robin (ngx_http_upstream_get_peer): every pick adds each usable peer's weight to its
 * running weight, takes the largest and subtracts the total from it. Weights 5:1:1 give a a b a c a a, never a
 * burst of five. Unusable peers are left out of the round, so their share goes to the others.
 */
export class RoundRobin implements Algorithm {
  rebuild(slots: readonly Slot[]): void {
    for (const s of slots) s.current = 0;
  }

  pick(slots: readonly Slot[], _clientIp: string, exclude: Excluded | undefined): Slot | undefined {
    return pickSmooth(slots, exclude);
  }
}

/** One round of smooth weighted round-robin over the usable slots (also the fallback of consistent hashing). */
export function pickSmooth(slots: readonly Slot[], exclude: Excluded | undefined): Slot | undefined {
  let best: Slot | undefined;
  let total = 0;
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i]!;
    if (!usable(s, exclude)) continue;
    s.current += s.eff;
    total += s.eff;
    if (best === undefined || s.current > best.current) best = s;
  }
  if (best !== undefined) best.current -= total;
  return best;
}
