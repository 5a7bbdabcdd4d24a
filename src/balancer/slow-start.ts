import { durationSeconds, tagValue } from '../config/kong-ts-tags.js';
import type { Slot } from './types.js';

/** The smallest share of its weight a ramping peer gets (a weight of exactly 0 would mean "never picked"). */
const MIN_SHARE = 0.01;

/** ms of the upstream's `kong-ts.slow_start=DURATION` tag; 0 when it has none. */
export function slowStartMs(tags: readonly string[] | undefined): number {
  const v = tagValue(tags, 'slow_start');
  return v === undefined ? 0 : Math.round(durationSeconds(v) * 1000);
}

/**
 * Slow start (HAProxy's `slowstart`): a peer that turned healthy or was added at `rampStart` gets its weight
 * linearly from 1% to 100% over `ms`. Runs before each pick of a balancer with slow start, O(slots) like the pick
 * itself; returns whether some peer is still ramping (false: the caller may stop calling until a peer starts one).
 */
export function applyRamp(slots: readonly Slot[], ms: number, now: number): boolean {
  let ramping = false;
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i]!;
    const start = s.state.rampStart;
    const age = now - start;
    if (start > 0 && age < ms) {
      s.eff = s.weight * Math.max(MIN_SHARE, age / ms);
      ramping = true;
    } else {
      s.eff = s.weight;
    }
  }
  return ramping;
}
