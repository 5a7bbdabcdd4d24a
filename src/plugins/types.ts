/**
 * The public interface of stream plugins: what a custom plugin implements and what the bundled ones implement.
 *
 * A plugin is a factory: `create(config)` runs once per configuration snapshot with the validated config and
 * returns an instance holding everything it built (compiled lists, sockets, file handles). Instances serve every
 * connection of that snapshot and are closed when the snapshot is retired.
 */
import type { Logger } from '../log.js';
import type { SessionRecord } from '../proxy/record.js';
import type { Metrics } from '../metrics/metrics.js';

/** What a plugin sees of a connection before it is proxied (Kong's preread phase). */
export interface PrereadContext {
  readonly clientIp: string;
  readonly clientPort: number;
  /** the listener's port */
  readonly serverPort: number;
  /** server name from the TLS ClientHello, lower-cased, when the client sent one */
  readonly sni?: string;
  readonly route?: { readonly id: string; readonly name?: string };
  readonly service?: { readonly id: string; readonly name?: string };
  /**
   * Adds a value to the session's log record (Kong's `kong.log.set_serialize_value`): log plugins
   * receive it under `record.plugin_values`, and serializing log plugins merge it at the top of their JSON
   * (a dotted key `a.b` becomes `{a: {b: value}}`).
   */
  setLogValue(key: string, value: unknown): void;
}

/**
 * `undefined` lets the connection go on; `{close: true}` ends it with that stream status
 * (403 for ip-restriction). `reason` is logged; it is not sent to the client.
 */
export type PrereadResult = void | undefined | { close: true; status: number; reason?: string };

/** The record a log plugin receives: Kong's stream log record plus the values plugins set in preread. */
export type LogRecord = SessionRecord & { plugin_values?: Record<string, unknown> };

/** Handed to `create`: a logger bound to the plugin entity, and the process metrics when there are some. */
export interface PluginCreateContext {
  logger: Logger;
  metrics?: Metrics;
  /** the plugin entity's id (stable across reloads) */
  id: string;
}

/** One configured plugin, built once per snapshot. */
export interface PluginInstance {
  /**
   * Runs before the connection is proxied. Return synchronously when you can: the chain creates no Promise
   * for a connection whose plugins all answer synchronously.
   */
  preread?(ctx: PrereadContext): PrereadResult | Promise<PrereadResult>;
  /** Runs once when the session has ended. Must not block: queue the record and return. */
  log?(record: LogRecord): void;
  /** Releases what `create` built (sockets, files). Called when the snapshot is retired. */
  close?(): void | Promise<void>;
  /** Counters for the admin API and tests, e.g. `{sent, dropped}`. */
  stats?(): Readonly<Record<string, number>>;
}

/** What a plugin module exports (as its default export, or as named exports `name`, `priority`, ...). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a plugin types its own config; the bare name must accept every plugin
export interface StreamPlugin<C = any> {
  /** the name used in the declarative file (`plugins: [{name: ...}]`) */
  name: string;
  version?: string;
  /** higher runs first, as in Kong (ip-restriction 990, file-log 9) */
  priority: number;
  /** JSON Schema of `config`; the config loader validates each plugin entity's config against it */
  configSchema: object;
  /** Called once per snapshot with the validated config (defaults filled in): build everything here. */
  create(config: C, ctx: PluginCreateContext): PluginInstance;
}
