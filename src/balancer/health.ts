import type { Socket } from 'node:net';
import type { HealthchecksConfig } from '../config/types.js';
import { httpProbe } from './probe-http.js';
import { tcpProbe, type Probe, type TcpCheck } from './probe-tcp.js';
import type { CheckResult, PeerState } from './types.js';

/** How many consecutive results flip a peer; 0 means that counter never trips. */
export interface Limits {
  successes: number;
  tcpFailures: number;
  timeouts: number;
  httpFailures: number;
}

export function activeLimits(hc: HealthchecksConfig): Limits {
  const a = hc.active;
  return {
    successes: a.healthy.successes,
    tcpFailures: a.unhealthy.tcp_failures,
    timeouts: a.unhealthy.timeouts,
    httpFailures: a.unhealthy.http_failures ?? 0,
  };
}

export function passiveLimits(hc: HealthchecksConfig): Limits {
  const p = hc.passive;
  return {
    successes: p.healthy.successes,
    tcpFailures: p.unhealthy.tcp_failures,
    timeouts: p.unhealthy.timeouts,
    httpFailures: 0,
  };
}

/** The probe of an active configuration: http and https as Kong's; tcp, grpc and grpcs a connect (tcp with send/expect). */
export function probeFor(active: HealthchecksConfig['active'], tcpCheck: TcpCheck | undefined): Probe {
  if (active.type === 'http' || active.type === 'https') return httpProbe(active, active.type === 'https');
  return tcpProbe(active.type === 'tcp' ? tcpCheck : undefined);
}

/** Whether any check (active or passive) can change a peer's health: Kong's HEALTHCHECKS_OFF otherwise. */
export function checksEnabled(hc: HealthchecksConfig): boolean {
  const a = hc.active;
  const p = hc.passive;
  return (
    a.healthy.interval > 0 ||
    a.unhealthy.interval > 0 ||
    p.healthy.successes > 0 ||
    p.unhealthy.tcp_failures > 0 ||
    p.unhealthy.timeouts > 0
  );
}

/**
 * Counts one result the way lua-resty-healthcheck does: a success clears the failure counters, a failure clears the
 * success counter (the two kinds of failure count apart). Returns the health the peer must flip to, if any.
 */
export function countResult(ps: PeerState, result: CheckResult, limits: Limits): boolean | undefined {
  if (result === 'success') {
    ps.successes++;
    ps.tcpFailures = 0;
    ps.timeouts = 0;
    ps.httpFailures = 0;
    return !ps.healthy && limits.successes > 0 && ps.successes >= limits.successes ? true : undefined;
  }
  ps.successes = 0;
  if (result === 'tcp_failure') {
    ps.tcpFailures++;
    return ps.healthy && limits.tcpFailures > 0 && ps.tcpFailures >= limits.tcpFailures ? false : undefined;
  }
  if (result === 'http_failure') {
    ps.httpFailures++;
    return ps.healthy && limits.httpFailures > 0 && ps.httpFailures >= limits.httpFailures ? false : undefined;
  }
  ps.timeouts++;
  return ps.healthy && limits.timeouts > 0 && ps.timeouts >= limits.timeouts ? false : undefined;
}

/** What an ActiveChecker needs from the upstream it checks. */
export interface CheckHost {
  /** every live address of the upstream */
  peers(): Iterable<PeerState>;
  result(ps: PeerState, result: CheckResult): void;
}

/**
 * Active checks of one upstream: healthy peers every `healthy.interval` s, unhealthy ones every
 * `unhealthy.interval` s, with the probe of `type` (probe-http.ts, probe-tcp.ts) and its `timeout`, at most
 * `concurrency` probes at once. Timers and probe sockets are unref()ed so they never keep the process alive.
 */
export class ActiveChecker {
  readonly #host: CheckHost;
  #timers: NodeJS.Timeout[] = [];
  #active: HealthchecksConfig['active'] | undefined;
  #key = '';
  #probe: Probe | undefined;
  #queue: PeerState[] = [];
  #sockets = new Set<Socket>();
  #stopped = false;

  constructor(host: CheckHost) {
    this.#host = host;
  }

  get enabled(): boolean {
    return this.#active !== undefined;
  }

  /** Starts, restarts or stops the timers for a (new) configuration; unchanged settings keep the running timers. */
  configure(active: HealthchecksConfig['active'], tcpCheck?: TcpCheck): void {
    const on = active.healthy.interval > 0 || active.unhealthy.interval > 0;
    const key = JSON.stringify([active, tcpCheck?.send?.toString('hex'), tcpCheck?.expect?.toString('hex')]);
    if (on && this.#active && this.#key === key) return;
    this.#clearTimers();
    this.#dropQueue();
    this.#active = on ? structuredClone(active) : undefined;
    this.#key = key;
    this.#probe = on ? probeFor(active, tcpCheck) : undefined;
    if (!on) return;
    this.#every(active.healthy.interval, true);
    this.#every(active.unhealthy.interval, false);
  }

  /** Probes one peer now (a new address is checked at once rather than at the next tick). */
  probeNow(ps: PeerState): void {
    if (this.#active === undefined || this.#stopped || ps.probing || ps.gone) return;
    ps.probing = true;
    this.#queue.push(ps);
    this.#pump();
  }

  stop(): void {
    this.#stopped = true;
    this.#clearTimers();
    this.#dropQueue();
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
  }

  #every(seconds: number, healthy: boolean): void {
    if (!(seconds > 0)) return;
    const t = setInterval(() => this.#tick(healthy), seconds * 1000);
    t.unref();
    this.#timers.push(t);
  }

  #clearTimers(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
  }

  #dropQueue(): void {
    for (const ps of this.#queue) ps.probing = false;
    this.#queue.length = 0;
  }

  #tick(healthy: boolean): void {
    for (const ps of this.#host.peers()) if (ps.healthy === healthy) this.probeNow(ps);
  }

  #pump(): void {
    const active = this.#active;
    if (active === undefined) return;
    const limit = Math.max(1, active.concurrency);
    while (this.#sockets.size < limit && this.#queue.length > 0) this.#run(this.#queue.shift()!, active.timeout);
  }

  #run(ps: PeerState, timeoutSeconds: number): void {
    let socket: Socket | undefined = undefined;
    socket = this.#probe!(ps.peer, timeoutSeconds * 1000, (result) => {
      if (socket) this.#sockets.delete(socket);
      ps.probing = false;
      if (this.#stopped || ps.gone) return;
      if (result !== undefined) this.#host.result(ps, result);
      this.#pump();
    });
    this.#sockets.add(socket);
  }
}
