/**
 * One worker process of a cluster (nginx_worker_processes > 1). It gets its settings and the checked
 * configuration from the primary, builds its own snapshot from it, and serves the stream listeners it shares
 * with the other workers. It never reads the declarative file, opens the admin API or claims the prefix.
 *
 * The primary validates once: it sends the path of the normalized config its load thread wrote (protocol.ts); the
 * worker's load thread reads it, and the worker compiles it in slices like any process (SecureContexts and
 * balancers cannot cross a process boundary), reusing what did not change.
 */
import { createServers, loadFirst, openCore } from '../process/serve.js';
import { refreshTargetHealth } from '../runtime/target-health.js';
import type { ReloadHistory } from '../runtime/reload-history.js';
import { targetRows } from '../runtime/status-rows.js';
import type { ConfigManager } from '../config/manager.js';
import { isUserError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { metricTotals } from '../metrics/totals.js';
import type { AccessLog } from '../proxy/access-log.js';
import type { StreamServer } from '../proxy/stream-server.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Snapshot } from '../runtime/snapshot.js';
import type { UdpServer } from '../udp/server.js';
import { isToWorker, type ConfigPush, type FromWorker, type ToWorker, type WorkerReport } from './protocol.js';

/** The env variable that tells a worker its slot (1..N); slot 1 also serves the udp listeners. */
export const WORKER_ID_ENV = 'KONG_TS_WORKER_ID';

function send(m: FromWorker): void {
  // a primary that died a moment ago still looks connected: the callback takes the write's EPIPE (without it the
  // error event would end this worker with a stack trace); 'disconnect' stops the worker
  if (process.connected) process.send!(m, undefined, undefined, () => {});
}

interface Serving {
  logger: Logger;
  runtime: Runtime;
  manager: ConfigManager<Snapshot>;
  stream: StreamServer;
  udp: UdpServer;
  accessLog?: AccessLog;
  reloads: ReloadHistory;
}

class WorkerProcess {
  readonly #id = Number(process.env[WORKER_ID_ENV] ?? 0);
  #serving: Serving | undefined;
  /** the generation the next compile gets: the primary's, never a count of our own */
  #next = 0;
  /** init and config pushes run one after the other, in the order they came */
  #queue: Promise<void> = Promise.resolve();
  #stopping: Promise<void> | undefined;
  #released: Promise<void> | undefined;

  onMessage(m: ToWorker): void {
    switch (m.kts) {
      case 'init':
        this.#queue = this.#queue.then(() => this.#init(m));
        break;
      case 'config':
        this.#queue = this.#queue.then(() => this.#apply(m.config));
        break;
      case 'report':
        void this.#report(m.id, m.metrics, m.targets ?? false);
        break;
      case 'stop':
        void this.stop(m.graceMs);
        break;
      case 'reopen':
        this.#serving?.accessLog?.reopen();
        break;
    }
  }

  async #init(m: Extract<ToWorker, { kts: 'init' }>): Promise<void> {
    const s = m.settings;
    const logger = createLogger({ level: s.logLevel, file: s.errorLog }).child({ worker: this.#id });
    try {
      const core = await openCore(s, m.config.file, {
        logger,
        strict: m.strict,
        defaultCert: m.defaultCert,
        compileInput: (input) => ({ ...input, generation: this.#next }),
      });
      const { runtime, manager } = core;
      this.#next = m.config.generation;
      const live = await loadFirst(core, m.config.file, { checked: m.config.checked });
      // a shared udp socket would hand the datagrams of one flow to any worker, so one worker serves udp
      const { stream, udp, accessLog } = createServers(s, core, { logger, udp: m.udp });
      this.#serving = { logger, runtime, manager, stream, udp, accessLog, reloads: core.reloads };
      await stream.listen();
      await udp.listen();
      if (this.#stopping) return;
      logger.info({ generation: live.generation, hash: live.hash }, 'worker started');
      send({
        kts: 'started',
        generation: live.generation,
        hash: live.hash,
        addresses: [...stream.addresses(), ...udp.addresses().map((a) => ({ ...a, udp: true }))],
      });
    } catch (err) {
      send({ kts: 'start-failed', message: (err as Error).message, user: isUserError(err) });
      await this.#release(0);
      logger.flush(() => process.exit(1));
    }
  }

  async #apply(push: ConfigPush): Promise<void> {
    const manager = this.#serving?.manager;
    if (!manager || this.#stopping) return;
    this.#next = push.generation;
    // the manager skips a text it already serves; the primary numbered it anew (POST /config of the same file)
    const trigger = push.hash === manager.current?.hash ? 'admin' : push.trigger;
    const r = await manager.reloadChecked(push.checked, push.file, trigger);
    if (r.status === 'loaded') {
      const sessions = this.#serving!.reloads.policyOf(r.snapshot.generation);
      send({
        kts: 'swapped',
        generation: r.snapshot.generation,
        hash: r.snapshot.hash,
        ...(sessions ? { sessions } : {}),
      });
    } else
      send({
        kts: 'load-failed',
        generation: push.generation,
        message: r.status === 'invalid' ? r.problems.map((p) => p.message).join('; ') : r.status,
      });
  }

  async #report(id: number, withMetrics: boolean, withTargets: boolean): Promise<void> {
    const sv = this.#serving;
    const live = sv?.manager.current;
    const report: WorkerReport = {
      pid: process.pid,
      generation: live?.generation ?? 0,
      hash: live?.hash ?? '',
      connections: sv?.stream.counters() ?? { accepted: 0, active: 0, handled: 0 },
      udpSessions: sv?.udp.activeSessions ?? 0,
      sessionsByRoute: sv?.stream.sessionsByRoute() ?? {},
      rssBytes: process.memoryUsage.rss(),
    };
    if (sv)
      report.totals = await metricTotals(
        sv.runtime.metrics,
        sv.stream.counters().accepted + sv.udp.stats().sessionsTotal,
      );
    if (withTargets && live) {
      report.targets = {};
      for (const [id, b] of live.balancers) report.targets[id] = targetRows(b);
    }
    if (withMetrics && sv) {
      refreshTargetHealth(sv.runtime, live);
      report.metrics = await sv.runtime.metrics.registry.getMetricsAsJSON();
    }
    send({ kts: 'report', id, report });
  }

  /** Closes whatever #init opened (once); open sessions get up to `graceMs`. */
  #release(graceMs: number): Promise<void> {
    return (this.#released ??= this.#close(graceMs));
  }

  async #close(graceMs: number): Promise<void> {
    const sv = this.#serving;
    if (!sv) return;
    const [cut] = await Promise.all([sv.stream.close(graceMs), sv.udp.close()]);
    if (cut > 0) sv.logger.warn({ cut, graceMs }, `${cut} open session(s) cut at shutdown`);
    await sv.manager.current?.plugins.close();
    await sv.manager.close();
    sv.runtime.registry.close();
    // pino's exit hook throws on a file destination still opening: close it before exiting
    await sv.accessLog?.close();
  }

  /** Stops listening, lets open sessions run for up to `graceMs`, then exits. */
  stop(graceMs: number): Promise<void> {
    this.#stopping ??= (async () => {
      const logger = this.#serving?.logger;
      await this.#release(graceMs);
      if (logger) logger.flush(() => process.exit(0));
      else process.exit(0);
    })();
    return this.#stopping;
  }
}

/**
 * Runs this process as a worker: waits for the primary's `init`, then serves until told to stop, or until the
 * primary is gone (the IPC channel closes), so a killed primary leaves no worker behind.
 */
export function runWorker(): void {
  const w = new WorkerProcess();
  process.on('message', (m: unknown) => {
    if (isToWorker(m)) w.onMessage(m);
  });
  process.on('disconnect', () => void w.stop(0));
  // the primary decides: a terminal's Ctrl-C or a process-group signal reaches us too, and it then sends 'stop'
  for (const sig of ['SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1'] as const) process.on(sig, () => {});
  process.on('SIGTERM', () => void w.stop(0));
  send({ kts: 'ready' });
}
