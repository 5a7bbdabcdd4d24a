import type { Logger } from '../log.js';
import type { HealthchecksConfig, TargetEntity, UpstreamEntity } from '../config/types.js';
import type { Resolver } from './dns.js';
import { ActiveChecker, activeLimits, countResult, passiveLimits, type Limits } from './health.js';
import { TargetState, type TargetOwner } from './target.js';
import type { CheckResult, PeerState } from './types.js';
import type { TcpCheck } from './probe-tcp.js';
import { tagValue } from '../config/kong-ts-tags.js';
import { decodeEscapes } from '../config/escapes.js';
import { slowStartMs } from './slow-start.js';

/** The send/expect of tags `kong-ts.healthcheck.send` / `.expect` (checked when the file was loaded). */
export function tcpCheckOf(tags: readonly string[] | undefined): TcpCheck | undefined {
  const bytes = (name: string): Buffer | undefined => {
    const v = tagValue(tags, name);
    const b = v === undefined ? undefined : decodeEscapes(v);
    return Buffer.isBuffer(b) && b.length > 0 ? b : undefined;
  };
  const send = bytes('healthcheck.send');
  const expect = bytes('healthcheck.expect');
  return send || expect ? { send, expect } : undefined;
}

export interface UpstreamOptions {
  resolver: Resolver;
  minTtl: number;
  errorTtl: number;
  log: Logger;
}

/**
 * The runtime side of one upstream, shared by every balancer compiled for it: targets with their addresses and
 * health, the active checker. `addrVersion` and `healthVersion` tell balancers when their tables or their
 * threshold verdict are stale, so they rebuild lazily and never subscribe (an old snapshot leaks nothing).
 */
export class UpstreamState implements TargetOwner {
  readonly id: string;
  name: string;
  readonly targets = new Map<string, TargetState>();
  /** target ids of the balancer compiled last: what `retain(upstreamId)` keeps */
  latestTargetIds: ReadonlySet<string> = new Set();
  addrVersion = 0;
  healthVersion = 0;
  /** moves whenever a peer starts a slow-start ramp (balancers then apply ramps again) */
  rampVersion = 0;
  /** ms of slow start (tag kong-ts.slow_start), 0 when off */
  slowStartMs = 0;
  /** false until the first compile's targets are in: those start at full weight */
  #attached = false;
  readonly resolver: Resolver;
  readonly minTtl: number;
  readonly errorTtl: number;
  log: Logger;
  readonly #baseLog: Logger;
  readonly #checker: ActiveChecker;
  #active!: Limits;
  #passive!: Limits;
  #warnedType = false;

  constructor(upstream: UpstreamEntity, opts: UpstreamOptions) {
    this.id = upstream.id;
    this.name = upstream.name;
    this.resolver = opts.resolver;
    this.minTtl = opts.minTtl;
    this.errorTtl = opts.errorTtl;
    this.#baseLog = opts.log;
    this.log = opts.log.child({ upstream: upstream.name });
    this.#checker = new ActiveChecker({
      peers: () => this.#peers(),
      result: (ps, r) => this.result(ps, r, this.#active),
    });
  }

  /** Takes the settings of a (re)compiled upstream; unchanged active settings keep their timers. */
  configure(upstream: UpstreamEntity, hc: HealthchecksConfig): void {
    if (upstream.name !== this.name) {
      this.name = upstream.name;
      this.log = this.#baseLog.child({ upstream: upstream.name });
    }
    this.slowStartMs = slowStartMs(upstream.tags);
    this.#active = activeLimits(hc);
    this.#passive = passiveLimits(hc);
    const a = hc.active;
    if (
      (a.type === 'grpc' || a.type === 'grpcs') &&
      (a.healthy.interval > 0 || a.unhealthy.interval > 0) &&
      !this.#warnedType
    ) {
      this.#warnedType = true;
      this.log.warn({ type: a.type }, 'active grpc health checks of a stream upstream are TCP connects');
    }
    this.#checker.configure(a, tcpCheckOf(upstream.tags));
  }

  /** The state of a target, created (healthy, checked at once) when the upstream did not have it yet. */
  ensureTarget(entity: TargetEntity): TargetState {
    const have = this.targets.get(entity.id);
    if (have && have.target === entity.target) return have;
    have?.close();
    const t = new TargetState(entity, this);
    this.targets.set(entity.id, t);
    this.addrVersion++;
    return t;
  }

  /** Stops and forgets the targets not in `keep`. */
  retainTargets(keep: ReadonlySet<string>): void {
    for (const [id, t] of this.targets) {
      if (keep.has(id)) continue;
      t.close();
      this.targets.delete(id);
      this.addrVersion++;
      this.healthVersion++;
    }
  }

  addressesChanged(_target: TargetState, added: PeerState[]): void {
    this.addrVersion++;
    this.healthVersion++;
    if (this.#attached) for (const ps of added) this.#ramp(ps);
    for (const ps of added) this.#checker.probeNow(ps);
  }

  /** The first compile of this upstream is in: targets added from now on ramp up under slow start. */
  markAttached(): void {
    this.#attached = true;
  }

  #ramp(ps: PeerState): void {
    if (this.slowStartMs <= 0) return;
    ps.rampStart = performance.now();
    this.rampVersion++;
  }

  /** A passive check result (from a balancer's report). */
  passive(ps: PeerState, result: CheckResult): void {
    this.result(ps, result, this.#passive);
  }

  result(ps: PeerState, result: CheckResult, limits: Limits): void {
    if (ps.gone) return;
    const flip = countResult(ps, result, limits);
    if (flip !== undefined) this.setPeerHealth(ps, flip, result);
  }

  setPeerHealth(ps: PeerState, healthy: boolean, reason: string): void {
    ps.successes = 0;
    ps.tcpFailures = 0;
    ps.timeouts = 0;
    ps.httpFailures = 0;
    if (ps.healthy === healthy) return;
    ps.healthy = healthy;
    this.healthVersion++;
    if (healthy) this.#ramp(ps);
    const t = this.targets.get(ps.peer.targetId);
    const fields = { target: t?.target ?? ps.peer.hostname, address: ps.key, reason };
    if (healthy) this.log.info(fields, 'target address is healthy');
    else this.log.warn(fields, 'target address is unhealthy');
  }

  /** Manual override by target id, `host:port`, `ip:port` or `ip`; false when nothing matched. */
  setHealth(key: string, healthy: boolean): boolean {
    let found = false;
    for (const t of this.targets.values()) {
      const whole = t.id === key || t.target === key;
      for (const ps of t.addresses) {
        if (whole || ps.key === key || ps.peer.ip === key) {
          found = true;
          this.setPeerHealth(ps, healthy, 'manual');
        }
      }
      if (whole) found = true;
    }
    return found;
  }

  close(): void {
    this.#checker.stop();
    for (const t of this.targets.values()) t.close();
    this.targets.clear();
  }

  *#peers(): Iterable<PeerState> {
    for (const t of this.targets.values()) yield* t.addresses;
  }
}
