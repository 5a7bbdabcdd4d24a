/**
 * Plugin chains: built once per snapshot from the file's plugin entities, one chain per (route, service) pair.
 *
 * Choices worth knowing:
 * - Scoping is Kong's: for each plugin name, the entity on route+service beats the one on the route, which beats
 *   the one on the service, which beats the global one. Entities scoped to a consumer never run on streams
 *   (there are no consumers on stream traffic).
 * - A plugin runs on streams only when its `protocols` include tcp, tls, tls_passthrough or udp.
 * - An async preread that overruns the deadline is logged at warn and the chain goes on without its answer
 *   (its late answer is ignored): a slow side service must not turn into an outage of every route it guards.
 *   A preread that throws or rejects is a plugin failure: the connection is closed with status 500, as Kong
 *   closes a session whose plugin raised an error.
 * - `log` never throws: a failing plugin is logged (at most once per 10 s per plugin entity) and counted.
 */
import { RateLimitedWarn, type Logger } from '../log.js';
import type { PluginEntity } from '../config/types.js';
import type { Metrics } from '../metrics/metrics.js';
import type { LogRecord, PluginInstance, PrereadContext, PrereadResult, StreamPlugin } from './types.js';
import { PluginError } from './errors.js';
import { validatePluginConfig } from './validate.js';
import { isStreamProtocol } from '../net/protocols.js';

/** One created plugin instance with what the chain needs to run and report it. */
interface Entry {
  readonly name: string;
  readonly id: string;
  readonly priority: number;
  readonly instance: PluginInstance;
  readonly logger: Logger;
  logErrors: number;
  readonly logWarn: RateLimitedWarn;
}

export type PrereadDone<C> = (result: PrereadResult, ctx: C) => void;

let chainSerial = 0;

/** The plugins that run for one (route, service) pair, in priority order. */
export class PluginChain {
  readonly #preread: readonly Entry[];
  readonly #log: readonly Entry[];
  readonly #logger: Logger;
  readonly #metrics: Metrics | undefined;
  /** the plugin names of this chain, highest priority first */
  readonly names: readonly string[];
  readonly #all: readonly Entry[];

  /** tells chains apart in keys (builder: routes with the same chains share one record) */
  readonly serial = ++chainSerial;

  constructor(entries: readonly Entry[], logger: Logger, metrics: Metrics | undefined) {
    this.#all = entries;
    this.#preread = entries.filter((e) => typeof e.instance.preread === 'function');
    this.#log = entries.filter((e) => typeof e.instance.log === 'function');
    this.#logger = logger;
    this.#metrics = metrics;
    this.names = entries.map((e) => e.name);
  }

  /** false when no plugin of this chain has a preread step: the data path can skip `preread` entirely. */
  get hasPreread(): boolean {
    return this.#preread.length > 0;
  }
  get hasLog(): boolean {
    return this.#log.length > 0;
  }

  /** The instance of the plugin `name` in this chain (config-time use: a plugin whose work is done elsewhere). */
  instanceOf(name: string): PluginInstance | undefined {
    return this.#all.find((e) => e.name === name)?.instance;
  }

