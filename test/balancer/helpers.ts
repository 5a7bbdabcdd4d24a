import { createServer, type AddressInfo, type Server } from 'node:net';
import type { HealthchecksConfig, TargetEntity, UpstreamEntity } from '../../src/config/types.js';
import type { ResolvedAddress, Resolver } from '../../src/balancer/dns.js';

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

/** Kong's healthchecks defaults: every check off. */
export function healthchecks(over: DeepPartial<HealthchecksConfig> = {}): HealthchecksConfig {
  return {
    threshold: over.threshold ?? 0,
    active: {
      type: over.active?.type ?? 'tcp',
      timeout: over.active?.timeout ?? 1,
      concurrency: over.active?.concurrency ?? 10,
      healthy: { interval: 0, successes: 0, ...over.active?.healthy },
      unhealthy: { interval: 0, tcp_failures: 0, timeouts: 0, ...over.active?.unhealthy },
    },
    passive: {
      type: over.passive?.type ?? 'tcp',
      healthy: { successes: 0, ...over.passive?.healthy },
      unhealthy: { tcp_failures: 0, timeouts: 0, ...over.passive?.unhealthy },
    },
  };
}

export function upstream(
  over: Partial<Omit<UpstreamEntity, 'healthchecks'>> & { healthchecks?: DeepPartial<HealthchecksConfig> } = {},
): UpstreamEntity {
  const { healthchecks: hc, ...rest } = over;
  return {
    id: 'u-1',
    name: 'backends',
    algorithm: 'round-robin',
    hash_on: 'none',
    hash_fallback: 'none',
    slots: 10000,
    tags: [],
    ...rest,
    healthchecks: healthchecks(hc),
  };
}

/** Targets from `host:port` strings with weights; ids are the target strings so tests read easily. */
export function targets(spec: Record<string, number>, upstreamId = 'u-1'): TargetEntity[] {
  return Object.entries(spec).map(([target, weight]) => ({
    id: 't-' + target,
    target,
    weight,
    upstream: upstreamId,
    tags: [],
  }));
}

/** A resolver whose answers the test changes; `calls` counts resolutions per name. */
export class FakeResolver implements Resolver {
  answers = new Map<string, ResolvedAddress[] | Error>();
  calls = new Map<string, number>();

  set(host: string, answer: ResolvedAddress[] | Error): void {
    this.answers.set(host, answer);
  }

  async resolve(host: string): Promise<ResolvedAddress[]> {
    this.calls.set(host, (this.calls.get(host) ?? 0) + 1);
    const a = this.answers.get(host);
    if (a === undefined) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    if (a instanceof Error) throw a;
    return a;
  }
}

/** A TCP server on 127.0.0.1 that accepts and closes; `port` stays the same across stop()/start(). */
export class Backend {
  #server: Server | undefined;
  port = 0;
  accepted = 0;

  async start(): Promise<this> {
    const server = createServer((s) => {
      this.accepted++;
      s.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
    return this;
  }

  async stop(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

/** Polls `cond` every 10 ms; resolves with the time it took, rejects after `ms`. */
export async function waitFor(cond: () => boolean, ms: number, what = 'condition'): Promise<number> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - start;
}

/** A port on 127.0.0.1 with nothing listening (bound, then released). */
export async function closedPort(): Promise<number> {
  const b = await new Backend().start();
  await b.stop();
  return b.port;
}
