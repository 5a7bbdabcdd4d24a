/**
 * Forks and keeps N workers: hands each one the settings and the current checked configuration, broadcasts every
 * new configuration, replaces a worker that dies (backing off when they die in a loop), collects their reports,
 * and stops them.
 */
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log.js';
import type { PolicyOutcome } from '../runtime/reload-policy.js';
import type { Settings } from '../settings/settings.js';
import type { CertPair } from '../tls/default-cert.js';
import { isFromWorker, type ConfigPush, type FromWorker, type ToWorker, type WorkerReport } from './protocol.js';
import { WORKER_ID_ENV } from './worker.js';

const WORKER_MAIN = fileURLToPath(new URL('./worker-main.js', import.meta.url));
/** a report a worker does not send within this is left out (the worker is busy or dying) */
const REPORT_TIMEOUT_MS = 2000;
/** deaths within this window count as a crash loop */
const CRASH_WINDOW_MS = 60_000;
/** a rolling reload goes on to the next worker when one has not answered within this */
const ROLL_STEP_TIMEOUT_MS = 60_000;

/** One worker slot: its process changes when a worker is replaced, its id (1..N) stays. */
interface Slot {
  id: number;
  worker?: Worker;
  state: 'starting' | 'up' | 'gone';
  /** the configuration this worker is on (acked), and the last one that failed on it */
  generation: number;
  hash: string;
  lastError?: string;
  restarts: number;
  startedAt: number;
  /** its `init` was sent: from then on it gets every new configuration, in order after that `init` */
  initSent: boolean;
}

export interface SupervisorOptions {
  count: number;
  settings: Settings;
  strict: boolean;
  defaultCert: CertPair;
  logger: Logger;
  /** the configuration a starting worker gets: always the primary's live one */
  current: () => ConfigPush;
  /** a worker swapped in `generation`; `sessions`: what the reload policy did to its open sessions */
  onSwapped?: (generation: number, sessions: PolicyOutcome | undefined) => void;
}

/** One line per worker in the primary's `/status`. */
export interface WorkerStatus {
  id: number;
  pid: number | null;
  state: Slot['state'];
  configuration_generation: number;
  configuration_hash: string;
  last_config_error: string | null;
  restarts: number;
  connections_active?: number;
  connections_accepted?: number;
  connections_handled?: number;
  udp_sessions?: number;
  rss?: string;
}

export class Supervisor {
  readonly #opts: SupervisorOptions;
  readonly #slots: Slot[] = [];
  readonly #crashes: number[] = [];
  readonly #pending = new Map<string, (r: WorkerReport | undefined) => void>();
  #requestId = 0;
  #stopping = false;
  /** every first worker has started (a start failure after that is a replacement's) */
  #running = false;
  #startup:
    { resolve: (a: FromWorker & { kts: 'started' }) => void; reject: (e: Error) => void; left: number } | undefined;
  #firstStarted: (FromWorker & { kts: 'started' }) | undefined;
  /** the rolling reload under way: the config, the workers still to get it, the one building it now */
  #roll: { config: ConfigPush; queue: Slot[]; at?: { slot: Slot; timer: NodeJS.Timeout } } | undefined;

  constructor(opts: SupervisorOptions) {
    this.#opts = opts;
    // SCHED_NONE: every worker accepts on the shared listening socket and the kernel picks one; with SCHED_RR the
    // primary accepts every connection and passes it over IPC, a cost per connection (see the note on workers)
    cluster.schedulingPolicy = process.env.NODE_CLUSTER_SCHED_POLICY === 'rr' ? cluster.SCHED_RR : cluster.SCHED_NONE;
    cluster.setupPrimary({ exec: WORKER_MAIN, args: [], serialization: 'advanced' });
    cluster.on('exit', (worker, code, signal) => this.#onExit(worker, code, signal));
  }

  /**
   * Forks every worker and resolves when all of them serve, with what the first one listens on. Rejects with the
   * first worker's error when one cannot start (a port taken, a plugin that fails there): the caller stops the rest.
   */
  start(): Promise<FromWorker & { kts: 'started' }> {
    return new Promise((resolve, reject) => {
      this.#startup = { resolve, reject, left: this.#opts.count };
      for (let id = 1; id <= this.#opts.count; id++) {
        const slot: Slot = {
          id,
          state: 'starting',
          generation: 0,
          hash: '',
          restarts: 0,
          startedAt: 0,
          initSent: false,
        };
        this.#slots.push(slot);
        this.#fork(slot);
      }
    });
  }

  #fork(slot: Slot): void {
    slot.state = 'starting';
    slot.startedAt = Date.now();
    slot.initSent = false;
    const worker = cluster.fork({ [WORKER_ID_ENV]: String(slot.id) });
    slot.worker = worker;
    // a write to a worker that just died fails with EPIPE, emitted as 'error' on the worker: without a listener it
    // would take the primary down with it; the death itself is handled on 'exit'
    worker.on('error', (err) => this.#opts.logger.debug({ err, worker: slot.id }, 'cannot reach a worker'));
    worker.on('message', (m: unknown) => {
      if (isFromWorker(m)) this.#onMessage(slot, worker, m);
    });
  }

  #send(worker: Worker | undefined, m: ToWorker): void {
    if (!worker?.isConnected()) return;
    const failed = (err: Error | null): void => {
      if (err) this.#opts.logger.debug({ err, worker_pid: worker.process.pid }, 'cannot reach a worker');
    };
    try {
      // isConnected() stays true until the channel's end is read, so a worker killed a moment ago still looks
      // reachable: the callback takes the write's EPIPE instead of an 'error' event
      worker.send(m, undefined, undefined, failed);
    } catch (err) {
      failed(err as Error);
    }
  }