  /**
   * Runs the preread steps and calls `done(result, ctx)` once. When every plugin answers synchronously,
   * `done` is called before `preread` returns and no Promise or timer is created. `deadlineMs` bounds the
   * time spent waiting for async plugins, counted from the first one that goes async.
   */
  preread<C extends PrereadContext>(ctx: C, deadlineMs: number, done: PrereadDone<C>): void {
    runPreread(this.#preread, 0, ctx, 0, deadlineMs, done, this.#logger);
  }

  /** Hands the finished session to every log plugin. Never throws. */
  log(record: LogRecord): void {
    const list = this.#log;
    for (let i = 0; i < list.length; i++) {
      const e = list[i]!;
      try {
        const r = e.instance.log!(record) as unknown;
        if (r !== undefined && typeof (r as Promise<void>).then === 'function') {
          (r as Promise<void>).then(undefined, (err: unknown) => this.#logFailed(e, err));
        }
      } catch (err) {
        this.#logFailed(e, err);
      }
    }
  }

  #logFailed(e: Entry, err: unknown): void {
    e.logErrors++;
    this.#metrics?.pluginError(e.name);
    e.logWarn.warn({ err, failures: e.logErrors }, 'plugin log step failed');
  }
}

function prereadFailed(e: Entry, err: unknown): PrereadResult {
  e.logger.error({ err }, 'plugin preread step failed: closing the connection');
  return { close: true, status: 500, reason: `plugin '${e.name}' failed` };
}

/**
 * Module-level on purpose: the synchronous path allocates nothing per connection. `deadlineAt` is 0 until
 * a plugin goes async.
 */
function runPreread<C extends PrereadContext>(
  list: readonly Entry[],
  from: number,
  ctx: C,
  deadlineAt: number,
  deadlineMs: number,
  done: PrereadDone<C>,
  logger: Logger,
): void {
  for (let i = from; i < list.length; i++) {
    const e = list[i]!;
    let r: PrereadResult | Promise<PrereadResult>;
    try {
      r = e.instance.preread!(ctx);
    } catch (err) {
      done(prereadFailed(e, err), ctx);
      return;
    }
    if (r === undefined) continue;
    if (typeof (r as Promise<PrereadResult>).then === 'function') {
      if (deadlineAt === 0) deadlineAt = Date.now() + deadlineMs;
      awaitPreread(list, i, r as Promise<PrereadResult>, ctx, deadlineAt, deadlineMs, done, logger);
      return;
    }
    if ((r as { close?: boolean }).close === true) {
      done(r as PrereadResult, ctx);
      return;
    }
  }
  done(undefined, ctx);
}

function awaitPreread<C extends PrereadContext>(
  list: readonly Entry[],
  i: number,
  promise: Promise<PrereadResult>,
  ctx: C,
  deadlineAt: number,
  deadlineMs: number,
  done: PrereadDone<C>,
  logger: Logger,
): void {
  const e = list[i]!;
  let settled = false;
  const timer = setTimeout(
    () => {
      if (settled) return;
      settled = true;
      e.logger.warn({ deadline_ms: deadlineMs }, 'plugin preread overran its deadline: going on without it');
      runPreread(list, i + 1, ctx, deadlineAt, deadlineMs, done, logger);
    },
    Math.max(0, deadlineAt - Date.now()),
  );
  promise.then(
    (r) => {
      if (settled) {
        if (r && r.close) e.logger.debug({ status: r.status }, 'late preread answer ignored');
        return;
      }
      settled = true;
      clearTimeout(timer);
      if (r && r.close === true) done(r, ctx);
      else runPreread(list, i + 1, ctx, deadlineAt, deadlineMs, done, logger);
    },
    (err: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      done(prereadFailed(e, err), ctx);
    },
  );
}

/** Every chain of one snapshot, and the instances they share. */
export interface PluginChains {
  /**
   * The chain for a connection on this route (and its service) and protocol (tcp, tls, tls_passthrough, udp: only
   * plugins whose `protocols` name it); `forRoute()` alone gives the global chain of every stream protocol.
   */
  forRoute(routeId?: string, serviceId?: string, protocol?: string): PluginChain;
  /** counters of every instance, keyed `name:id` */
  stats(): Record<string, Readonly<Record<string, number>>>;
  /** Closes every instance (files, sockets). Call once, when the snapshot is retired. */
  close(): Promise<void>;
}

export interface CompileOptions {
  metrics?: Metrics;
  /** routes known now: their chains are built up front instead of on first use */
  routes?: ReadonlyArray<{ id: string; service?: string | null }>;
}

function runsOnStreams(p: PluginEntity): boolean {
  if (!p.enabled || p.consumer) return false;
  for (const proto of p.protocols) if (isStreamProtocol(proto)) return true;
  return false;
}

/**
 * Builds the plugin chains of a snapshot: validates each config, creates each instance once.
 * Throws a PluginError for an unknown plugin or a config a plugin refuses (after closing what was created).
 */
export function compilePluginChains(
  plugins: readonly PluginEntity[],
  available: ReadonlyMap<string, StreamPlugin>,
  logger: Logger,
  options: CompileOptions = {},
): PluginChains {
  const entries = new Map<PluginEntity, Entry>();
  try {
    for (const p of plugins) {
      if (!runsOnStreams(p)) continue;
      const plugin = available.get(p.name);
      if (!plugin) {
        throw new PluginError(
          'KONG_PLUGIN_UNKNOWN',
          `plugin '${p.name}' not enabled; add it to the 'plugins' configuration property`,
        );
      }
      const config = validatePluginConfig(plugin, p.config ?? {});
      const child = logger.child({ plugin: p.name, plugin_id: p.id });
      let instance: PluginInstance;
      try {
        instance = plugin.create(config, { logger: child, metrics: options.metrics, id: p.id });
      } catch (err) {
        if (err instanceof PluginError) throw err;
        throw new PluginError(
          'KONG_PLUGIN_CONFIG',
          `plugin '${p.name}' (${p.id}): ${err instanceof Error ? err.message : String(err)}`,
          { cause: err },
        );
      }
      entries.set(p, {
        name: p.name,
        id: p.id,
        priority: plugin.priority,
        instance,
        logger: child,
        logErrors: 0,
        logWarn: new RateLimitedWarn(child),
      });
    }
  } catch (err) {
    for (const e of entries.values()) void closeEntry(e);
    throw err;
  }
  return new Chains([...entries], logger, options);
}

async function closeEntry(e: Entry): Promise<void> {
  try {
    await e.instance.close?.();
  } catch (err) {
    e.logger.warn({ err }, 'plugin close failed');
  }
}

class Chains implements PluginChains {
  readonly #entries: ReadonlyArray<[PluginEntity, Entry]>;
  readonly #chains = new Map<string, PluginChain>();
  readonly #logger: Logger;
  readonly #metrics: Metrics | undefined;

