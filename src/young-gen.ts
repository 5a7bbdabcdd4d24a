/**
 * The size of V8's young generation while a process proxies.
 *
 * V8 doubles the young generation (two semi-spaces, up to 16 MiB each on 64-bit) when many objects survive its
 * scavenges, and keeps the doubled space committed and touched. A burst of long-lived connections is exactly that
 * (every Session and socket survives): 4,000 idle connections grew it from 16 to 32 MiB on top of their own objects
 * (about 11 MiB live). Before the config load moved to its own thread, the load had grown the main heap at start,
 * so that cost was paid before the first connection and did not show per connection (kib_per_idle_conn 6 then, 9
 * after the move, 7.9 with this hold).
 *
 * A serving process (`holdYoungGeneration`) keeps the young generation at the size start left it, except while a
 * config load runs: the load thread's heap and the main thread's sliced build allocate a lot and get to grow it
 * (`whileLoading`). The growth factor is the one V8 knob read at each growth rather than at heap setup (the
 * semi-space limits are fixed when the heap is made). It is process-wide (every isolate, the load thread's too),
 * hence growth allowed during loads; and starting a Worker sets V8's flags again (seen on Node 20), which is why the
 * hold is applied again at the end of every load (the load thread starts within one).
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
