import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdminServer } from '../admin/server.js';
import { ConfigManager } from '../config/manager.js';
import { formatProblem } from '../config/problems.js';
import { buildSnapshot } from '../config/snapshot.js';
import { ConfigWatcher } from '../config/watch.js';
import { KongTsError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { AccessLog } from '../proxy/access-log.js';
import { StreamServer } from '../proxy/stream-server.js';
import type { Settings } from '../settings/settings.js';
import { claimPrefix, releasePrefix } from './pidfile.js';

function nodeId(prefix: string): string {
  const file = join(prefix, 'node.id');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    const id = randomUUID();
    try { writeFileSync(file, id + '\n'); } catch { /* the id is then per run */ }
    return id;
  }
}

/** A running kong-ts: what `start` builds and what tests drive in-process. */
export interface Instance {
  manager: ConfigManager;
  stream: StreamServer;
  admin?: AdminServer;
  logger: Logger;
  stop(reason: string, graceMs?: number): Promise<void>;
}

/**
 * Starts kong-ts: loads and checks the declarative file (refusing to start, with every error, before any port
 * opens), claims the prefix, opens the stream and admin listeners, and wires the reload triggers.
 */
export async function startInstance(settings: Settings, opts: { strict?: boolean; logger?: Logger; signals?: boolean } = {}): Promise<Instance> {
  const logger = opts.logger ?? createLogger({ level: settings.logLevel, file: settings.errorLog });
  const file = settings.declarativeConfig;
  if (!file) throw new KongTsError('KTS_SETTINGS_INVALID', ['declarative_config'], { detail: "no declarative file: run 'kong-ts start -c kong.yml', or set declarative_config in kong.conf" });
  const manager = new ConfigManager({ file, logger, loadOptions: { strict: opts.strict }, compile: buildSnapshot });
  const first = await manager.reloadFile('start');
  if (first.status === 'invalid') {
    throw new KongTsError('KTS_CONFIG_INVALID', [file], { detail: '\n' + first.problems.map(formatProblem).join('\n') });
  }
  if (first.status === 'unreadable') throw new KongTsError('KTS_CONFIG_INVALID', [file], { detail: first.message });
  if (settings.streamListen.length === 0) logger.warn("stream_listen is 'off': no stream traffic will be served (set KONG_STREAM_LISTEN or stream_listen)");

  claimPrefix(settings.prefix);
  const accessLog = settings.accessLog === 'off' ? undefined : AccessLog.open(settings.accessLog.path, logger);
  const stream = new StreamServer({ listeners: settings.streamListen, logger, accessLog });
  stream.swap(manager.current!);
  manager.onSwap((snap) => stream.swap(snap));
  let admin: AdminServer | undefined;
  let watcher: ConfigWatcher | undefined;
  try {
    await stream.listen();
    if (settings.adminListen.length) {
      admin = new AdminServer({
        listeners: settings.adminListen, token: settings.adminToken, logger,
        state: {
          manager, nodeId: nodeId(settings.prefix), startedAt: Date.now(), connections: () => stream.counters(),
          settings: { stream_listen: settings.values.stream_listen?.value, admin_listen: settings.values.admin_listen?.value, prefix: settings.prefix, declarative_config: file },
        },
      });
      await admin.listen();
    }
    if (settings.watch) {
      watcher = new ConfigWatcher({ file, logger, debounceMs: settings.reloadDebounce, onChange: (text) => manager.reloadText(text, file, 'file') });
      await watcher.start();
    }
  } catch (err) {
    await stream.close();
    await admin?.close();
    releasePrefix(settings.prefix);
    throw err;
  }

  let stopping: Promise<void> | undefined;
  const stop = (reason: string, graceMs = 0): Promise<void> => {
    stopping ??= (async () => {
      logger.info({ reason, active: stream.activeSessions }, 'kong-ts stopping');
      await watcher?.close();
      await admin?.close();
      const cut = await stream.close(graceMs);
      if (cut > 0) logger.warn({ cut, graceMs }, `${cut} open session(s) cut at shutdown`);
      await accessLog?.close();
      releasePrefix(settings.prefix);
      logger.info({ reason }, 'kong-ts stopped');
    })();
    return stopping;
  };

  if (opts.signals !== false) {
    process.on('SIGHUP', () => void manager.reloadFile('signal'));
    const exit = (reason: string, graceMs: number) => void stop(reason, graceMs).finally(() => logger.flush(() => process.exit(0)));
    process.on('SIGTERM', () => exit('SIGTERM', 0));
    process.on('SIGINT', () => exit('SIGINT', 0));
    process.on('SIGQUIT', () => exit('SIGQUIT', 10_000));
  }
  logger.info({
    stream_listen: stream.addresses(), admin_listen: admin?.addresses() ?? 'off', prefix: settings.prefix,
    hash: manager.current!.hash, pid: process.pid,
  }, 'kong-ts started');
  return { manager, stream, admin, logger, stop };
}
