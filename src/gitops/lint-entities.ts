/**
 * Entity rules of `config lint`: services no served route reaches (`service-unreachable`), upstreams whose
 * targets all weigh 0 (`upstream-no-weight`), plugins on routes or services whose protocols they never run on
 * (`plugin-protocol-mismatch`, the chain's rule: a plugin runs on a connection whose protocol both it and the
 * route name).
 */
import type { PluginEntity, RouteEntity } from '../config/types.js';
import { isStreamProtocol } from '../net/protocols.js';
import { labelOf, type LintContext } from './lint-types.js';

function streamProtocols(list: readonly string[]): string[] {
  return list.filter(isStreamProtocol);
}

export function lintEntities(ctx: LintContext): void {
  const { config } = ctx;
  const served = new Set(ctx.router.routes.map((r) => r.id));
  const reached = new Set<string>();
  for (const r of ctx.router.routes) if (r.service) reached.add(r.service.id);
  for (const s of config.services) {
    if (!s.enabled || reached.has(s.id)) continue;
    const routes = config.routes.filter((r) => r.service === s.id);
    const why =
      routes.length === 0
        ? 'no route names it'
        : `its routes (${routes.map(labelOf).join(', ')}) serve no stream protocol`;
    ctx.add('service-unreachable', 'services', s.id, `service ${labelOf(s)} is reached by no route: ${why}`);
  }

  const targets = new Map<string, number[]>();
  for (const t of config.targets) {
    const l = targets.get(t.upstream);
    if (l) l.push(t.weight);
    else targets.set(t.upstream, [t.weight]);
  }
  for (const u of config.upstreams) {
    const w = targets.get(u.id);
    if (!w || w.some((x) => x > 0)) continue;
    ctx.add(
      'upstream-no-weight',
      'upstreams',
      u.id,
      `every target of upstream ${labelOf(u)} has weight 0 (${w.length} target${w.length === 1 ? '' : 's'}): connections to its services find no peer`,
    );
  }

  const routesById = new Map(config.routes.map((r) => [r.id, r]));
  const routesOfService = new Map<string, RouteEntity[]>();
  for (const r of config.routes) {
    if (!r.service || !served.has(r.id)) continue;
    const l = routesOfService.get(r.service);
    if (l) l.push(r);
    else routesOfService.set(r.service, [r]);
  }
  for (const p of config.plugins) {
    const mine = streamProtocols(p.protocols);
    // plugins with no stream protocol at all are reported by `config parse` already ("ignored")
    if (!p.enabled || p.consumer || mine.length === 0) continue;
    if (p.route) {
      const r = routesById.get(p.route);
      if (r && served.has(r.id) && !r.protocols.some((x) => mine.includes(x)))
        mismatch(ctx, p, [r], `route ${labelOf(r)}`);
    } else if (p.service) {
      const rs = routesOfService.get(p.service) ?? [];
      const s = config.services.find((x) => x.id === p.service);
      if (rs.length && s && !rs.some((r) => r.protocols.some((x) => mine.includes(x))))
        mismatch(ctx, p, rs, `service ${labelOf(s)}`);
    }
  }
}

function mismatch(ctx: LintContext, p: PluginEntity, routes: RouteEntity[], where: string): void {
  const theirs = [...new Set(routes.flatMap((r) => streamProtocols(r.protocols)))];
  ctx.add(
    'plugin-protocol-mismatch',
    'plugins',
    p.id,
    `plugin '${p.instance_name ?? p.name}' on ${where} never runs: it runs on [${streamProtocols(p.protocols).join(', ')}] ` +
      `but the route${routes.length > 1 ? 's' : ''} serve${routes.length > 1 ? '' : 's'} [${theirs.join(', ')}]; add one of them to the plugin's protocols`,
  );
}
