/**
 * The warning that comes with `stream_tls_detect = auto`: a `tls` / `tls_passthrough` route without destinations
 * applies on every plain listener, so each of them reads a client's first bytes before routing; where a tcp route
 * could take plain connections too, a server-first protocol (SMTP, SSH, MySQL: the client waits for a banner) is
 * routed only after `stream_preread_timeout`. `config parse` and `start` (and each reload) say so, naming the route
 * (file:line:column) and the listener. A warning, never an error: the file is valid.
 */
import type { DeclarativeConfig, Problem } from '../config/types.js';
import { compileRouter, compileService } from '../router/compile.js';
import type { CompiledService, Router } from '../router/types.js';
import { tlsListeners, type ListenerAddress, type TlsListener } from '../router/tls-listeners.js';

/** Stands for every plain listener when `config parse` is not told the real ones (any address, any port). */
export const ANY_PLAIN_LISTENER: ListenerAddress = Object.freeze({
  host: '0.0.0.0',
  port: 0,
  ssl: false,
  udp: false,
  text: '',
});

/** Compiles the router of a loaded configuration (for `config parse`, which builds no snapshot). */
export function routerOf(config: DeclarativeConfig): Router {
  const services = new Map<string, CompiledService>(config.services.map((s) => [s.id, compileService(s)]));
  return compileRouter(config.routes, services);
}

/**
 * One warning per (route without destinations, plain listener where it makes a tcp route wait). `found`: the
 * listeners' TLS routes as a snapshot build worked them out (else worked out here, from the router).
 */
export function tlsDetectWarnings(
  router: Router,
  config: DeclarativeConfig,
  listeners: readonly ListenerAddress[],
  opts: { mode: 'auto' | 'off'; prereadMs?: number; found?: readonly TlsListener[] },
): Problem[] {
  if (opts.mode === 'off') return [];
  const out: Problem[] = [];
  const wait =
    opts.prereadMs === undefined ? 'stream_preread_timeout' : `stream_preread_timeout (${opts.prereadMs} ms)`;
  for (const t of opts.found ?? tlsListeners(router, listeners)) {
    if (!t.tcp) continue; // no plain connection can be routed there: waiting delays nothing
    for (const r of t.open) {
      const o = config.origins[r.id];
      const name = r.name ? `'${r.name}'` : `without a name (id ${r.id})`;
      const where =
        t.listener === ANY_PLAIN_LISTENER
          ? 'every plain listener (stream_listen entries without ssl)'
          : `the plain listener '${t.listener.text}'`;
      out.push({
        severity: 'warning',
        file: o?.file ?? '',
        line: o?.line ?? 1,
        column: o?.column ?? 1,
        path: o?.path ?? '',
        entity: { type: 'routes', id: r.id, name: r.name },
        message:
          `route ${name} (${r.entity.protocols.join(', ')}, no destinations) makes ${where} read each ` +
          `client's first bytes before routing: a server-first protocol (SMTP, SSH, MySQL) on a tcp route there gets ` +
          `its banner only after ${wait}. Give the route destinations, serve TLS on an ssl listener, or set ` +
          'stream_tls_detect = off',
      });
    }
  }
  return out;
}
