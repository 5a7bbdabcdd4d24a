import { isIP } from 'node:net';
import { checked, type RawEntity } from './flatten.js';
import type { PluginEntity } from './types.js';
import type { CheckContext } from './check-context.js';
import { entityRef } from './flatten.js';
import { isHostname } from './check-route.js';
import { upstreamNameProblem } from './kong-values.js';
import { validatePluginConfig } from './validate.js';
import { checkHealthchecks } from './check-healthchecks.js';

/** Port of a target that names none (Kong's default). */
export const DEFAULT_TARGET_PORT = 8000;

export function checkUpstream(e: RawEntity, ctx: CheckContext): void {
  const name = e.raw.name;
  const bad = typeof name === 'string' ? upstreamNameProblem(name) : undefined;
  if (bad) ctx.problems.error([...e.path, 'name'], bad, { entity: entityRef(e), field: 'name' });
  checkHealthchecks(e, ctx);
}

/**
 * `host[:port]` → `host:port` with the default port filled in, IPv6 in brackets (`[::1]:8000`); or undefined when
 * the value is not a hostname or IP with an optional port 0-65535.
 */
export function normalizeTarget(target: string): string | undefined {
  let host: string;
  let port: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(target);
  if (v6) {
    if (isIP(v6[1]!) !== 6) return undefined;
    host = `[${v6[1]}]`;
    port = v6[2];
  } else if (isIP(target) === 6) {
    host = `[${target}]`;
  } else {
    const m = /^([^:]+)(?::(\d+))?$/.exec(target);
    if (!m || !(isIP(m[1]!) === 4 || isHostname(m[1]!))) return undefined;
    host = m[1]!;
    port = m[2];
  }
  const n = port === undefined ? DEFAULT_TARGET_PORT : Number(port);
  if (!Number.isInteger(n) || n < 0 || n > 65535 || (port !== undefined && port.length > 5)) return undefined;
  return `${host}:${n}`;
}

/** Parses the target before ids are made: the normalized `host:port` is part of the target's key. */
export function deriveTarget(e: RawEntity, ctx: CheckContext): void {
  if (typeof e.raw.target !== 'string') return;
  const t = normalizeTarget(e.raw.target);
  if (t) e.derived.target = t;
  else if (!e.bad) {
    ctx.problems.error(
      [...e.path, 'target'],
      `Invalid target ('${e.raw.target}'); not a valid hostname or ip address`,
      { entity: entityRef(e), field: 'target' },
    );
  }
}

export function checkConsumer(e: RawEntity, ctx: CheckContext): void {
  if (e.raw.username == null && e.raw.custom_id == null) {
    ctx.problems.error(e.path, "at least one of these fields must be non-empty: 'custom_id', 'username'", {
      entity: entityRef(e),
    });
  }
}

/** Known plugin names and their config schemas, when the caller gave them; config defaults filled in. */
export function checkPlugin(e: RawEntity, ctx: CheckContext): void {
  const r = checked<PluginEntity>(e);
  const config = r.config ?? {};
  e.derived.config = config;
  const schemas = ctx.opts.pluginSchemas;
  if (!schemas) return;
  const opts = { entity: entityRef(e) };
  const name = String(r.name);
  const schema = Object.hasOwn(schemas, name) ? schemas[name] : undefined;
  if (!schema) {
    ctx.problems.error(
      [...e.path, 'name'],
      `plugin '${name}' not enabled; add it to the 'plugins' configuration property`,
      { ...opts, field: 'name' },
    );
    return;
  }
  validatePluginConfig(schema, config, [...e.path, 'config'], ctx.problems, { ...opts, field: 'config' });
}
