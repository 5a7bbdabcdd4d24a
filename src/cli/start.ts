import { AdminServer } from '../admin/server.js';
import type { Resolver } from '../balancer/index.js';
import { ConfigWatcher } from '../config/watch.js';
import { KongTsError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { metricTotals } from '../metrics/totals.js';
import type { SessionRecord } from '../proxy/record.js';
import { StreamServer } from '../proxy/stream-server.js';
import type { Settings } from '../settings/settings.js';
import { UdpServer } from '../udp/server.js';
import { nodeId, readDefaultCert } from '../process/node.js';
import { claimPrefix, releasePrefix } from '../process/pidfile.js';
import { createServers, handleSignals, loadFirst, openCore, shownSettings, warnTlsDetect } from '../process/serve.js';
import type { ConfigManager } from '../config/manager.js';
import type { Runtime } from '../runtime/runtime.js';
import { listenerRows } from '../runtime/status-rows.js';
import type { Snapshot } from '../runtime/snapshot.js';
import { pumpKind } from '../proxy/native-pump.js';
import { tlsKind } from '../tls/native-tls.js';

/** A running kong-ts: what `start` builds and what tests drive in-process. */
export interface Instance {
  manager: ConfigManager<Snapshot>;
  runtime: Runtime;
  stream: StreamServer;
  udp: UdpServer;
  admin?: AdminServer;
  logger: Logger;
  stop(reason: string, graceMs?: number): Promise<void>;
}

/**
 * Starts kong-ts: loads and checks the declarative file (refusing to start, with every error, before any port
 * opens), claims the prefix, opens the stream and admin listeners, and wires the reload triggers.
 */
export async function startInstance(
  settings: Settings,
  opts: {
    strict?: boolean;
    logger?: Logger;
    signals?: boolean;
    /** every finished session's record (tests, embedding) */
    onSessionEnd?: (r: SessionRecord) => void;
    /** the balancers' DNS resolver (tests inject a fake one); the system resolver by default */
    resolver?: Resolver;
  } = {},
): Promise<Instance> {
  const logger = opts.logger ?? createLogger({ level: settings.logLevel, file: settings.errorLog });
  const file = settings.declarativeConfig;
  if (!file)
    throw new KongTsError('KTS_SETTINGS_INVALID', ['declarative_config'], {
      detail: "no declarative file: run 'kong-ts start -c kong.yml', or set declarative_config in kong.conf",
    });
  const core = await openCore(settings, file, {
    logger,
    strict: opts.strict,
    defaultCert: readDefaultCert(settings),
    resolver: opts.resolver,
  });
  const { runtime, manager } = core;
  const live = await loadFirst(core, file);
  warnTlsDetect(settings, core, logger);
  if (settings.streamListen.length === 0)
    logger.warn("stream_listen is 'off': no stream traffic will be served (set KONG_STREAM_LISTEN or stream_listen)");

  claimPrefix(settings.prefix);
  const { stream, udp, accessLog, recent } = createServers(settings, core, { logger, onSessionEnd: opts.onSessionEnd });
  let admin: AdminServer | undefined;
  let watcher: ConfigWatcher | undefined;
  try {
    await stream.listen();
    await udp.listen();
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
          connections: () => stream.counters(),
          sessionsByRoute: () => stream.sessionsByRoute(),
          recentSessions: () => ({ capacity: recent.capacity, seen: recent.seen, data: recent.list() }),
          settings: shownSettings(settings),
          dashboard: {
            reloads: core.reloads,
            listeners: () =>
              listenerRows(settings.streamListen, [
                ...stream.addresses(),
                ...udp.addresses().map((a) => ({ ...a, udp: true })),
              ]),
            totals: () => metricTotals(runtime.metrics, stream.counters().accepted + udp.stats().sessionsTotal),
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
        // the load thread reads the settled file itself: no copy of a large file crosses the event loop
        onContent: () => void manager.reloadFile('file'),
      });
      await watcher.start();
    }
  } catch (err) {
    await stream.close();
    await udp.close();
    await admin?.close();
    runtime.registry.close();
    releasePrefix(settings.prefix);
    throw err;
  }

  let stopping: Promise<void> | undefined;
  const stop = (reason: string, graceMs = 0): Promise<void> => {
    stopping ??= (async () => {
      logger.info({ reason, active: stream.activeSessions + udp.activeSessions }, 'kong-ts stopping');
      await watcher?.close();
      await admin?.close();
      const [cut] = await Promise.all([stream.close(graceMs), udp.close()]);
      if (cut > 0) logger.warn({ cut, graceMs }, `${cut} open session(s) cut at shutdown`);
      else if (graceMs > 0) logger.info('every open session finished before the shutdown');
      await manager.current?.plugins.close();
      await manager.close();
      runtime.registry.close();
      await accessLog?.close();
      releasePrefix(settings.prefix);
      logger.info({ reason }, 'kong-ts stopped');
    })();
    return stopping;
  };

  if (opts.signals !== false) {
    handleSignals(settings.prefix, logger, {
      stop,
      reload: () => void manager.reloadFile('signal'),
      reopen: () => accessLog?.reopen(),
    });
  }
  logger.info(
    {
      stream_listen: [...stream.addresses(), ...udp.addresses().map((a) => ({ ...a, udp: true }))],
      admin_listen: admin?.addresses() ?? 'off',
      prefix: settings.prefix,
      hash: live.hash,
      pid: process.pid,
      data_path: pumpKind,
      tls_termination: tlsKind,
    },
    'kong-ts started',
  );
  return { manager, runtime, stream, udp, admin, logger, stop };
}
