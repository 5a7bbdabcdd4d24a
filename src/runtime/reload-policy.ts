import { tagValue } from '../config/kong-ts-tags.js';
import { affectedAmong, type ConfigIndex, type ReloadChange } from './affected-routes.js';
import type { Logger } from '../log.js';
import type { ReloadPolicy } from '../settings/settings.js';

/**
 * An open session as the reload policy sees it: a TCP connection (proxy/session.ts) or a UDP session
 * (udp/session.ts). `abort` ends it with closed_by `reload`: a TCP connection is cut both ways; a UDP session, which
 * has no stream to close, ends with its record and its client's next datagram starts a new session on the new
 * snapshot (the route as it is now).
 */
export interface OpenSession {
  readonly route: { readonly id: string };
  /** the snapshot the session was accepted with (a UDP session: the one of its first datagram) */
  readonly snap: object;
  abort(by: string): void;
}

export interface PolicyOutcome {
  kept: number;
  drained: number;
  closed: number;
}

/** A snapshot as the policy sees it: its generation, its entities by id, and what its build found changed. */
export interface PolicySnapshot {
  readonly generation: number;
  readonly index: ConfigIndex;
  readonly changes?: ReloadChange;
}

/** At most this many route ids are remembered over recent reloads (older reloads are then forgotten). */
const REMEMBERED_IDS = 200_000;

/**
 * The routes each recent reload removed or changed (worked out while its snapshot was built, in slices), so that a
 * session accepted several reloads ago is asked about only the routes those reloads touched, never about the whole
 * file at the swap. A reload whose build could not tell (no fingerprints) starts the record over.
 */
export class ReloadChanges {
  readonly #byGeneration = new Map<number, ReadonlyMap<string, unknown>>();
  #ids = 0;

  note(snap: PolicySnapshot): void {
    const c = snap.changes;
    if (!c || c.from !== snap.generation - 1) {
      this.#byGeneration.clear();
      this.#ids = 0;
      return;
    }
    this.#byGeneration.set(snap.generation, c.affected);
    this.#ids += c.affected.size;
    for (const [g, m] of this.#byGeneration) {
      if (this.#ids <= REMEMBERED_IDS || g === snap.generation) break;
      this.#byGeneration.delete(g);
      this.#ids -= m.size;
    }
  }

  /** The route ids touched by the reloads after generation `from` up to `to`; undefined when one is not known. */
  touched(from: number, to: number): Set<string> | undefined {
    const out = new Set<string>();
    for (let g = from + 1; g <= to; g++) {
      const m = this.#byGeneration.get(g);
      if (!m) return undefined;
      for (const id of m.keys()) out.add(id);
    }
    return out;
  }
}

/**
 * What a reload does to open sessions whose route it removed or changed (`affectedRoutes`, the same rule
 * `kong-ts config plan` shows): `keep` them (Kong's behaviour), `drain` them (closed after `drainMs`), or `close`
 * them at once. The route's `kong-ts.reload` tag (in the new file, or in the session's own file when the route is
 * gone) overrides the setting. Sessions of untouched routes are never affected. UDP sessions follow the same rule:
 * `keep` lets them run until they go idle, `drain` ends those still open after `drainMs` (one that went idle first
 * has already ended), `close` ends them now.
 */
export function applyReloadPolicy(
  sessions: Iterable<OpenSession>,
  next: PolicySnapshot,
  snapOf: (snap: object) => PolicySnapshot | undefined,
  opts: { policy: ReloadPolicy; drainMs: number; logger: Logger; changes: ReloadChanges },
): PolicyOutcome {
  const out: PolicyOutcome = { kept: 0, drained: 0, closed: 0 };
  const perSnap = new Map<object, ReadonlyMap<string, 'removed' | 'changed'>>();
  const toDrain: OpenSession[] = [];
  for (const s of sessions) {
    const old = snapOf(s.snap);
    if (!old || old.generation === next.generation) continue;
    let affected = perSnap.get(s.snap);
    if (!affected) {
      // asked of the routes the reloads since the session's snapshot touched (all of them when that is not known)
      affected =
        next.changes?.from === old.generation
          ? next.changes.affected
          : affectedAmong(
              old.index,
              next.index,
              opts.changes.touched(old.generation, next.generation) ?? old.index.routes.keys(),
            );
      perSnap.set(s.snap, affected);
    }
    if (!affected.has(s.route.id)) continue;
    const tags = next.index.routes.get(s.route.id)?.tags ?? old.index.routes.get(s.route.id)?.tags;
    const policy = (tagValue(tags, 'reload') as ReloadPolicy | undefined) ?? opts.policy;
    if (policy === 'close') {
      s.abort('reload');
      out.closed++;
    } else if (policy === 'drain') {
      toDrain.push(s);
      out.drained++;
    } else {
      out.kept++;
    }
  }
  if (toDrain.length > 0) {
    // one timer for the whole reload, not one per session
    setTimeout(() => {
      for (const s of toDrain) s.abort('reload');
    }, opts.drainMs).unref();
  }
  return out;
}
