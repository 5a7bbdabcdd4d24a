import { isIP } from 'node:net';
import type { CheckContext } from './check-context.js';
import { entityRef, isObject, type RawEntity } from './flatten.js';
import { isHostname } from './check-route.js';
import { tagValue } from './kong-ts-tags.js';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Kong's rules for `healthchecks.active` that JSON Schema does not say: `https_sni` is a name (no IP, no port),
 * `headers` keys are HTTP header names, `http_path` is percent-encoded properly. And kong-ts's own: the
 * send/expect tags apply to `type: tcp` only.
 */
export function checkHealthchecks(e: RawEntity, ctx: CheckContext): void {
  const hc = e.raw.healthchecks;
  const active = isObject(hc) && isObject(hc.active) ? hc.active : undefined;
  const at = [...e.path, 'healthchecks', 'active'];
  const opts = { entity: entityRef(e), field: 'healthchecks' };
  if (active) {
    const sni = active.https_sni;
    if (typeof sni === 'string') {
      let msg: string | undefined;
      if (isIP(sni) !== 0) msg = 'must not be an IP';
      else if (/:\d*$/.test(sni)) msg = 'must not have a port';
      else if (!isHostname(sni)) msg = `invalid value: ${sni}`;
      if (msg) ctx.problems.error([...at, 'https_sni'], msg, opts);
    }
    if (isObject(active.headers)) {
      for (const name of Object.keys(active.headers)) {
        if (!TOKEN.test(name))
          ctx.problems.error(
            [...at, 'headers', name],
            `bad header name '${name}', allowed characters are A-Z, a-z, 0-9, '_', and '-'`,
            opts,
          );
      }
    }
    const path = active.http_path;
    if (typeof path === 'string' && /%(?![0-9a-fA-F]{2})/.test(path)) {
      ctx.problems.error([...at, 'http_path'], `invalid path: '${path}' (invalid percent-encoding found)`, opts);
    } else if (typeof path === 'string' && !/^[\w.\-~/%:@!$&'()*+,;=]*$/.test(path)) {
      ctx.problems.error(
        [...at, 'http_path'],
        `invalid path: '${path}' (characters outside of the reserved list of RFC 3986 found)`,
        opts,
      );
    }
  }
  const tags = Array.isArray(e.raw.tags) ? e.raw.tags.filter((t): t is string => typeof t === 'string') : [];
  const tcpCheck =
    tagValue(tags, 'healthcheck.send') !== undefined || tagValue(tags, 'healthcheck.expect') !== undefined;
  const type = active?.type ?? 'http'; // one of the schema's names: the upstream passed the schema
  if (tcpCheck && type !== 'tcp') {
    ctx.problems.error(
      [...e.path, 'tags'],
      `tags kong-ts.healthcheck.send/expect need healthchecks.active.type 'tcp' (it is '${type as string}')`,
      { entity: entityRef(e), field: 'tags' },
    );
  }
}
