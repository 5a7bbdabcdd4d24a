/**
 * The recent sessions of this process: a fixed ring of the last `capacity` sessions' routing tuples (addresses,
 * protocol, SNI, the route and service that took them, status), never any payload. `GET /sessions/recent` serves
 * it and `config plan --admin` replays it against a new file. Adding is one slot write.
 */
import type { SessionRecord } from './record.js';

/** Sessions kept (documented in README and docs/gitops.md). */
export const RECENT_SESSIONS = 10_000;

/** One remembered session: the field names of the JSON access log, so both replay alike. */
export interface RecentSession {
  started_at: number;
  protocol: string;
  client_ip: string;
  client_port: number;
  server_ip: string | null;
  server_port: number;
  sni: string | null;
  route_id: string | null;
  route_name: string | null;
  service_id: string | null;
  service_name: string | null;
  status: number;
}

export class RecentSessions {
  readonly #ring: (RecentSession | undefined)[];
  #next = 0;
  /** sessions added since start (more than the ring holds once it wrapped) */
  seen = 0;

  constructor(readonly capacity: number = RECENT_SESSIONS) {
    this.#ring = new Array<RecentSession | undefined>(capacity);
  }

  add(r: SessionRecord): void {
    if (this.capacity === 0) return;
    this.#ring[this.#next] = {
      started_at: r.started_at,
      protocol: r.protocol,
      client_ip: r.client_ip,
      client_port: r.client_port,
      server_ip: r.server_ip ?? null,
      server_port: r.session.server_port,
      sni: r.session.tls?.sni ?? null,
      route_id: r.route?.id ?? null,
      route_name: r.route?.name ?? null,
      service_id: r.service?.id ?? null,
      service_name: r.service?.name ?? null,
      status: r.session.status,
    };
    this.#next = (this.#next + 1) % this.capacity;
    this.seen++;
  }

  /** Oldest first. */
  list(): RecentSession[] {
    const out: RecentSession[] = [];
    for (let i = 0; i < this.capacity; i++) {
      const s = this.#ring[(this.#next + i) % this.capacity];
      if (s) out.push(s);
    }
    return out;
  }
}
