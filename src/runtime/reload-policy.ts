import { tagValue } from '../config/kong-ts-tags.js';
import type { DeclarativeConfig, RouteEntity } from '../config/types.js';
import { affectedRoutes } from './affected-routes.js';
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

/** The config swapped in, with what its build worked out (runtime/builder.ts), when it did. */
export interface NextConfig {
  config: DeclarativeConfig;
  routeById?: ReadonlyMap<string, RouteEntity>;
  changes?: { from: DeclarativeConfig; affected: ReadonlyMap<string, 'removed' | 'changed'> };
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
  next: NextConfig,
  configOf: (snap: object) => DeclarativeConfig | undefined,
  opts: { policy: ReloadPolicy; drainMs: number; logger: Logger },
): PolicyOutcome {
  const out: PolicyOutcome = { kept: 0, drained: 0, closed: 0 };
  const perSnap = new Map<object, ReadonlyMap<string, 'removed' | 'changed'>>();
  let newRoutes = next.routeById;
  const toDrain: OpenSession[] = [];
  for (const s of sessions) {
    const old = configOf(s.snap);
    if (!old || old === next.config) continue;
    let affected = perSnap.get(s.snap);
    if (!affected) {
      // worked out while the snapshot was built (in slices) when the session's config is the one it replaced
      affected = next.changes?.from === old ? next.changes.affected : affectedRoutes(old, next.config);
      perSnap.set(s.snap, affected);
    }
    if (!affected.has(s.route.id)) continue;
    newRoutes ??= new Map(next.config.routes.map((r) => [r.id, r]));
    const tags = newRoutes.get(s.route.id)?.tags ?? old.routes.find((r) => r.id === s.route.id)?.tags;
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
