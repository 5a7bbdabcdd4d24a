/**
 * The primary of a cluster (nginx_worker_processes > 1). It owns everything that must happen once: it loads and
 * checks the declarative file (a bad file is refused before any worker starts, and a bad reload reaches none),
 * claims the prefix (the pid file holds its pid), serves the admin API and watches the file. The stream
 * listeners are the workers'; the primary hands them every configuration it accepted and replaces those that die.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { AdminServer as AdminServerType } from '../admin/server.js';
import { AdminServer } from '../admin/server.js';
import type { ConfigManager, ReloadTrigger } from '../config/manager.js';
import { ConfigWatcher } from '../config/watch.js';
import { KongTsError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { Metrics } from '../metrics/metrics.js';
import { addTotals, type Totals } from '../metrics/totals.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Snapshot } from '../runtime/snapshot.js';
import { combineTargets, listenerRows } from '../runtime/status-rows.js';
import type { Settings } from '../settings/settings.js';
import { claimPrefix, releasePrefix } from '../process/pidfile.js';
import { handleSignals, loadFirst, openCore, shownSettings, warnTlsDetect } from '../process/serve.js';
import { nodeId, readDefaultCert } from '../process/node.js';
import { clusterMetricsText } from './metrics.js';
import type { ConfigPush, WorkerReport } from './protocol.js';
import { Supervisor } from './supervisor.js';

/** A running cluster primary. */
export interface ClusterInstance {
  manager: ConfigManager<Snapshot>;
  runtime: Runtime;
  supervisor: Supervisor;
  admin?: AdminServerType;
  logger: Logger;
  stop(reason: string, graceMs?: number): Promise<void>;
}

function sumConnections(reports: Iterable<WorkerReport>): { accepted: number; active: number; handled: number } {
  const c = { accepted: 0, active: 0, handled: 0 };
  for (const r of reports) {
    c.accepted += r.connections.accepted;
    c.active += r.connections.active;
    c.handled += r.connections.handled;
  }
  return c;
}

function sumByRoute(reports: Iterable<WorkerReport>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of reports) for (const [id, n] of Object.entries(r.sessionsByRoute)) out[id] = (out[id] ?? 0) + n;
  return out;
}

/**
 * Starts kong-ts as a primary with `settings.workerProcesses` workers. Resolves once every worker serves; rejects,
 * leaving no worker and no pid file behind, when the file is invalid or a worker cannot start (a port taken).
 */