  constructor(entries: ReadonlyArray<[PluginEntity, Entry]>, logger: Logger, options: CompileOptions) {
    this.#entries = entries;
    this.#logger = logger;
    this.#metrics = options.metrics;
    this.forRoute();
    for (const r of options.routes ?? []) this.forRoute(r.id, r.service ?? undefined);
  }

  /**
   * One chain per distinct selection of plugins, shared by every route that selects the same ones (a chain holds
   * no per-route state): 50,000 routes without plugins of their own share one chain, not 50,000 copies.
   */
  forRoute(routeId?: string, serviceId?: string, protocol?: string): PluginChain {
    const selected = this.#select(routeId, serviceId, protocol);
    let key = '';
    for (const e of selected) key += e.id + ',';
    let chain = this.#chains.get(key);
    if (!chain) {
      chain = new PluginChain(selected, this.#logger, this.#metrics);
      this.#chains.set(key, chain);
    }
    return chain;
  }

  /** Kong's precedence per plugin name: route+service (3) > route (2) > service (1) > global (0). */
  #select(routeId: string | undefined, serviceId: string | undefined, protocol: string | undefined): Entry[] {
    const best = new Map<string, { rank: number; entry: Entry }>();
    for (const [p, entry] of this.#entries) {
      // as in Kong, a plugin runs only on connections whose protocol its `protocols` name
      if (protocol !== undefined && !p.protocols.includes(protocol as PluginEntity['protocols'][number])) continue;
      let rank: number;
      if (p.route && p.service) rank = p.route === routeId && p.service === serviceId ? 3 : -1;
      else if (p.route) rank = p.route === routeId ? 2 : -1;
      else if (p.service) rank = p.service === serviceId ? 1 : -1;
      else rank = 0;
      if (rank < 0) continue;
      const cur = best.get(p.name);
      if (!cur || rank > cur.rank) best.set(p.name, { rank, entry });
    }
    // stable: equal priorities keep the file's order
    return [...best.values()].map((b) => b.entry).sort((a, b) => b.priority - a.priority);
  }

  stats(): Record<string, Readonly<Record<string, number>>> {
    const out: Record<string, Readonly<Record<string, number>>> = {};
    for (const [, e] of this.#entries) {
      out[`${e.name}:${e.id}`] = { ...(e.instance.stats?.() ?? {}), log_errors: e.logErrors };
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.#entries.map(([, e]) => closeEntry(e)));
  }
}
