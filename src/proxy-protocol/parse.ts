/**
 * PROXY protocol header parser, versions 1 (text) and 2 (binary), after HAProxy's proxy-protocol.txt.
 * It works on whatever bytes have arrived: it answers `need-more` until a whole header is there, never throws and
 * never reads past the buffer, so a hostile or truncated header costs at most a bounded amount of memory.
 */
import { parseAddr } from '../router/ip.js';

export interface ProxyAddress {
  ip: string;
  port: number;
}

export interface ProxyTlv {
  type: number;
  value: Buffer;
}

/** The `PP2_TYPE_SSL` TLV, decoded. */
export interface ProxySsl {
  /** bit field: 0x01 client connected over SSL/TLS, 0x02 sent a certificate on this connection, 0x04 in the session */
  client: number;
  /** 0 when the client certificate was verified */
  verify: number;
  version?: string;
  cn?: string;
  cipher?: string;
  sigAlg?: string;
  keyAlg?: string;
}

export interface ProxyHeader {
  version: 1 | 2;
  /** LOCAL: the connection was made by the proxy itself (health check): use the real peer address */
  command: 'PROXY' | 'LOCAL';
  /** 'tcp' or 'udp' for v2 (v1 is always tcp); undefined when unknown */
  transport?: 'tcp' | 'udp';
  source?: ProxyAddress;
  destination?: ProxyAddress;
  tlvs: ProxyTlv[];
  /** PP2_TYPE_AUTHORITY: the host name the client asked for (the SNI when the sender terminated TLS) */
  authority?: string;
  /** PP2_TYPE_ALPN */
  alpn?: string;
  ssl?: ProxySsl;
}

export type ParseResult =
  { kind: 'need-more' } | { kind: 'error'; reason: string } | { kind: 'ok'; header: ProxyHeader; length: number };

export const V1_MAX = 107;
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Default bound of a v2 header's payload (addresses and TLVs); HAProxy itself sends a few hundred bytes at most. */
export const V2_MAX_PAYLOAD = 4096;

export const PP2_TYPE_ALPN = 0x01;
export const PP2_TYPE_AUTHORITY = 0x02;
export const PP2_TYPE_CRC32C = 0x03;
export const PP2_TYPE_NOOP = 0x04;
export const PP2_TYPE_UNIQUE_ID = 0x05;
export const PP2_TYPE_SSL = 0x20;
const PP2_SUBTYPE_SSL_VERSION = 0x21;
const PP2_SUBTYPE_SSL_CN = 0x22;
const PP2_SUBTYPE_SSL_CIPHER = 0x23;
const PP2_SUBTYPE_SSL_SIG_ALG = 0x24;
const PP2_SUBTYPE_SSL_KEY_ALG = 0x25;

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');

const NEED_MORE: ParseResult = Object.freeze({ kind: 'need-more' });

function error(reason: string): ParseResult {
  return { kind: 'error', reason };
}

/** True when the first `n` bytes of `buf` equal the first `n` of `ref`. */
function startsLike(buf: Buffer, ref: Buffer, n: number): boolean {
  for (let i = 0; i < n; i++) if (buf[i] !== ref[i]) return false;
  return true;
}

/**
 * Parses a PROXY protocol header at the start of `buf`. `length` in the result is the header's size: the bytes
 * after it belong to the proxied stream. `maxV2Payload` bounds the v2 length field.
 */
export function parseProxyHeader(buf: Buffer, maxV2Payload = V2_MAX_PAYLOAD): ParseResult {
  if (buf.length === 0) return NEED_MORE;
  if (buf[0] === 0x0d) {
    const n = Math.min(buf.length, V2_SIGNATURE.length);
    if (!startsLike(buf, V2_SIGNATURE, n)) return error('not a PROXY protocol header');
    return n < V2_SIGNATURE.length ? NEED_MORE : parseV2(buf, maxV2Payload);
  }
  const n = Math.min(buf.length, V1_PREFIX.length);
  if (!startsLike(buf, V1_PREFIX, n)) return error('not a PROXY protocol header');
  return parseV1(buf);
}

// ---- version 1 ----

function parseV1(buf: Buffer): ParseResult {
  const limit = Math.min(buf.length, V1_MAX);
  let end = -1;
  for (let i = V1_PREFIX.length; i < limit; i++) {
    const c = buf[i]!;
    if (c === 0x0a) {
      if (buf[i - 1] !== 0x0d) return error('v1 header: line must end with CRLF');
      end = i - 1;
      break;
    }
    // printable ASCII only: a binary stream is not a header, and this bounds what reaches the logs
    if ((c < 0x20 || c > 0x7e) && c !== 0x0d) return error('v1 header: unexpected byte 0x' + c.toString(16));
  }
  if (end < 0) return buf.length >= V1_MAX ? error(`v1 header: no CRLF within ${V1_MAX} bytes`) : NEED_MORE;
  const line = buf.toString('latin1', V1_PREFIX.length, end);
  const length = end + 2;
  const parts = line.split(' ');
  if (parts[0] === 'UNKNOWN') {
    // the sender does not know the addresses: the receiver must use the real connection's, ignoring the rest
    return { kind: 'ok', length, header: { version: 1, command: 'PROXY', transport: 'tcp', tlvs: [] } };
  }
  if (parts.length !== 5) return error(`v1 header: expected 'PROXY TCP4|TCP6 src dst sport dport', got '${line}'`);
  const [proto, sip, dip, sport, dport] = parts as [string, string, string, string, string];
  if (proto !== 'TCP4' && proto !== 'TCP6') return error(`v1 header: unknown protocol '${proto}'`);
  const six = proto === 'TCP6';
  const src = v1Addr(sip, six);
  const dst = v1Addr(dip, six);
  if (src === undefined || dst === undefined) return error(`v1 header: invalid ${proto} address in '${line}'`);
  const sp = v1Port(sport);
  const dp = v1Port(dport);
  if (sp < 0 || dp < 0) return error(`v1 header: invalid port in '${line}'`);
  return {
    kind: 'ok',
    length,
    header: {
      version: 1,
      command: 'PROXY',
      transport: 'tcp',
      source: { ip: src, port: sp },
      destination: { ip: dst, port: dp },
      tlvs: [],
    },
  };
}

