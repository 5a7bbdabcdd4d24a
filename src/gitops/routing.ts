/**
 * Routing changes in words: for each route added, removed or changed, which connections it takes and where they
 * go now, e.g. `route 'redis' now sends dst :6379 from 10.0.0.0/8 to service 'redis-b' (was 'redis-a')`.
 */
import type { DeclarativeConfig, RouteEntity, ServiceEntity } from '../config/types.js';
import { SENTENCE_FIELDS, unservedBy, type MatchFieldName } from '../router/match-fields.js';
import type { Labels } from './view.js';
import { hostPort } from '../net/address.js';

/**
 * What one route does in one configuration: each match field's values as people read them, sorted (sources and
 * destinations as `10.0.0.0/8`, `:1234`, `10.0.0.1:1234`), then where its connections go.
 */
export type RouteReach = Record<MatchFieldName, string[]> & {
  /** the service's name (or id); null when the route has none (its connections are closed) */
  service: string | null;
  /** where the service sends traffic: `tcp://10.0.0.1:6379` */
  target: string | null;
  /** why the route is not served (service disabled, no stream protocol); absent when it is */
  not_served?: string;
};

export interface RouteChange {
  id: string;
  route: string;
  /** `service`: the route is the same but its service now sends elsewhere */
  kind: 'added' | 'removed' | 'changed' | 'service';
  old?: RouteReach;
  new?: RouteReach;
  /** the sentence the text output prints */
  message: string;
}

function targetText(s: ServiceEntity): string {
  return `${s.protocol}://${hostPort(s.host, s.port)}`;
}

function reach(r: RouteEntity, services: Map<string, ServiceEntity>, labels: Labels): RouteReach {
  const svc = r.service ? services.get(r.service) : undefined;
  const fields = {} as Record<MatchFieldName, string[]>;
  for (const f of SENTENCE_FIELDS) fields[f.name] = f.texts(r);
  const out: RouteReach = {
    ...fields,
    service: r.service ? labels.of(r.service) : null,
    target: svc ? targetText(svc) : null,
  };
  const unserved = unservedBy(r);
  if (unserved) out.not_served = `${unserved.name} ${out[unserved.name].join(',')} are not served by kong-ts`;
  else if (svc && !svc.enabled) out.not_served = `service '${out.service}' is disabled`;
  return out;
}

/** `tls sni a.example.com dst :443 from 10.0.0.0/8` (the protocol is left out when it is plain tcp). */
export function matchText(r: RouteReach): string {
  const parts: string[] = [];
  for (const f of SENTENCE_FIELDS) {
    const p = f.phrase(r[f.name]);
    if (p !== undefined) parts.push(p);
  }
  return parts.join(' ');
}

function toText(r: RouteReach): string {
  return r.service === null ? 'no service (connections are closed)' : `service '${r.service}'`;
}

function sentence(
  name: string,
  o: RouteReach | undefined,
  n: RouteReach | undefined,
  oldSvc: string | undefined,
  newSvc: string | undefined,
): { kind: RouteChange['kind']; message: string } | undefined {
  const r = `route '${name}'`;
  if (!o || o.not_served) {
    if (!n) return undefined;
    if (n.not_served) return o ? undefined : { kind: 'added', message: `${r} added but not served: ${n.not_served}` };
    const was = o ? ` (was not served: ${o.not_served})` : '';
    return { kind: o ? 'changed' : 'added', message: `${r} now sends ${matchText(n)} to ${toText(n)}${was}` };
  }
  if (!n) return { kind: 'removed', message: `${r} no longer sends ${matchText(o)} to ${toText(o)}` };
  if (n.not_served)
    return { kind: 'changed', message: `${r} no longer sends ${matchText(o)} to ${toText(o)} (${n.not_served})` };
  const om = matchText(o),
    nm = matchText(n);
  const svcMoved = (oldSvc ?? '') !== (newSvc ?? '');
  if (om !== nm || svcMoved) {
    const oldTo = o.service === null ? 'no service' : `'${o.service}'`;
    const was = om !== nm && svcMoved ? `${om} to ${oldTo}` : om !== nm ? om : oldTo;
    return { kind: 'changed', message: `${r} now sends ${nm} to ${toText(n)} (was ${was})` };
  }
  if (o.target !== n.target) {
    return { kind: 'service', message: `${r} sends ${nm} to ${toText(n)}, now at ${n.target} (was ${o.target})` };
  }
  return undefined;
}

/** Every route whose traffic changes between two configurations, sorted by route name, then id. */
export function routingChanges(
  oldCfg: DeclarativeConfig,
  newCfg: DeclarativeConfig,
  oldLabels: Labels,
  newLabels: Labels,
): RouteChange[] {
  const oldSvcs = new Map(oldCfg.services.map((s) => [s.id, s]));
  const newSvcs = new Map(newCfg.services.map((s) => [s.id, s]));
  const news = new Map(newCfg.routes.map((r) => [r.id, r]));
  const newByName = new Map(newCfg.routes.filter((r) => r.name !== undefined).map((r) => [r.name!, r]));
  const oldIds = new Set(oldCfg.routes.map((r) => r.id));
  const out: RouteChange[] = [];
  const push = (o: RouteEntity | undefined, n: RouteEntity | undefined): void => {
    const or = o && reach(o, oldSvcs, oldLabels),
      nr = n && reach(n, newSvcs, newLabels);
    const s = sentence((n ?? o)!.name ?? (n ?? o)!.id, or, nr, o?.service ?? undefined, n?.service ?? undefined);
    if (!s) return;
    const c: RouteChange = {
      id: (n ?? o)!.id,
      route: (n ?? o)!.name ?? (n ?? o)!.id,
      kind: s.kind,
      message: s.message,
    };
    if (or) c.old = or;
    if (nr) c.new = nr;
    out.push(c);
  };
  for (const o of oldCfg.routes) {
    let n = news.get(o.id);
    if (!n && o.name !== undefined) {
      const byName = newByName.get(o.name);
      if (byName && !oldIds.has(byName.id)) n = byName;
    }
    if (n) news.delete(n.id);
    push(o, n);
  }
  for (const n of news.values()) push(undefined, n);
  return out.sort((a, b) => (a.route < b.route ? -1 : a.route > b.route ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
