import { silentLogger, type Logger } from '../log.js';
import type { TargetEntity, UpstreamEntity } from '../config/types.js';
import { systemResolver, type Resolver } from './dns.js';
import type { Balancer } from './types.js';
import { UpstreamState } from './upstream.js';

export interface RegistryOptions {
  logger?: Logger;
  /** defaults to the system resolver (A + AAAA with TTLs, then getaddrinfo) */
  resolver?: Resolver;
  /** seconds, default 1: a name is never re-resolved more often, whatever its TTL (0 included) */
  minTtl?: number;
  /** seconds, default 1: how soon a name that failed to resolve is tried again */
  errorTtl?: number;
}

/**
 * Balancer state that outlives snapshots, keyed by upstream id, target id and address: health and check counters,
 * connection counts, latency averages, DNS answers, active checkers. A recompiled balancer re-attaches to it, so a
 * kept target keeps its health; `retain` drops what a new snapshot no longer has.
 */
export class BalancerRegistry {
  readonly #upstreams = new Map<string, UpstreamState>();
  readonly #opts: { resolver: Resolver; minTtl: number; errorTtl: number; log: Logger };
  #closed = false;

  constructor(opts: RegistryOptions = {}) {
    this.#opts = {
      resolver: opts.resolver ?? systemResolver(),
      minTtl: opts.minTtl ?? 1,
      errorTtl: opts.errorTtl ?? 1,
      log: opts.logger ?? silentLogger,
    };
  }

  /**
   * Used by compileBalancer: the runtime state of an upstream, created or updated with these targets. It only adds
   * (a snapshot being built may still be thrown away); removal waits for `retain`.
   */
  attach(upstream: UpstreamEntity, targets: readonly TargetEntity[]): UpstreamState {
    if (this.#closed) throw new Error('BalancerRegistry is closed');
    let st = this.#upstreams.get(upstream.id);
    if (!st) {
      st = new UpstreamState(upstream, this.#opts);
      this.#upstreams.set(upstream.id, st);
    }
    st.configure(upstream, upstream.healthchecks);
    for (const t of targets) st.ensureTarget(t);
    st.markAttached();
    st.latestTargetIds = new Set(targets.map((t) => t.id));
    return st;
  }

  /**
   * Call after swapping in a snapshot: stops the checkers and DNS timers of upstreams and targets it no longer has.
   * An upstream id keeps the targets of the balancer compiled last for it; passing the Balancer itself keeps exactly
   * its targets (safer when a compiled snapshot may have been abandoned).
   */
  retain(live: Iterable<string | Balancer>): void {
    const keep = new Map<string, ReadonlySet<string> | undefined>();
    for (const x of live) {
      if (typeof x === 'string') keep.set(x, undefined);
      else keep.set(x.upstreamId, new Set(x.targetIds));
    }
    for (const [id, st] of this.#upstreams) {
      if (!keep.has(id)) {
        st.close();
        this.#upstreams.delete(id);
        continue;
      }
      st.retainTargets(keep.get(id) ?? st.latestTargetIds);
    }
  }

  /** Stops every timer and probe; the registry cannot be used afterwards. */
  close(): void {
    this.#closed = true;
    for (const st of this.#upstreams.values()) st.close();
    this.#upstreams.clear();
  }
}
