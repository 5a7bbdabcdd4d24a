import type { TargetEntity, UpstreamEntity } from '../config/types.js';
import { checksEnabled } from './health.js';
import { applyRamp, slowStartMs } from './slow-start.js';
import { recordLatency, Latency } from './latency.js';
import { LeastConnections } from './least-connections.js';
import type { BalancerRegistry } from './registry.js';
import { ConsistentHash } from './ring.js';
import { RoundRobin } from './round-robin.js';
import { stateOf, type TargetState } from './target.js';
import {
  usable,
  type Algorithm,
  type Balancer,
  type Excluded,
  type HealthName,
  type Outcome,
  type Peer,
  type Slot,
  type TargetHealth,
} from './types.js';
import type { UpstreamState } from './upstream.js';

interface CompiledTarget {
  readonly entity: TargetEntity;
  readonly state: TargetState;
}

/**
 * Compiles the balancer of one upstream for one snapshot. Runtime state (health, connections, latency, DNS) comes
 * from `registry`, which starts resolving and checking targets it did not have yet. Each address of a name gets the
 * target's full weight, as Kong does with A records: a name with two addresses draws twice the share of one IP.
 */
export function compileBalancer(
  upstream: UpstreamEntity,
  targets: TargetEntity[],
  registry: BalancerRegistry,
): Balancer {
  const st = registry.attach(upstream, targets);
  return new CompiledBalancer(upstream, targets, st);
}

function algorithmOf(u: UpstreamEntity): Algorithm {
  switch (u.algorithm) {
    case 'least-connections':
      return new LeastConnections();
    case 'latency':
      return new Latency();
    case 'consistent-hashing':
      return new ConsistentHash(u.slots, u.hash_on === 'ip' || (u.hash_on !== 'none' && u.hash_fallback === 'ip'));
    default:
      return new RoundRobin();
  }
}

class CompiledBalancer implements Balancer {
  readonly upstreamId: string;
  readonly upstreamName: string;
  readonly targetIds: readonly string[];
  readonly #up: UpstreamState;
  readonly #targets: readonly CompiledTarget[];
  readonly #algo: Algorithm;
  readonly #threshold: number;
  readonly #checks: boolean;
  /** slow start in ms (tag kong-ts.slow_start), 0 when off; consistent hashing keeps its table and never ramps */
  readonly #slowMs: number;
  /** the upstream's rampVersion when no slot was ramping any more: until it moves, picks skip the ramp */
  #rampIdleAt = -1;
  #slots: Slot[] = [];
  /** the address arrays the slots were built from (a target's array is replaced whenever its addresses change) */
  #builtFrom: readonly unknown[] = [];
  #builtAt = -1;
  #judgedAt = -1;
  #thresholdOk = true;

  constructor(u: UpstreamEntity, targets: TargetEntity[], st: UpstreamState) {
    this.upstreamId = u.id;
    this.upstreamName = u.name;
    this.targetIds = Object.freeze(targets.map((t) => t.id));
    this.#up = st;
    this.#targets = targets.map((entity) => ({ entity, state: st.targets.get(entity.id)! }));
    this.#algo = algorithmOf(u);
    this.#threshold = u.healthchecks.threshold;
    this.#checks = checksEnabled(u.healthchecks);
    this.#slowMs = u.algorithm === 'consistent-hashing' && u.hash_on === 'ip' ? 0 : slowStartMs(u.tags);
    this.#rebuild();
  }