export async function startCluster(
  settings: Settings,
  opts: { strict?: boolean; logger?: Logger; signals?: boolean } = {},
): Promise<ClusterInstance> {
  const logger = opts.logger ?? createLogger({ level: settings.logLevel, file: settings.errorLog });
  const file = settings.declarativeConfig;
  if (!file)
    throw new KongTsError('KTS_SETTINGS_INVALID', ['declarative_config'], {
      detail: "no declarative file: run 'kong-ts start -c kong.yml', or set declarative_config in kong.conf",
    });
  // the workers export the process and session series; the primary only the configuration ones. The file is
  // compiled here too, so that a plugin config or a certificate that fails to compile is refused before any worker sees it
  // the load thread writes each good config, normalized, into the prefix: the workers build from it unchecked
  const checkedDir = join(settings.prefix, 'checked');
  mkdirSync(checkedDir, { recursive: true });
  const core = await openCore(settings, file, {
    logger,
    strict: opts.strict,
    defaultCert: readDefaultCert(settings),
    metrics: new Metrics(),
    checkedDir,
  });
  const { runtime, manager } = core;
  await loadFirst(core, file);
  warnTlsDetect(settings, core, logger);
  if (settings.streamListen.length === 0)
    logger.warn("stream_listen is 'off': no stream traffic will be served (set KONG_STREAM_LISTEN or stream_listen)");
  claimPrefix(settings.prefix);

  // what started the load being swapped in; a swap none of ours started came from POST /config
  let trigger: ReloadTrigger = 'start';
  const push = (snap: Snapshot, t: ReloadTrigger): ConfigPush => ({
    checked: manager.checkedPath!,
    file: snap.file,
    generation: snap.generation,
    hash: snap.hash,
    trigger: t,
  });
  // the checked files of the last few configs stay (a worker may still be on its way to one); older ones go
  const kept: string[] = [manager.checkedPath!];
  const keep = (path: string | undefined) => {
    if (!path || kept.includes(path)) return;
    kept.push(path);
    while (kept.length > 4) rmSync(kept.shift()!, { force: true });
  };
  const supervisor = new Supervisor({
    count: settings.workerProcesses,
    settings,
    strict: opts.strict ?? false,
    defaultCert: runtime.defaultCert,
    logger,
    current: () => push(manager.current!, 'start'),
    // what the reload policy did in each worker, summed into the dashboard's reload history
    onSwapped: (generation, sessions) => {
      if (sessions) core.reloads.notePolicy(generation, sessions);
    },
  });
  manager.onSwap((snap, previous) => {
    runtime.registry.retain(snap.balancers.values());
    if (previous && previous.plugins !== snap.plugins) void previous.plugins.close(); // no session ever runs in the primary
    keep(manager.checkedPath);
    supervisor.broadcast(push(snap, trigger));
    trigger = 'admin';
  });
  const reload = (t: ReloadTrigger, text?: string) => {
    trigger = t;
    void (text === undefined ? manager.reloadFile(t) : manager.reloadText(text, file, t));
  };

  let admin: AdminServer | undefined;
  let watcher: ConfigWatcher | undefined;
  let started: Awaited<ReturnType<typeof supervisor.start>>;
  try {
    started = await supervisor.start();
    if (settings.adminListen.length) {
      admin = new AdminServer({
        listeners: settings.adminListen,
        token: settings.adminToken,
        logger,
        state: {
          manager,
          runtime,
          nodeId: nodeId(settings.prefix),
          startedAt: Date.now(),
          connections: async () => sumConnections((await supervisor.reports(false)).values()),
          sessionsByRoute: async () => sumByRoute((await supervisor.reports(false)).values()),
          settings: shownSettings(settings),
          cluster: {
            status: async () => {
              const workers = await supervisor.status();
              const c = { accepted: 0, active: 0, handled: 0 };
              for (const w of workers) {
                c.accepted += w.connections_accepted ?? 0;
                c.active += w.connections_active ?? 0;
                c.handled += w.connections_handled ?? 0;
              }
              return { workers, connections: c };
            },
            metricsText: async () =>
              clusterMetricsText(
                runtime.metrics,
                [...(await supervisor.reports(true)).values()].map((r) => r.metrics ?? []),
              ),
            pids: () => supervisor.pids(),
          },
          dashboard: {
            reloads: core.reloads,
            listeners: () => listenerRows(settings.streamListen, started!.addresses),
            totals: async () => {
              const t: Totals = { accepted: 0, bytes_in: 0, bytes_out: 0, statuses: {} };
              for (const r of (await supervisor.reports(false)).values()) if (r.totals) addTotals(t, r.totals);
              return t;
            },
            targets: async () =>
              combineTargets([...(await supervisor.reports(false, true)).values()].map((r) => r.targets)),
          },
        },
      });
      await admin.listen();
    }
    if (settings.watch) {
      watcher = new ConfigWatcher({
        file,
        logger,
        debounceMs: settings.reloadDebounce,
        maxBytes: settings.configMaxBytes,
        onContent: () => reload('file'),
      });
      await watcher.start();
    }
  } catch (err) {
    await supervisor.stop(0);
    await admin?.close();
    runtime.registry.close();
    releasePrefix(settings.prefix);
    throw err;
  }

  let stopping: Promise<void> | undefined;
  const stop = (reason: string, graceMs = 0): Promise<void> => {
    stopping ??= (async () => {
      logger.info({ reason, workers: supervisor.pids() }, 'kong-ts stopping');
      await watcher?.close();
      await admin?.close();
      await supervisor.stop(graceMs);
      await manager.current?.plugins.close();
      await manager.close();
      runtime.registry.close();
      releasePrefix(settings.prefix);
      logger.info({ reason }, 'kong-ts stopped');
    })();
    return stopping;
  };

  if (opts.signals !== false) {
    handleSignals(settings.prefix, logger, {
      stop,
      reload: () => reload('signal'),
      reopen: () => supervisor.reopenLogs(),
    });
  }
  logger.info(
    {
      stream_listen: started.addresses,
      admin_listen: admin?.addresses() ?? 'off',
      prefix: settings.prefix,
      hash: manager.current!.hash,
      pid: process.pid,
      workers: supervisor.pids(),
    },
    'kong-ts started',
  );
  return { manager, runtime, supervisor, admin, logger, stop };
}
