import type { CheckContext } from './check-context.js';
import { entityRef, type Entities } from './flatten.js';
import { tagValue } from './kong-ts-tags.js';

/** kong-ts tags whose validity depends on other fields of the service: PROXY protocol v1 has no UDP form. */
export function checkServiceTags(ents: Entities, ctx: CheckContext): void {
  for (const e of ents.services) {
    if (e.bad || !Array.isArray(e.raw.tags)) continue;
    const protocol =
      typeof e.raw.protocol === 'string'
        ? e.raw.protocol
        : typeof e.raw.url === 'string'
          ? /^([a-z_]+):\/\//.exec(e.raw.url)?.[1]
          : undefined;
    if (protocol !== 'udp' || tagValue(e.raw.tags, 'proxy_protocol') !== 'v1') continue;
    const index = e.raw.tags.indexOf('kong-ts.proxy_protocol=v1');
    ctx.problems.error(
      [...e.path, 'tags', index],
      "tag 'kong-ts.proxy_protocol=v1' on a udp service: PROXY protocol v1 has no datagram form, use v2",
      { entity: entityRef(e), field: 'tags' },
    );
  }
}
