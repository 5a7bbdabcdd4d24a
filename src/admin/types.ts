/**
 * The types the admin API's parts share (the server, its route files, the dashboard), in a file that imports none
 * of them, so the parts depend on it and not on each other.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TargetHealth } from '../balancer/types.js';
import type { ConfigManager } from '../config/manager.js';
import type { RecentSession } from '../proxy/recent.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Snapshot } from '../runtime/snapshot.js';
import type { Totals } from '../metrics/totals.js';
import type { ReloadHistory } from '../runtime/reload-history.js';
import type { ListenerRow } from '../runtime/status-rows.js';

/** What the admin API reads of the running proxy. */
export interface AdminState {
  manager: ConfigManager<Snapshot>;
  runtime: Runtime;
  nodeId: string;
  startedAt: number;
  /** counters of the stream server */
  connections: () =>
    | { accepted: number; active: number; handled: number }
    | Promise<{ accepted: number; active: number; handled: number }>;
  /** open sessions per route id (`GET /sessions`) */
  sessionsByRoute: () => Record<string, number> | Promise<Record<string, number>>;
  /** the ring of recent session tuples (`GET /sessions/recent`); absent on a cluster primary */
  recentSessions?: () => RecentExport;
  settings: Record<string, unknown>;
  /** set on a cluster primary (nginx_worker_processes > 1): the workers' state and combined metrics */
  cluster?: {
    status(): Promise<{ workers: unknown[]; connections: { accepted: number; active: number; handled: number } }>;
    metricsText: () => Promise<string>;
    pids(): number[];
  };
  /** what the dashboard (`GET /dashboard`) reads beyond the above; it falls back to this process's own state */
  dashboard?: DashboardSources;
}

/** `params` holds the `:name` segments of the route pattern, decoded. */
export type Handler = (
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  params: Record<string, string>,
) => void | Promise<void>;

/** `GET /sessions/recent`: the ring's size, how many sessions it has seen, its tuples oldest first. */
export interface RecentExport {
  capacity: number;
  seen: number;
  data: RecentSession[];
}

/** What the dashboard reads beyond AdminState; start.ts and cluster/primary.ts fill it. */
export interface DashboardSources {
  reloads: ReloadHistory;
  /** the stream listeners as bound (real ports), one row each */
  listeners(): ListenerRow[];
  /** counters since start for the rate charts (a cluster primary sums its workers') */
  totals: () => Promise<Totals>;
  /** per upstream id, its targets' health and open connections (a cluster primary combines its workers'); the live balancers' by default */
  targets?(): Promise<Record<string, TargetHealth[]>>;
}
