import type { DeclarativeConfig } from './types.js';
import type { CompiledService, Router } from '../router/types.js';
import { compileRouter, compileService } from '../router/compile.js';

/**
 * Everything the data path needs for one version of the declarative file, built before it is used and never
 * mutated: a connection reads `server.current` once at accept and keeps this object for its whole life.
 */
export interface Snapshot {
  readonly generation: number;
  /** md5 of the raw file content (Kong's configuration_hash) */
  readonly hash: string;
  readonly file: string;
  /** the raw content, for GET /config */
  readonly text: string;
  readonly loadedAt: number;
  readonly config: DeclarativeConfig;
  readonly services: ReadonlyMap<string, CompiledService>;
  readonly router: Router;
}

export interface SnapshotInput {
  config: DeclarativeConfig;
  hash: string;
  file: string;
  text: string;
  generation: number;
}

/** Recursively freezes plain data (objects and arrays); Maps and class instances are left as they are. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    if (Array.isArray(value) || Object.getPrototypeOf(value) === Object.prototype) {
      for (const v of Object.values(value as object)) deepFreeze(v);
    }
  }
  return value;
}

/** Compiles a checked configuration into a snapshot. Throws only on a bug: the input was validated. */
export function buildSnapshot(input: SnapshotInput): Snapshot {
  const config = deepFreeze(input.config);
  const services = new Map<string, CompiledService>();
  for (const s of config.services) services.set(s.id, compileService(s));
  const router = compileRouter(config.routes, services);
  return Object.freeze({
    generation: input.generation,
    hash: input.hash,
    file: input.file,
    text: input.text,
    loadedAt: Date.now(),
    config,
    services,
    router,
  });
}