function v1Addr(s: string, six: boolean): string | undefined {
  if (six !== s.includes(':')) return undefined;
  return parseAddr(s) ? s : undefined;
}

function v1Port(s: string): number {
  // the spec forbids leading zeros; "0" itself is fine
  if (!/^(0|[1-9]\d{0,4})$/.test(s)) return -1;
  const n = Number(s);
  return n <= 65535 ? n : -1;
}

// ---- version 2 ----

function parseV2(buf: Buffer, maxPayload: number): ParseResult {
  if (buf.length < 16) return NEED_MORE;
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return error(`v2 header: unsupported version ${verCmd >> 4}`);
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return error(`v2 header: unknown command ${cmd}`);
  const fam = buf[13]! >> 4;
  const proto = buf[13]! & 0x0f;
  if (fam > 3) return error(`v2 header: unknown address family ${fam}`);
  if (proto > 2) return error(`v2 header: unknown transport ${proto}`);
  const payload = buf.readUInt16BE(14);
  if (payload > maxPayload)
    return error(`v2 header: ${payload} bytes of addresses and TLVs, more than the ${maxPayload} allowed`);
  const length = 16 + payload;
  if (buf.length < length) return NEED_MORE;
  const addrLen = fam === 1 ? 12 : fam === 2 ? 36 : fam === 3 ? 216 : 0;
  if (payload < addrLen) return error(`v2 header: ${payload} bytes cannot hold the addresses (${addrLen} needed)`);
  const header: ProxyHeader = {
    version: 2,
    command: cmd === 0 ? 'LOCAL' : 'PROXY',
    transport: proto === 1 ? 'tcp' : proto === 2 ? 'udp' : undefined,
    tlvs: [],
  };
  // LOCAL connections carry addresses at most by accident: the receiver keeps the real ones
  if (cmd === 1 && fam === 1) {
    header.source = { ip: v4(buf, 16), port: buf.readUInt16BE(24) };
    header.destination = { ip: v4(buf, 20), port: buf.readUInt16BE(26) };
  } else if (cmd === 1 && fam === 2) {
    header.source = { ip: v6(buf, 16), port: buf.readUInt16BE(48) };
    header.destination = { ip: v6(buf, 32), port: buf.readUInt16BE(50) };
  }
  const problem = readTlvs(buf, 16 + addrLen, length, header);
  return problem ? error(problem) : { kind: 'ok', header, length };
}

function v4(buf: Buffer, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
}

/** RFC 5952 text form: lower case, the longest run (2 or more) of zero groups as `::`, IPv4-mapped as dotted. */
export function formatV6(buf: Buffer, at: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(buf.readUInt16BE(at + 2 * i));
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return '::ffff:' + v4(buf, at + 12);
  }
  let best = -1,
    bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number, b: number) =>
    g
      .slice(a, b)
      .map((x) => x.toString(16))
      .join(':');
  return best < 0 ? hex(0, 8) : `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

const v6 = formatV6;

/** Reads TLVs in [from, to); returns a reason when one overruns the header. */
function readTlvs(buf: Buffer, from: number, to: number, header: ProxyHeader): string | undefined {
  let at = from;
  while (at < to) {
    if (to - at < 3) return 'v2 header: truncated TLV';
    const type = buf[at]!;
    const len = buf.readUInt16BE(at + 1);
    const start = at + 3;
    if (start + len > to) return `v2 header: TLV 0x${type.toString(16)} of ${len} bytes overruns the header`;
    // copied out: the header outlives the read buffer it arrived in
    const value = Buffer.from(buf.subarray(start, start + len));
    header.tlvs.push({ type, value });
    if (type === PP2_TYPE_AUTHORITY) header.authority = value.toString('utf8');
    else if (type === PP2_TYPE_ALPN) header.alpn = value.toString('latin1');
    else if (type === PP2_TYPE_SSL) {
      const ssl = readSsl(value);
      if (!ssl) return 'v2 header: malformed SSL TLV';
      header.ssl = ssl;
    }
    at = start + len;
  }
  return undefined;
}

function readSsl(v: Buffer): ProxySsl | undefined {
  if (v.length < 5) return undefined;
  const ssl: ProxySsl = { client: v[0]!, verify: v.readUInt32BE(1) };
  let at = 5;
  while (at < v.length) {
    if (v.length - at < 3) return undefined;
    const type = v[at]!;
    const len = v.readUInt16BE(at + 1);
    if (at + 3 + len > v.length) return undefined;
    const text = v.toString('utf8', at + 3, at + 3 + len);
    if (type === PP2_SUBTYPE_SSL_VERSION) ssl.version = text;
    else if (type === PP2_SUBTYPE_SSL_CN) ssl.cn = text;
    else if (type === PP2_SUBTYPE_SSL_CIPHER) ssl.cipher = text;
    else if (type === PP2_SUBTYPE_SSL_SIG_ALG) ssl.sigAlg = text;
    else if (type === PP2_SUBTYPE_SSL_KEY_ALG) ssl.keyAlg = text;
    at += 3 + len;
  }
  return ssl;
}