  pick(clientIp: string, exclude?: Excluded): Peer | undefined {
    if (this.#builtAt !== this.#up.addrVersion) this.#refresh();
    if (this.#threshold > 0 && !this.#aboveThreshold()) return undefined;
    if (this.#slowMs > 0 && this.#rampIdleAt !== this.#up.rampVersion) {
      const version = this.#up.rampVersion;
      if (!applyRamp(this.#slots, this.#slowMs, performance.now())) this.#rampIdleAt = version;
    }
    return this.#algo.pick(this.#slots, clientIp, exclude)?.peer;
  }

  report(peer: Peer, outcome: Outcome, connectMs?: number): void {
    const ps = stateOf(peer);
    if (ps === undefined || ps.gone) return;
    // a refused connect is fast and says nothing about latency; a timeout's duration does
    if (connectMs !== undefined && outcome !== 'failed') recordLatency(ps, connectMs, performance.now());
    this.#up.passive(ps, outcome === 'ok' ? 'success' : outcome === 'failed' ? 'tcp_failure' : 'timeout');
  }

  connected(peer: Peer): void {
    const ps = stateOf(peer);
    if (ps) ps.connections++;
  }

  released(peer: Peer): void {
    const ps = stateOf(peer);
    if (ps && ps.connections > 0) ps.connections--;
  }

  setHealth(targetOrAddress: string, healthy: boolean): boolean {
    return this.#up.setHealth(targetOrAddress, healthy);
  }

  /** `health()` with each address's open proxied connections (the dashboard). */
  healthWithConnections(): TargetHealth[] {
    const rows = this.health();
    rows.forEach((row, i) => {
      const states = this.#targets[i]!.state.addresses;
      row.addresses.forEach((a, j) => {
        a.connections = states[j]?.connections ?? 0;
      });
    });
    return rows;
  }

  health(): TargetHealth[] {
    return this.#targets.map(({ entity, state }) => {
      const addresses = state.addresses.map((ps): TargetHealth['addresses'][number] => ({
        ip: ps.peer.ip,
        port: ps.peer.port,
        health: ps.healthy ? (this.#checks ? 'HEALTHY' : 'HEALTHCHECKS_OFF') : 'UNHEALTHY',
      }));
      let health: HealthName;
      if (addresses.length === 0) health = 'DNS_ERROR';
      else if (addresses.some((a) => a.health === 'HEALTHY')) health = 'HEALTHY';
      else if (addresses.some((a) => a.health === 'HEALTHCHECKS_OFF')) health = 'HEALTHCHECKS_OFF';
      else health = 'UNHEALTHY';
      return { target: entity.target, id: entity.id, weight: entity.weight, addresses, health };
    });
  }

  healthy(): boolean {
    if (this.#builtAt !== this.#up.addrVersion) this.#refresh();
    if (this.#threshold > 0 && !this.#aboveThreshold()) return false;
    for (const s of this.#slots) if (usable(s, undefined)) return true;
    return false;
  }

  ready(): Promise<void> {
    return Promise.all(this.#targets.map((t) => t.state.ready)).then(() => undefined);
  }

  /** Kong's threshold: the healthy share of the total weight, in percent, must reach `healthchecks.threshold`. */
  #aboveThreshold(): boolean {
    if (this.#judgedAt === this.#up.healthVersion) return this.#thresholdOk;
    let total = 0;
    let healthy = 0;
    for (const s of this.#slots) {
      total += s.weight;
      if (s.state.healthy) healthy += s.weight;
    }
    this.#thresholdOk = total > 0 && (healthy * 100) / total >= this.#threshold;
    this.#judgedAt = this.#up.healthVersion;
    return this.#thresholdOk;
  }

  /** Another target of the upstream changed: rebuild only if one of ours did (a hash ring can take 100+ ms). */
  #refresh(): void {
    const built = this.#builtFrom;
    const same = this.#targets.every((t, i) => t.state.addresses === built[i]);
    if (!same) this.#rebuild();
    this.#builtAt = this.#up.addrVersion;
    this.#judgedAt = -1;
  }

  #rebuild(): void {
    this.#builtFrom = this.#targets.map((t) => t.state.addresses);
    const slots: Slot[] = [];
    for (const { entity, state } of this.#targets) {
      for (const ps of state.addresses)
        slots.push({ peer: ps.peer, state: ps, weight: entity.weight, eff: entity.weight, current: 0 });
    }
    this.#slots = slots;
    this.#rampIdleAt = -1;
    this.#algo.rebuild(slots);
    this.#builtAt = this.#up.addrVersion;
    this.#judgedAt = -1;
  }
}
