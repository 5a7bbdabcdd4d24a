/**
 * PROXY protocol v2 over UDP (HAProxy's doc/proxy-protocol.txt): the header and the payload travel in the same
 * datagram, every datagram carries its own header, and the receiver parses each one on its own. There is no v1 for
 * datagrams (v1 names TCP4/TCP6 only).
 */
import { encodeProxyV2 } from './encode.js';
import { parseProxyHeader, type ProxyAddress } from './parse.js';

/** The v2 header (PROXY, UDP over IPv4 or IPv6) to put in front of every datagram of one session. */
export function datagramHeader(src: ProxyAddress, dst: ProxyAddress): Buffer {
  return encodeProxyV2(src, dst, { transport: 'udp' });
}

export type Unwrapped = { ok: true; payload: Buffer; source?: ProxyAddress } | { ok: false; reason: string };

/**
 * Splits a received datagram into its v2 header and payload. `source` is the client's address from a PROXY
 * command (a LOCAL command, the sender's own traffic, has none). A header cut short, a v1 header, or one that says
 * TCP is refused: a datagram holds the whole header or it is not one.
 */
export function unwrapDatagram(msg: Buffer): Unwrapped {
  if (msg.length > 0 && msg[0] === 0x50)
    return { ok: false, reason: 'PROXY protocol v1 header on a datagram (v2 only)' };
  const r = parseProxyHeader(msg);
  if (r.kind === 'need-more') return { ok: false, reason: 'datagram shorter than its PROXY protocol v2 header' };
  if (r.kind === 'error') return { ok: false, reason: r.reason };
  const h = r.header;
  if (h.command === 'PROXY' && h.transport === 'tcp')
    return { ok: false, reason: 'PROXY protocol v2 header says STREAM (TCP) on a datagram' };
  return { ok: true, payload: msg.subarray(r.length), source: h.command === 'PROXY' ? h.source : undefined };
}
