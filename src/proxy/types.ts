import type { Router } from '../router/types.js';

/**
 * What the stream server needs from a configuration snapshot (the lead's full `Snapshot` is a superset).
 * A connection reads it once, at accept, and keeps it for its whole life.
 */
export interface ProxySnapshot {
  readonly generation: number;
  readonly router: Router;
}
