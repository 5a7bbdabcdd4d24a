/**
 * Compares two normalized declarative configurations: which entities were added, removed or changed (field by
 * field), and what that means for routing. Pure: no I/O, no logging. Which routes a reload
 * concerns (`affectedRoutes`, the reload policy's question) is runtime/affected-routes.ts.
 */
import type { DeclarativeConfig, EntityType } from '../config/types.js';
import {
  ENTITY_ORDER,
  Labels,
  certText,
  shownText,
  entities,
  label,
  naturalKey,
  view,
  type AnyEntity,
  type ViewField,
} from './view.js';
import { routingChanges, type RouteChange } from './routing.js';

export type { RouteChange, RouteReach } from './routing.js';

/** One field that differs. `old`/`new` are absent when the field is unset on that side, and always for keys. */
export interface FieldChange {
  /** dotted path inside the entity, e.g. `port`, `healthchecks.active.healthy.interval`, `config.allow` */
  field: string;
  old?: unknown;
  new?: unknown;
  /** set for private keys (`key`, `key_alt`): their values are never carried, only the fact they changed */
  secret?: true;
}

export interface EntityChange {
  type: EntityType;
  /** the entity's id in the new file (in the old file for a removed entity) */
  id: string;
  /** its name (or username, target, plugin name and scope), else its id */
  label: string;
  kind: 'added' | 'removed' | 'changed';
  /** `changed` only: the fields that differ, sorted by field */
  fields?: FieldChange[];
}

export interface ConfigDiff {
  /** true when nothing differs (comments, formatting and entity order never count) */
  identical: boolean;
  format_version?: { old: string; new: string };
  /** sorted by entity type (services, routes, upstreams, targets, certificates, snis, ca_certificates, plugins, consumers), then label, then id */
  entities: EntityChange[];
  /** routes whose traffic goes elsewhere now, sorted by route label */
  routing: RouteChange[];
  counts: { added: number; removed: number; changed: number };
}

/** Diffs two configurations. Entities pair up by id, then by name when only their ids differ. */
export function diffConfigs(oldCfg: DeclarativeConfig, newCfg: DeclarativeConfig): ConfigDiff {
  const oldLabels = new Labels(oldCfg);
  const newLabels = new Labels(newCfg);
  const changes: EntityChange[] = [];
  for (const type of ENTITY_ORDER) diffType(type, oldCfg, newCfg, oldLabels, newLabels, changes);
  const rank = new Map(ENTITY_ORDER.map((t, i) => [t, i]));
  changes.sort((a, b) => rank.get(a.type)! - rank.get(b.type)! || cmp(a.label, b.label) || cmp(a.id, b.id));
  const routing = routingChanges(oldCfg, newCfg, oldLabels, newLabels);
  const counts = { added: 0, removed: 0, changed: 0 };
  for (const c of changes) counts[c.kind]++;
  const out: ConfigDiff = { identical: false, entities: changes, routing, counts };
  if (oldCfg.format_version !== newCfg.format_version)
    out.format_version = { old: oldCfg.format_version, new: newCfg.format_version };
  out.identical = changes.length === 0 && !out.format_version;
  return out;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function diffType(
  type: EntityType,
  oldCfg: DeclarativeConfig,
  newCfg: DeclarativeConfig,
  oldLabels: Labels,
  newLabels: Labels,
  out: EntityChange[],
): void {
  const olds = entities(oldCfg, type);
  const news = new Map(entities(newCfg, type).map((e) => [e.id, e]));
  const pairs: [AnyEntity, AnyEntity][] = [];
  const gone: AnyEntity[] = [];
  for (const o of olds) {
    const n = news.get(o.id);
    if (n) {
      pairs.push([o, n]);
      news.delete(o.id);
    } else gone.push(o);
  }
  // an id given in one file and derived in the other: still the same entity when its name is the same
  const byKey = new Map<string, AnyEntity>();
  for (const n of news.values()) {
    const k = naturalKey(type, n, newLabels);
    if (k !== undefined) byKey.set(k, n);
  }
  for (const o of gone) {
    const k = naturalKey(type, o, oldLabels);
    const n = k === undefined ? undefined : byKey.get(k);
    if (n) {
      pairs.push([o, n]);
      news.delete(n.id);
      byKey.delete(k!);
      continue;
    }
    out.push({ type, id: o.id, label: label(type, o, oldLabels), kind: 'removed' });
  }
  for (const n of news.values()) out.push({ type, id: n.id, label: label(type, n, newLabels), kind: 'added' });
  for (const [o, n] of pairs) {
    const fields = diffFields(view(type, o, oldLabels), view(type, n, newLabels));
    if (o.id !== n.id) fields.unshift({ field: 'id', old: o.id, new: n.id });
    if (fields.length) out.push({ type, id: n.id, label: label(type, n, newLabels), kind: 'changed', fields });
  }
}

function diffFields(a: Map<string, ViewField>, b: Map<string, ViewField>): FieldChange[] {
  const out: FieldChange[] = [];
  const names = [...new Set([...a.keys(), ...b.keys()])].sort();
  for (const f of names) {
    const x = a.get(f),
      y = b.get(f);
    if (x && y && x.cmp === y.cmp) continue;
    if (x?.secret || y?.secret) {
      out.push({ field: f, secret: true });
      continue;
    }
    if (x?.pem || y?.pem) {
      const c: FieldChange = { field: f };
      if (x && x.show !== null) c.old = certText(shownText(x.show));
      if (y && y.show !== null) c.new = certText(shownText(y.show));
      out.push(c);
      continue;
    }
    const c: FieldChange = { field: f };
    // a reference to a renamed or re-identified entity: show both sides' ids when the names read the same
    const same = x && y && JSON.stringify(x.show) === JSON.stringify(y.show);
    if (x && x.show !== null) c.old = same ? x.cmp : x.show;
    if (y && y.show !== null) c.new = same ? y.cmp : y.show;
    out.push(c);
  }
  return out;
}
