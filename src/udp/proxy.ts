/**
 * PROXY protocol v2 on the UDP path (proxy-protocol/datagram.ts does the bytes):
 * - received on `udp proxy_protocol` listeners from `trusted_ips` only: every datagram must start with a v2
 *   header, which is stripped; the client address inside is the session's client (routing, plugins, logs, the
 *   session key), and replies go to the address the datagrams come from (the sending proxy).
 * - sent to the upstream of a service tagged `kong-ts.proxy_protocol=v2`: the session's header, built once,
 *   goes in front of every datagram (scatter/gather send, no copy).
 */
import type { Logger } from '../log.js';
import { datagramHeader, unwrapDatagram, type TrustedIps } from '../proxy-protocol/index.js';
import { hostPort } from '../net/address.js';

/** What these functions read of a listener (the session's UdpListener has it), kept here to import nothing back. */
interface ListenerAddress {
  readonly spec: { readonly text: string };
  readonly host: string;
  readonly port: number;
}

export interface Received {
  msg: Buffer;
  ip: string;
  port: number;
}

/** The payload and the client of a datagram on a proxy_protocol listener; undefined when it must be dropped. */
export function receiveProxied(
  trusted: TrustedIps | undefined,
  l: ListenerAddress,
  msg: Buffer,
  ip: string,
  port: number,
  logger: Logger,
): Received | undefined {
  if (!trusted?.isTrusted(ip)) {
    logger.debug(
      { src: hostPort(ip, port), listen: l.spec.text },
      'udp datagram on a proxy_protocol listener from an address not in trusted_ips: dropped',
    );
    return undefined;
  }
  const u = unwrapDatagram(msg);
  if (!u.ok) {
    logger.debug(
      { src: hostPort(ip, port), reason: u.reason },
      'udp datagram without a valid PROXY protocol v2 header: dropped',
    );
    return undefined;
  }
  return u.source ? { msg: u.payload, ip: u.source.ip, port: u.source.port } : { msg: u.payload, ip, port };
}

/** The v2 header for the upstream datagrams of a session, or null when its service sends none. */
export function upstreamHeader(
  proxyProtocol: 1 | 2 | undefined,
  clientIp: string,
  clientPort: number,
  l: ListenerAddress,
): Buffer | null {
  if (proxyProtocol !== 2) return null;
  return datagramHeader({ ip: clientIp, port: clientPort }, { ip: l.host, port: l.port });
}
