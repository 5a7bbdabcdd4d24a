/**
 * Rebuilds a good load's configuration on the main thread from the load thread's chunks, a slice at a time. Every
 * entity is frozen as it arrives (a snapshot never changes), and its content fingerprint is kept beside it for the
 * snapshot builder. An entity sent as a reference is the base config's own object (frozen already), with its
 * fingerprint.
 */
import type { Slicer } from '../slices.js';
import type { ChunkReader } from './loader.js';
import { emptyConfig, ENTITY_TYPES, type DeclarativeConfig, type EntityType } from './types.js';

/** entity type → id → fingerprint of the entity's content (md5 of its JSON). */
export type Fingerprints = Record<EntityType, Map<string, string>>;

function freezeDeep(v: unknown): void {
  if (v === null || typeof v !== 'object' || Object.isFrozen(v)) return;
  Object.freeze(v);
  for (const x of Object.values(v)) freezeDeep(x);
}

/** A config the main thread holds, with its fingerprints: what a load's references point into. */
export interface Assembled {
  config: DeclarativeConfig;
  fingerprints: Fingerprints;
}

export async function assemble(
  formatVersion: string,
  chunks: ChunkReader,
  slicer: Slicer,
  base?: Assembled,
): Promise<Assembled> {
  const config = emptyConfig(formatVersion);
  const fingerprints = {} as Fingerprints;
  for (const t of ENTITY_TYPES) fingerprints[t] = new Map();
  try {
    for (let c = chunks.next(); c; c = chunks.next()) {
      if ('origins' in c) {
        for (const [id, o] of c.origins) config.origins[id] = Object.freeze(o);
      } else {
        const list = config[c.type] as object[];
        const fps = fingerprints[c.type];
        const from = base?.config[c.type] as { id: string }[] | undefined;
        const fromFps = base?.fingerprints[c.type];
        for (let i = 0; i < c.items.length; i++) {
          const item = c.items[i]!;
          if (typeof item === 'number') {
            const e = from?.[item];
            const fp = e && fromFps?.get(e.id);
            if (!e || fp === undefined) throw new Error(`the load referred to ${c.type}[${item}], not in the base`);
            list.push(e);
            fps.set(e.id, fp);
            continue;
          }
          const e = item as { id: string };
          freezeDeep(e);
          list.push(e);
          fps.set(e.id, c.fps[i]!);
        }
      }
      await slicer.tick();
    }
  } finally {
    chunks.close();
  }
  for (const t of ENTITY_TYPES) Object.freeze(config[t]);
  Object.freeze(config.origins);
  return { config: Object.freeze(config), fingerprints };
}
