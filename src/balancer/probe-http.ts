import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { HealthchecksConfig } from '../config/types.js';
import { systemStore } from '../tls/upstream.js';
import type { CheckResult } from './types.js';
import { finishOnce, watch, type Probe, type ProbeDone } from './probe-tcp.js';

type Active = HealthchecksConfig['active'];

/** A status line longer than this without its end is not HTTP. */
const MAX_STATUS_LINE = 8 * 1024;

/**
 * Kong's http and https probes (lua-resty-healthcheck): `GET http_path HTTP/1.0` with `Host` = the target's host
 * and the configured `headers`, over TLS for https (SNI `https_sni`, else the target's host when it is a name;
 * `https_verify_certificate` against the system trust store). Only the status line is read: a status in
 * `healthy.http_statuses` is a success, one in `unhealthy.http_statuses` (or no status line) an http_failure, any
 * other status counts neither way. The request bytes are built at configure time, once per target host.
 */
export function httpProbe(active: Active, tls: boolean): Probe {
  const healthy = new Set(active.healthy.http_statuses ?? [200, 302]);
  const unhealthy = new Set(active.unhealthy.http_statuses ?? [429, 404, 500, 501, 502, 503, 504, 505]);
  const path = active.http_path ?? '/';
  let extra = '';
  for (const [name, values] of Object.entries(active.headers ?? {})) {
    for (const v of Array.isArray(values) ? values : [values])
      extra += `${name}: ${String(v).replace(/[\r\n]/g, '')}\r\n`;
  }
  const requests = new Map<string, Buffer>();
  const requestFor = (host: string): Buffer => {
    let r = requests.get(host);
    if (r === undefined) {
      const h = isIP(host) === 6 ? `[${host}]` : host;
      r = Buffer.from(
        `GET ${path} HTTP/1.0\r\nHost: ${h}\r\nUser-Agent: kong-ts health check\r\n${extra}Connection: close\r\n\r\n`,
        'latin1',
      );
      requests.set(host, r);
    }
    return r;
  };
  const verdict = (status: number | undefined) =>
    status === undefined
      ? ('http_failure' as const)
      : healthy.has(status)
        ? ('success' as const)
        : unhealthy.has(status)
          ? ('http_failure' as const)
          : undefined;
  return (peer, timeoutMs, done) => {
    let socket: Socket;
    if (tls) {
      const name = active.https_sni ?? (isIP(peer.hostname) === 0 ? peer.hostname : undefined);
      const verify = active.https_verify_certificate !== false;
      socket = tlsConnect({
        host: peer.ip,
        port: peer.port,
        servername: name,
        rejectUnauthorized: verify,
        ca: verify ? systemStore() : undefined,
      });
    } else {
      socket = netConnect({ host: peer.ip, port: peer.port });
    }
    watch(
      socket,
      timeoutMs,
      done,
      () => {
        socket.write(requestFor(peer.hostname));
        readStatus(socket, done, verdict);
      },
      tls ? 'secureConnect' : 'connect',
    );
    return socket;
  };
}

function readStatus(
  socket: Socket,
  done: ProbeDone,
  verdict: (status: number | undefined) => CheckResult | undefined,
): void {
  let head = '';
  const judge = (): void => {
    const m = /^HTTP\/\d+(?:\.\d+)?\s+(\d{3})/.exec(head);
    finishOnce(socket, done, verdict(m ? Number(m[1]) : undefined));
  };
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => {
    head += d;
    if (head.includes('\r\n') || head.includes('\n') || head.length > MAX_STATUS_LINE) judge();
  });
  socket.once('end', judge);
}
