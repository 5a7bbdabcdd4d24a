import { isIP } from 'node:net';
import type { Logger } from '../log.js';
import type { TargetEntity } from '../config/types.js';
import type { Resolver } from './dns.js';
import type { Peer, PeerState } from './types.js';

const states = new WeakMap<Peer, PeerState>();

/** The runtime state behind a peer handed out by a balancer (undefined for a peer object made elsewhere). */
export function stateOf(peer: Peer): PeerState | undefined {
  return states.get(peer);
}

/** Splits Kong's `host:port` (`[v6]:port` for IPv6); the port defaults to 8000 like Kong's. */
export function parseTarget(target: string): { host: string; port: number } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(target);
  if (v6) return { host: v6[1]!, port: v6[2] ? Number(v6[2]) : 8000 };
  if (isIP(target) === 6) return { host: target, port: 8000 };
  const colon = target.lastIndexOf(':');
  if (colon < 0) return { host: target, port: 8000 };
  return { host: target.slice(0, colon), port: Number(target.slice(colon + 1)) };
}

/** What a target needs from its upstream. */
export interface TargetOwner {
  readonly resolver: Resolver;
  /** seconds: the shortest time between two resolutions of a name (a TTL of 0 means this) */
  readonly minTtl: number;
  /** seconds before a name that failed to resolve is tried again */
  readonly errorTtl: number;
  readonly log: Logger;
  /** the address set of a target changed; `added` are new addresses (healthy, to be checked at once) */
  addressesChanged(target: TargetState, added: PeerState[]): void;
}

/**
 * One target at runtime: its addresses (one for an IP, every A and AAAA record of a name) with their health
 * state. A name is re-resolved in the background when its shortest TTL runs out; an address that stays keeps its
 * state. A name that stops resolving loses its addresses (Kong's DNS_ERROR: never picked) until it resolves again.
 */
export class TargetState {
  readonly id: string;
  readonly target: string;
  readonly host: string;
  readonly port: number;
  /** sorted by address so that DNS answers in a new order change nothing */
  addresses: PeerState[] = [];
  dnsError: string | undefined;
  readonly ready: Promise<void>;
  readonly #owner: TargetOwner;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(entity: TargetEntity, owner: TargetOwner) {
    this.id = entity.id;
    this.target = entity.target;
    const { host, port } = parseTarget(entity.target);
    this.host = host;
    this.port = port;
    this.#owner = owner;
    if (isIP(host) !== 0) {
      this.#apply([host]);
      this.ready = Promise.resolve();
    } else {
      this.ready = this.#resolve();
    }
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const ps of this.addresses) ps.gone = true;
  }

  async #resolve(): Promise<void> {
    let delay: number;
    try {
      const found = await this.#owner.resolver.resolve(this.host);
      if (this.#closed) return;
      if (found.length === 0) throw Object.assign(new Error('no address'), { code: 'ENODATA' });
      const ttl = Math.min(...found.map((f) => f.ttl));
      delay = Math.max(this.#owner.minTtl, Number.isFinite(ttl) ? ttl : 0);
      if (this.dnsError !== undefined) {
        this.#owner.log.info({ target: this.target }, 'target name resolves again');
        this.dnsError = undefined;
      }
      this.#apply(found.map((f) => f.address));
    } catch (err) {
      if (this.#closed) return;
      delay = this.#owner.errorTtl;
      const code = (err as { code?: string }).code ?? String(err);
      if (this.dnsError === undefined) {
        // logged once per outage, not at every retry
        this.#owner.log.warn({ target: this.target, code }, 'target name does not resolve: DNS_ERROR, not picked');
      }
      this.dnsError = code;
      this.#apply([]);
    }
    this.#timer = setTimeout(() => void this.#resolve(), delay * 1000);
    this.#timer.unref();
  }

  #apply(ips: string[]): void {
    const wanted = [...new Set(ips)].sort();
    const old = this.addresses;
    if (wanted.length === old.length && wanted.every((ip, i) => old[i]!.peer.ip === ip)) return;
    const byIp = new Map(old.map((ps) => [ps.peer.ip, ps]));
    const added: PeerState[] = [];
    this.addresses = wanted.map((ip) => {
      const kept = byIp.get(ip);
      if (kept) {
        byIp.delete(ip);
        return kept;
      }
      const ps = newPeerState(ip, this.port, this.host, this.id);
      added.push(ps);
      return ps;
    });
    for (const ps of byIp.values()) ps.gone = true;
    this.#owner.addressesChanged(this, added);
  }
}

function newPeerState(ip: string, port: number, hostname: string, targetId: string): PeerState {
  const peer: Peer = Object.freeze({ ip, port, hostname, targetId });
  const ps: PeerState = {
    peer,
    key: isIP(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`,
    healthy: true,
    successes: 0,
    tcpFailures: 0,
    timeouts: 0,
    httpFailures: 0,
    connections: 0,
    ewma: 0,
    measured: false,
    ewmaAt: 0,
    probing: false,
    rampStart: 0,
    gone: false,
  };
  states.set(peer, ps);
  return ps;
}
