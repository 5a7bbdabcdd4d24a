/**
 * The size of V8's young generation while a process proxies.
 *
 * V8 doubles the young generation (two semi-spaces, up to 16 MiB each on 64-bit) when many objects survive its
 * scavenges, and keeps the doubled space committed and touched. A burst of long-lived connections is exactly that
 * (every Session and socket survives), so the first thousands of idle connections paid a one-time 16 MiB on top of
 * their own objects (kib_per_idle_conn 9 at 4,000 connections, of which about 4 was this growth). Before the config
 * load moved to its own thread, the load grew the main heap at start, so the growth was paid before the first
 * connection and did not show per connection.
 *
 * A serving process (`holdYoungGeneration`) keeps the young generation at the size start left it, except while a
 * config load runs: the load thread's heap and the main thread's sliced build allocate a lot and get to grow it
 * (`whileLoading`). The growth factor is the one V8 knob read at each growth rather than at heap setup, and it is
 * process-wide (every isolate, the load thread's too), hence growth allowed during loads.
 */
import { setFlagsFromString } from 'node:v8';

const GROW = '--semi-space-growth-factor=2'; // V8's default
const HOLD = '--semi-space-growth-factor=1';

let holding = false;
let loads = 0;

function apply(): void {
  setFlagsFromString(holding && loads === 0 ? HOLD : GROW);
}

/** From now on, the young generation grows only while a config load runs (a process that serves connections). */
export function holdYoungGeneration(): void {
  if (holding) return;
  holding = true;
  apply();
}

/** Runs `fn` (a config load and build) with the young generation free to grow. */
export async function whileLoading<T>(fn: () => Promise<T>): Promise<T> {
  loads++;
  if (loads === 1 && holding) apply();
  try {
    return await fn();
  } finally {
    loads--;
    if (loads === 0 && holding) apply();
  }
}

/** True when the young generation is held now (tests). */
export function youngGenerationHeld(): boolean {
  return holding && loads === 0;
}
