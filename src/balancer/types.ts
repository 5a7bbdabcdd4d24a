/** One address of a target, as the data path connects to it. The same object is returned for as long as the
 * target and its address live, across recompiles, so it can be compared by identity (retry exclusion). */
export interface Peer {
  readonly ip: string;
  readonly port: number;
  /** the target's host as written (a name or an IP): the SNI to send for upstream TLS */
  readonly hostname: string;
  readonly targetId: string;
}

export type Outcome = 'ok' | 'failed' | 'timeout';

/** What one active health probe concluded (health.ts counts it, probe-tcp.ts and probe-http.ts give it). */
export type CheckResult = 'success' | 'tcp_failure' | 'timeout' | 'http_failure';

export type HealthName = 'HEALTHY' | 'UNHEALTHY' | 'DNS_ERROR' | 'HEALTHCHECKS_OFF';

/** What the admin API shows for one target (`GET /upstreams/{u}/health`). */
export interface TargetHealth {
  /** `host:port` as in the file */
  target: string;
  id: string;
  weight: number;
  /** `connections`: proxied connections open to the address now (in this process) */
  addresses: { ip: string; port: number; health: HealthName; connections?: number }[];
  health: HealthName;
}

/** Peers a connection has already tried: retries move on to another one. */
export type Excluded = ReadonlySet<Peer> | readonly Peer[];

/**
 * The compiled balancer of one upstream in one snapshot. Its tables are built at compile time (and again only when
 * DNS changes an address set); health, connection counts and latency live in the BalancerRegistry and outlive it.
 */
export interface Balancer {
  readonly upstreamId: string;
  readonly upstreamName: string;
  /** ids of the targets this balancer was compiled with */
  readonly targetIds: readonly string[];
  /** A healthy peer for this client, or undefined when none is (or the threshold rule trips). Never waits for DNS. */
  pick(clientIp: string, exclude?: Excluded): Peer | undefined;
  /** Outcome of a connect attempt: feeds passive health checks and, with connectMs, the latency average. */
  report(peer: Peer, outcome: Outcome, connectMs?: number): void;
  /** A proxied connection to this peer opened / closed (least-connections). */
  connected(peer: Peer): void;
  released(peer: Peer): void;
  /** Manual override by target id, target (`host:port`), or address (`ip:port` or `ip`); false if nothing matched. */
  setHealth(targetOrAddress: string, healthy: boolean): boolean;
  health(): TargetHealth[];
  /** `health()` with each address's open proxied connections (the dashboard); absent on test doubles */
  healthWithConnections?(): TargetHealth[];
  /** true when some peer can be picked and the healthy share of weight reaches `healthchecks.threshold` */
  healthy(): boolean;
  /** Settles when every name target has had its first DNS answer (or error): await it before swapping in. */
  ready(): Promise<void>;
}

/** Runtime state of one address, owned by the registry. Mutable on purpose. */
export interface PeerState {
  readonly peer: Peer;
  readonly key: string;
  healthy: boolean;
  /** consecutive results, shared by active and passive checks like lua-resty-healthcheck does */
  successes: number;
  tcpFailures: number;
  timeouts: number;
  httpFailures: number;
  connections: number;
  /** connect time EWMA in ms; `measured` false until the first sample */
  ewma: number;
  measured: boolean;
  ewmaAt: number;
  probing: boolean;
  /** performance.now() when slow start began for it (turned healthy, or added); 0 when not ramping */
  rampStart: number;
  /** set when its target or address is gone: late reports are ignored */
  gone: boolean;
}

/** One row of a compiled balancer's table: a peer with the weight of its target in this snapshot. */
export interface Slot {
  readonly peer: Peer;
  readonly state: PeerState;
  readonly weight: number;
  /** the weight the algorithms use: `weight`, or less while the peer ramps up under slow start (slow-start.ts) */
  eff: number;
  /** smooth weighted round-robin's running weight */
  current: number;
}

/** A picking strategy over a balancer's slots; `rebuild` runs when the slot list changes, never per pick. */
export interface Algorithm {
  rebuild(slots: readonly Slot[]): void;
  pick(slots: readonly Slot[], clientIp: string, exclude: Excluded | undefined): Slot | undefined;
}

/** A slot that may be picked: weight above 0, healthy, not tried yet by this connection. */
export function usable(slot: Slot, exclude: Excluded | undefined): boolean {
  if (slot.weight <= 0 || !slot.state.healthy) return false;
  if (exclude === undefined) return true;
  return !(Array.isArray(exclude) ? exclude.includes(slot.peer) : (exclude as ReadonlySet<Peer>).has(slot.peer));
}
