import { connect, type Socket } from 'node:net';
import type { HealthchecksConfig } from '../config/types.js';
import type { PeerState } from './types.js';

export type CheckResult = 'success' | 'tcp_failure' | 'timeout';

/** How many consecutive results flip a peer; 0 means that counter never trips. */
export interface Limits {
  successes: number;
  tcpFailures: number;
  timeouts: number;
}

export function activeLimits(hc: HealthchecksConfig): Limits {
  const a = hc.active;
  return { successes: a.healthy.successes, tcpFailures: a.unhealthy.tcp_failures, timeouts: a.unhealthy.timeouts };
}

export function passiveLimits(hc: HealthchecksConfig): Limits {
  const p = hc.passive;
  return { successes: p.healthy.successes, tcpFailures: p.unhealthy.tcp_failures, timeouts: p.unhealthy.timeouts };
}

/** Whether any check (active or passive) can change a peer's health: Kong's HEALTHCHECKS_OFF otherwise. */
export function checksEnabled(hc: HealthchecksConfig): boolean {
  const a = hc.active;
  const p = hc.passive;
  return a.healthy.interval > 0 || a.unhealthy.interval > 0 || p.healthy.successes > 0
    || p.unhealthy.tcp_failures > 0 || p.unhealthy.timeouts > 0;
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
    return !ps.healthy && limits.successes > 0 && ps.successes >= limits.successes ? true : undefined;
  }
  ps.successes = 0;
  if (result === 'tcp_failure') {
    ps.tcpFailures++;
    return ps.healthy && limits.tcpFailures > 0 && ps.tcpFailures >= limits.tcpFailures ? false : undefined;
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
 * Active TCP checks of one upstream: healthy peers every `healthy.interval` s, unhealthy ones every
 * `unhealthy.interval` s, a connect within `timeout` s counting as a success, at most `concurrency` probes at once.
 * Kong's other active types (http, https, grpc) are probed with the same TCP connect: a stream proxy has no
 * request to send. Timers and probe sockets are unref()ed so they never keep the process alive.
 */
export class ActiveChecker {
  readonly #host: CheckHost;
  #timers: NodeJS.Timeout[] = [];
  #active: HealthchecksConfig['active'] | undefined;
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
  configure(active: HealthchecksConfig['active']): void {
    const on = active.healthy.interval > 0 || active.unhealthy.interval > 0;
    if (on && this.#active && JSON.stringify(this.#active) === JSON.stringify(active)) return;
    this.#clearTimers();
    this.#dropQueue();
    this.#active = on ? structuredClone(active) : undefined;
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
    while (this.#sockets.size < limit && this.#queue.length > 0) this.#probe(this.#queue.shift()!, active.timeout);
  }

  #probe(ps: PeerState, timeoutSeconds: number): void {
    const socket = connect({ host: ps.peer.ip, port: ps.peer.port });
    this.#sockets.add(socket);
    socket.unref();
    socket.setTimeout(Math.max(1, timeoutSeconds * 1000));
    let done = false;
    const finish = (result: CheckResult): void => {
      if (done) return;
      done = true;
      socket.destroy();
      this.#sockets.delete(socket);
      ps.probing = false;
      if (this.#stopped || ps.gone) return;
      this.#host.result(ps, result);
      this.#pump();
    };
    socket.once('connect', () => finish('success'));
    socket.once('timeout', () => finish('timeout'));
    socket.once('error', () => finish('tcp_failure'));
  }
}
