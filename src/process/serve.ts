/**
 * The pieces every kong-ts process assembles the same way, whether it serves alone (start.ts), as the primary of
 * workers (cluster/primary.ts) or as a worker (cluster/worker.ts): the runtime and config manager, the first load,
 * and the stream servers wired to the manager's swaps.
 */
import { dirname } from 'node:path';
import type { Resolver } from '../balancer/index.js';
import { ReloadHistory } from '../runtime/reload-history.js';
import { ConfigManager } from '../config/manager.js';
import { formatProblem } from '../config/problems.js';
import { KongTsError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { loadPlugins, pluginSchemas } from '../plugins/registry.js';
import { AccessLog } from '../proxy/access-log.js';
import type { SessionRecord } from '../proxy/record.js';
import { RecentSessions } from '../proxy/recent.js';
import { StreamServer } from '../proxy/stream-server.js';
import { Leases } from '../runtime/leases.js';
import { applyReloadPolicy, ReloadChanges } from '../runtime/reload-policy.js';
import { createRuntime, type Runtime } from '../runtime/runtime.js';
import { SnapshotBuilder } from '../runtime/builder.js';
import type { Snapshot, SnapshotInput } from '../runtime/snapshot.js';
import { tlsDetectWarnings } from '../runtime/tls-warnings.js';
import type { Settings } from '../settings/settings.js';
import type { CertPair } from '../tls/default-cert.js';
import { UdpServer } from '../udp/server.js';
import { fdLimit } from '../limits/accept-guard.js';
import { fdBudget } from '../limits/fd-budget.js';
import { quitTimeout } from './pidfile.js';
import { holdYoungGeneration } from '../young-gen.js';

export interface Core {
  runtime: Runtime;
  manager: ConfigManager<Snapshot>;
  /** the last reloads and what the reload policy did on each (the dashboard's history) */
  reloads: ReloadHistory;
}

/** Loads the plugin code, builds the runtime and a config manager for `file` (nothing is loaded yet). */
export async function openCore(
  settings: Settings,
  file: string,
  opts: {
    logger: Logger;
    strict?: boolean;
    defaultCert?: CertPair;
    metrics?: Metrics;
    resolver?: Resolver;
    /** adjusts what is compiled (a worker takes the primary's generation) */
    compileInput?: (input: SnapshotInput) => SnapshotInput;
    /** the cluster primary: where checked configs are written for the workers */
    checkedDir?: string;
  },
): Promise<Core> {
  let plugins;
  try {
    // paths from the current folder; npm names from plugins_path (default: the declarative file's folder) only
    plugins = await loadPlugins(settings.plugins, process.cwd(), settings.pluginsPath ?? dirname(file));
  } catch (err) {
    throw new KongTsError('KTS_SETTINGS_INVALID', ['plugins'], { detail: (err as Error).message, cause: err });
  }
  const runtime = createRuntime({
    logger: opts.logger,
    plugins,
    defaultCert: opts.defaultCert,
    metrics: opts.metrics,
    resolver: opts.resolver,
    router: { hostPorts: settings.hostPorts, exactSniFirst: settings.exactSniFirst },
  });
  const adjust = opts.compileInput ?? ((i: SnapshotInput) => i);
  const builder = new SnapshotBuilder(runtime, {
    streamListen: settings.streamListen,
    tlsDetect: settings.streamTlsDetect,
  });
  const manager = new ConfigManager<Snapshot>({
    file,
    logger: opts.logger,
    loadOptions: { strict: opts.strict, pluginSchemas: pluginSchemas(plugins) },
    compile: (input) => builder.build(adjust(input)),
    maxBytes: settings.configMaxBytes,
    loadHeapMb: settings.configLoadHeapMb,
    checkedDir: opts.checkedDir,
  });
  manager.onLoad((ok) => runtime.metrics.configLoaded(ok, ok ? manager.current : undefined));
  manager.onReload((e) => runtime.metrics.configReload(e));
  return { runtime, manager, reloads: new ReloadHistory(manager) };
}

/** The first load: refuses to go on, with every problem, when the file is not good. */
export async function loadFirst(
  core: Core,
  file: string,
  from?: { text: string } | { checked: string },
): Promise<Snapshot> {
  const m = core.manager;
  const first =
    from === undefined
      ? await m.reloadFile('start')
      : 'text' in from
        ? await m.reloadText(from.text, file, 'start')
        : await m.reloadChecked(from.checked, file, 'start');
  if (first.status === 'loaded') return first.snapshot;
  core.runtime.registry.close();
  await core.manager.close();
  const detail =
    first.status === 'invalid'
      ? '\n' + first.problems.map(formatProblem).join('\n')
      : first.status === 'unreadable'
        ? first.message
        : first.status;
  throw new KongTsError('KTS_CONFIG_INVALID', [file], { detail });
}

/**
 * Warns, for the live config and every one swapped in later, where a TLS route without destinations makes a plain
 * listener wait for the client's first bytes (`stream_tls_detect = auto`). Called where the admin API runs (once per
 * instance, not per worker).
 */
export function warnTlsDetect(settings: Settings, core: Core, logger: Logger): void {
  const warn = (snap: Snapshot): void => {
    const problems = tlsDetectWarnings(snap.router, snap.config, settings.streamListen, {
      mode: settings.streamTlsDetect,
      prereadMs: settings.prereadTimeout,
      found: snap.tlsListeners,
    });
    for (const p of problems) logger.warn({ problem: formatProblem(p) }, 'declarative config warning');
  };
  if (core.manager.current) warn(core.manager.current);
  core.manager.onSwap((snap) => warn(snap));
}

export interface Servers {
  stream: StreamServer;
  udp: UdpServer;
  accessLog?: AccessLog;
  /** the routing tuples of the last sessions (`GET /sessions/recent`) */
  recent: RecentSessions;
}

/**
 * The TCP and UDP servers of this process, on the live snapshot, following every swap: balancers retained, the reload
 * policy applied to open sessions (and logged), a retired snapshot's plugins closed after its last session.
 */
export function createServers(
  settings: Settings,
  core: Core,
  opts: {
    logger: Logger;
    udp?: boolean;
    onSessionEnd?: (r: SessionRecord) => void;
  },
): Servers {
  const { runtime, manager } = core;
  const logger = opts.logger;
  // idle connections do not pay for a young generation grown by their own burst (young-gen.ts)
  holdYoungGeneration();
  const accessLog =
    settings.accessLog === 'off'
      ? undefined
      : AccessLog.open(settings.accessLog.path, logger, settings.accessLog.format);
  const recent = new RecentSessions();
  const onEnd = (r: SessionRecord): void => {
    recent.add(r);
    opts.onSessionEnd?.(r);
  };
  const udpListeners = opts.udp === false ? [] : settings.streamListen.filter((l) => l.udp);
  const fds = fdBudget(fdLimit(), { udp: udpListeners.length > 0 });
  // one count of open sessions per snapshot for both servers: a snapshot's plugins close after its last TCP and UDP session
  const leases = new Leases();
  const stream = new StreamServer({
    listeners: settings.streamListen.filter((l) => !l.udp),
    logger,
    accessLog,
    metrics: runtime.metrics,
    prereadTimeout: settings.prereadTimeout,
    pluginDeadline: settings.pluginPrereadTimeout,
    onSessionEnd: onEnd,
    trustedIps: settings.trustedIps,
    maxConnections: settings.maxConnections,
    maxConnectionsPerIp: settings.maxConnectionsPerIp,
    connectionRatePerIp: settings.connectionRatePerIp,
    fdConnections: fds.tcp,
    fdLimit: fds.limit,
    leases,
  });
  const udp = new UdpServer({
    listeners: udpListeners,
    logger,
    fdSessions: fds.udp,
    fdLimit: fds.limit,
    pickPeer: (service, ip) => (service.balancer ? (service.balancer.pick(ip) ?? null) : undefined),
    pluginDeadline: settings.pluginPrereadTimeout,
    trustedIps: settings.trustedIps,
    accessLog,
    metrics: runtime.metrics,
    onSessionEnd: onEnd,
    leases,
  });
  const live = manager.current!;
  stream.swap(live);
  udp.swap(live);
  /** snapshots not yet retired, by the plugin chains they use */
  const users = new Map<object, number>([[live.plugins, 1]]);
  /** what recent reloads changed, for sessions older than the snapshot just replaced */
  const changes = new ReloadChanges();
  manager.onSwap((snap, previous) => {
    changes.note(snap);
    stream.swap(snap);
    udp.swap(snap);
    users.set(snap.plugins, (users.get(snap.plugins) ?? 0) + 1);
    runtime.registry.retain(snap.balancers.values());
    if (!previous) return;
    const open = [...stream.openSessions(), ...udp.openSessions()];
    const o = applyReloadPolicy(open, snap, (x) => x as Snapshot, {
      policy: settings.reloadPolicy,
      drainMs: settings.drainTimeout,
      logger,
      changes,
    });
    core.reloads.notePolicy(snap.generation, o);
    logger.info(
      { generation: snap.generation, open: stream.activeSessions + udp.activeSessions, ...o },
      `reload touched ${o.kept + o.drained + o.closed} open session(s) of removed or changed routes: ${o.kept} kept, ${o.drained} draining, ${o.closed} closed`,
    );
    // snapshots share their plugins when none changed: the instances are closed when the last of them is retired
    leases.retire(previous, () => {
      const left = (users.get(previous.plugins) ?? 1) - 1;
      if (left > 0) return void users.set(previous.plugins, left);
      users.delete(previous.plugins);
      void previous.plugins.close();
    });
  });
  return { stream, udp, accessLog, recent };
}

/** The settings the admin API shows (never the token). */
export function shownSettings(settings: Settings): Record<string, string> {
  return Object.fromEntries(
    Object.entries(settings.values)
      .filter(([k]) => k !== 'admin_token')
      .map(([k, v]) => [k, v.value]),
  );
}

/**
 * Kong's signals: SIGHUP reloads the declarative file, SIGTERM/SIGINT stop at once, SIGQUIT stops gracefully (the
 * grace `kong-ts quit -t` left in the prefix), SIGUSR1 reopens the access log.
 */
export function handleSignals(
  prefix: string,
  logger: Logger,
  on: {
    stop: (reason: string, graceMs: number) => Promise<void>;
    reload: () => void;
    reopen: () => void;
  },
): void {
  process.on('SIGHUP', on.reload);
  const exit = (reason: string, graceMs: number) =>
    void on.stop(reason, graceMs).finally(() => logger.flush(() => process.exit(0)));
  process.on('SIGTERM', () => exit('SIGTERM', 0));
  process.on('SIGINT', () => exit('SIGINT', 0));
  process.on('SIGQUIT', () => exit('SIGQUIT', quitTimeout(prefix)));
  process.on('SIGUSR1', on.reopen);
}
