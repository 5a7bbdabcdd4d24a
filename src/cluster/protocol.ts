/**
 * The messages between the primary and its workers (nginx_worker_processes > 1), over the cluster IPC channel
 * with `serialization: 'advanced'` (structured clone: metric values may be Infinity, which JSON would lose).
 * Every message carries `kts` so it is never mistaken for another library's cluster traffic.
 */
import type { TargetHealth } from '../balancer/types.js';
import type { ReloadTrigger } from '../config/manager.js';
import type { Totals } from '../metrics/totals.js';
import type { PolicyOutcome } from '../runtime/reload-policy.js';
import type { Settings } from '../settings/settings.js';
import type { CertPair } from '../tls/default-cert.js';

/**
 * A configuration the primary has checked and compiled. Its load thread wrote the normalized config to `checked`
 * (a file in the prefix, named by its hash); a worker's own load thread reads it without checking it again and the
 * worker builds its snapshot from it in slices, with exactly this generation so that every worker is on the
 * primary's numbering. Nothing large crosses the IPC channel or any event loop.
 */
export interface ConfigPush {
  /** the normalized config's JSON file */
  checked: string;
  file: string;
  generation: number;
  hash: string;
  trigger: ReloadTrigger;
}

export interface Connections {
  accepted: number;
  active: number;
  handled: number;
}

/** What a worker reports about itself on request (`/status`, `/sessions`, `/metrics` on the primary). */
export interface WorkerReport {
  pid: number;
  generation: number;
  hash: string;
  connections: Connections;
  udpSessions: number;
  sessionsByRoute: Record<string, number>;
  rssBytes: number;
  /** prom-client `getMetricsAsJSON()` of the worker's registry, when asked for */
  metrics?: object[];
  /** session, byte and connection totals (the dashboard's rate charts) */
  totals?: Totals;
  /** per upstream id, its targets' health and open connections in this worker, when asked for (the dashboard) */
  targets?: Record<string, TargetHealth[]>;
}

export type ToWorker =
  | { kts: 'init'; settings: Settings; strict: boolean; defaultCert: CertPair; config: ConfigPush; udp: boolean }
  | { kts: 'config'; config: ConfigPush }
  | { kts: 'report'; id: number; metrics: boolean; targets?: boolean }
  | { kts: 'stop'; graceMs: number }
  | { kts: 'reopen' };

export type FromWorker =
  /** the worker listens for messages: the primary may send `init` */
  | { kts: 'ready' }
  | { kts: 'started'; generation: number; hash: string; addresses: { host: string; port: number; udp?: boolean }[] }
  | { kts: 'start-failed'; message: string; user: boolean }
  /** `sessions`: what the reload policy did to this worker's open sessions */
  | { kts: 'swapped'; generation: number; hash: string; sessions?: PolicyOutcome }
  | { kts: 'load-failed'; generation: number; message: string }
  | { kts: 'report'; id: number; report: WorkerReport };

export function isFromWorker(m: unknown): m is FromWorker {
  return typeof m === 'object' && m !== null && typeof (m as { kts?: unknown }).kts === 'string';
}

export function isToWorker(m: unknown): m is ToWorker {
  return typeof m === 'object' && m !== null && typeof (m as { kts?: unknown }).kts === 'string';
}