  #onMessage(slot: Slot, worker: Worker, m: FromWorker): void {
    if (slot.worker !== worker) return; // a replaced worker's last words
    const log = this.#opts.logger;
    switch (m.kts) {
      case 'ready':
        // the current config at the moment of sending: a reload racing with this start is pushed after it
        this.#send(worker, {
          kts: 'init',
          settings: this.#opts.settings,
          strict: this.#opts.strict,
          defaultCert: this.#opts.defaultCert,
          config: this.#opts.current(),
          udp: slot.id === 1,
        });
        slot.initSent = true;
        break;
      case 'started':
        slot.state = 'up';
        slot.generation = m.generation;
        slot.hash = m.hash;
        this.#firstStarted ??= m;
        if (this.#startup && --this.#startup.left === 0) {
          this.#startup.resolve(this.#firstStarted);
          this.#startup = undefined;
          this.#running = true;
        } else if (this.#running) {
          log.info(
            { worker: slot.id, worker_pid: worker.process.pid, generation: m.generation },
            'worker replaced and serving',
          );
        }
        break;
      case 'start-failed':
        slot.lastError = m.message;
        if (this.#startup) {
          this.#startup.reject(Object.assign(new Error(m.message), { user: m.user }));
          this.#startup = undefined;
        } else if (this.#running && !this.#stopping) {
          log.error(
            { worker: slot.id, worker_pid: worker.process.pid, err: m.message },
            'a replacement worker failed to start',
          );
        }
        break;
      case 'swapped':
        slot.generation = m.generation;
        slot.hash = m.hash;
        slot.lastError = undefined;
        this.#opts.onSwapped?.(m.generation, m.sessions);
        this.#rolled(slot);
        break;
      case 'load-failed':
        // the primary loaded this text: a worker refusing it is a bug or a resource limit, so it is loud
        slot.lastError = m.message;
        log.error(
          { worker: slot.id, worker_pid: worker.process.pid, generation: m.generation, err: m.message },
          'a worker could not load the configuration the primary checked; it keeps its previous one',
        );
        this.#rolled(slot);
        break;
      case 'report':
        this.#pending.get(`${m.id}:${slot.id}`)?.(m.report);
        break;
    }
  }

  #onExit(worker: Worker, code: number | null, signal: string | null): void {
    const slot = this.#slots.find((s) => s.worker === worker);
    if (!slot) return;
    slot.state = 'gone';
    for (const [key, done] of this.#pending) if (key.endsWith(`:${slot.id}`)) done(undefined);
    this.#rolled(slot);
    if (this.#stopping) return;
    if (this.#startup) {
      this.#startup.reject(
        new Error(
          `worker ${slot.id} exited during start (${signal ?? `code ${code}`})${slot.lastError ? `: ${slot.lastError}` : ''}`,
        ),
      );
      this.#startup = undefined;
      return;
    }
    if (!this.#running) return; // the start failed: the caller stops every worker
    const now = Date.now();
    this.#crashes.push(now);
    while (this.#crashes.length && this.#crashes[0]! < now - CRASH_WINDOW_MS) this.#crashes.shift();
    // the first deaths are replaced at once; a crash loop waits longer each time, up to 30 s
    const n = this.#crashes.length;
    const delay = n <= 2 ? 0 : Math.min(30_000, 500 * 2 ** (n - 3));
    this.#opts.logger.error(
      { worker: slot.id, worker_pid: worker.process.pid, code, signal, restart_in_ms: delay, deaths_last_minute: n },
      `worker ${slot.id} died (${signal ?? `exit code ${code}`}); starting a new one${delay ? ` in ${delay} ms` : ''}`,
    );
    slot.restarts++;
    const t = setTimeout(() => {
      if (!this.#stopping) this.#fork(slot);
    }, delay);
    t.unref();
  }

  /**
   * Hands a new configuration to every worker that has had its `init` (the others get it with their `init`), one
   * worker at a time: the next gets it when the last answered (swapped or failed), so only one worker builds while
   * the others serve on the cores left, and no two builds compete for a core with the data path. A configuration
   * that arrives during a roll replaces the one being rolled: the workers still to go get the newest, and the one
   * building now gets it after.
   */
  broadcast(config: ConfigPush): void {
    const targets = this.#slots.filter((s) => s.initSent && s.state !== 'gone');
    const r = this.#roll;
    if (!r) {
      this.#roll = { config, queue: targets };
      this.#rollNext();
      return;
    }
    r.config = config;
    r.queue = targets.filter((s) => s !== r.at?.slot);
    if (r.at) r.queue.push(r.at.slot);
  }

  #rollNext(): void {
    const r = this.#roll;
    if (!r) return;
    if (r.at) clearTimeout(r.at.timer);
    r.at = undefined;
    for (let s = r.queue.shift(); s; s = r.queue.shift()) {
      if (!s.initSent || s.state === 'gone' || !s.worker?.isConnected()) continue;
      this.#send(s.worker, { kts: 'config', config: r.config });
      r.at = { slot: s, timer: setTimeout(() => this.#rollNext(), ROLL_STEP_TIMEOUT_MS).unref() };
      return;
    }
    this.#roll = undefined;
  }

  /** The worker in `slot` answered the roll's push (or is gone): the next one's turn. */
  #rolled(slot: Slot): void {
    if (this.#roll?.at?.slot === slot) this.#rollNext();
  }

  /** Tells every worker to reopen its access log (SIGUSR1 after a log rotation). */
  reopenLogs(): void {
    for (const s of this.#slots) this.#send(s.worker, { kts: 'reopen' });
  }

  /** The pids of the workers alive now. */
  pids(): number[] {
    return this.#slots.filter((s) => s.state !== 'gone' && s.worker?.process.pid).map((s) => s.worker!.process.pid!);
  }

  /** Asks every serving worker for its report; a worker that does not answer in time is left out. */
  async reports(metrics: boolean, targets = false): Promise<Map<number, WorkerReport>> {
    const id = ++this.#requestId;
    const up = this.#slots.filter((s) => s.state === 'up' && s.worker?.isConnected());
    const replies = await Promise.all(
      up.map(
        (s) =>
          new Promise<WorkerReport | undefined>((resolve) => {
            const key = `${id}:${s.id}`;
            const timer = setTimeout(() => done(undefined), REPORT_TIMEOUT_MS);
            const done = (r: WorkerReport | undefined) => {
              clearTimeout(timer);
              this.#pending.delete(key);
              resolve(r);
            };
            this.#pending.set(key, done);
            this.#send(s.worker, { kts: 'report', id, metrics, ...(targets ? { targets } : {}) });
          }),
      ),
    );
    const out = new Map<number, WorkerReport>();
    up.forEach((s, i) => {
      if (replies[i]) out.set(s.id, replies[i]);
    });
    return out;
  }

  /** Every slot with its config generation, and the counters of the workers that answered. */
  async status(): Promise<WorkerStatus[]> {
    const reports = await this.reports(false);
    return this.#slots.map((s) => {
      const r = reports.get(s.id);
      const st: WorkerStatus = {
        id: s.id,
        pid: s.state === 'gone' ? null : (s.worker?.process.pid ?? null),
        state: s.state,
        configuration_generation: s.generation,
        configuration_hash: s.hash,
        last_config_error: s.lastError ?? null,
        restarts: s.restarts,
      };
      if (r) {
        Object.assign(st, {
          connections_active: r.connections.active,
          connections_accepted: r.connections.accepted,
          connections_handled: r.connections.handled,
          udp_sessions: r.udpSessions,
          rss: `${(r.rssBytes / 1048576).toFixed(2)} MiB`,
        });
      }
      return st;
    });
  }

  /**
   * Tells every worker to stop (open sessions get `graceMs`), and resolves once all have exited; a worker still
   * alive 5 s after its grace is killed.
   */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    this.#startup = undefined;
    const alive = this.#slots.map((s) => s.worker).filter((w): w is Worker => !!w && !w.isDead());
    await Promise.all(
      alive.map(
        (w) =>
          new Promise<void>((resolve) => {
            const kill = setTimeout(() => {
              this.#opts.logger.warn({ worker_pid: w.process.pid }, 'a worker did not stop in time; killing it');
              w.process.kill('SIGKILL');
            }, graceMs + 5000);
            w.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            if (w.isConnected()) this.#send(w, { kts: 'stop', graceMs });
            else w.process.kill('SIGTERM');
          }),
      ),
    );
  }
}
