/**
 * PROXY protocol headers kong-ts sends to upstreams, so they see the client's address (Kong PR #10495).
 * Node reports IPv4 clients of a dual-stack listener as `::ffff:a.b.c.d`; those are sent as IPv4 when both ends
 * are IPv4, and an IPv4 end is mapped into IPv6 when the other one is IPv6 (a header has one family).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { unmapIPv4 } from '../net/address.js';
import { PP2_TYPE_ALPN, PP2_TYPE_AUTHORITY, V2_SIGNATURE, type ProxyAddress } from './parse.js';

/** The family both addresses can be written in, with the addresses in it; undefined when one is not an IP. */
function family(src: ProxyAddress, dst: ProxyAddress): { six: boolean; s: string; d: string } | undefined {
  const s = unmapIPv4(src.ip);
  const d = unmapIPv4(dst.ip);
  const s4 = isIPv4(s),
    d4 = isIPv4(d);
  if (s4 && d4) return { six: false, s, d };
  if ((!s4 && !isIPv6(s)) || (!d4 && !isIPv6(d))) return undefined;
  return { six: true, s: s4 ? '::ffff:' + s : s, d: d4 ? '::ffff:' + d : d };
}

/** `PROXY TCP4|TCP6 src dst sport dport\r\n`, or `PROXY UNKNOWN\r\n` when an address is not an IP (a unix socket). */
export function encodeProxyV1(src: ProxyAddress, dst: ProxyAddress): Buffer {
  const f = family(src, dst);
  if (!f) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  return Buffer.from(`PROXY ${f.six ? 'TCP6' : 'TCP4'} ${f.s} ${f.d} ${src.port} ${dst.port}\r\n`, 'latin1');
}

function writeV6(buf: Buffer, at: number, ip: string): void {
  // expand '::' and a trailing dotted quad into eight groups
  let text = ip;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  const dot = text.lastIndexOf(':');
  const tail = text.slice(dot + 1);
  if (isIPv4(tail)) {
    const [a, b, c, d] = tail.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, dot + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = rest ? rest.split(':') : [];
  const groups = rest === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  for (let i = 0; i < 8; i++) buf.writeUInt16BE(parseInt(groups[i] ?? '0', 16), at + 2 * i);
}

export interface ProxyV2Options {
  /** PP2_TYPE_AUTHORITY: the SNI or host name the client asked for */
  authority?: string;
  /** PP2_TYPE_ALPN: the negotiated application protocol */
  alpn?: string;
  /** the transport of the proxied connection: 'tcp' (STREAM, the default) or 'udp' (DGRAM, one header per datagram) */
  transport?: 'tcp' | 'udp';
}

/** A v2 PROXY command (TCP, or UDP), with AUTHORITY and ALPN TLVs when given; AF_UNSPEC when an address is not an IP. */
export function encodeProxyV2(src: ProxyAddress, dst: ProxyAddress, opts: ProxyV2Options = {}): Buffer {
  const f = family(src, dst);
  const addrLen = !f ? 0 : f.six ? 36 : 12;
  const authority = opts.authority ? Buffer.from(opts.authority, 'utf8') : undefined;
  const alpn = opts.alpn ? Buffer.from(opts.alpn, 'latin1') : undefined;
  const tlvLen = (authority ? 3 + authority.length : 0) + (alpn ? 3 + alpn.length : 0);
  const buf = Buffer.alloc(16 + addrLen + tlvLen);
  V2_SIGNATURE.copy(buf, 0);
  buf[12] = 0x21; // version 2, PROXY
  const proto = opts.transport === 'udp' ? 0x02 : 0x01; // DGRAM or STREAM
  buf[13] = !f ? 0x00 : (f.six ? 0x20 : 0x10) | proto; // family and transport
  buf.writeUInt16BE(addrLen + tlvLen, 14);
  if (f && !f.six) {
    writeV4(buf, 16, f.s);
    writeV4(buf, 20, f.d);
    buf.writeUInt16BE(src.port, 24);
    buf.writeUInt16BE(dst.port, 26);
  } else if (f) {
    writeV6(buf, 16, f.s);
    writeV6(buf, 32, f.d);
    buf.writeUInt16BE(src.port, 48);
    buf.writeUInt16BE(dst.port, 50);
  }
  let at = 16 + addrLen;
  for (const [type, value] of [
    [PP2_TYPE_ALPN, alpn],
    [PP2_TYPE_AUTHORITY, authority],
  ] as const) {
    if (!value) continue;
    buf[at] = type;
    buf.writeUInt16BE(value.length, at + 1);
    value.copy(buf, at + 3);
    at += 3 + value.length;
  }
  return buf;
}

function writeV4(buf: Buffer, at: number, ip: string): void {
  const p = ip.split('.');
  for (let i = 0; i < 4; i++) buf[at + i] = Number(p[i]);
}
