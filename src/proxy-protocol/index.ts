/** PROXY protocol v1/v2: parse, read off a socket, encode for upstreams, and who may send one. */
export {
  parseProxyHeader,
  formatV6,
  V1_MAX,
  V2_MAX_PAYLOAD,
  V2_SIGNATURE,
  PP2_TYPE_ALPN,
  PP2_TYPE_AUTHORITY,
  PP2_TYPE_CRC32C,
  PP2_TYPE_NOOP,
  PP2_TYPE_SSL,
  PP2_TYPE_UNIQUE_ID,
} from './parse.js';
export type { ParseResult, ProxyAddress, ProxyHeader, ProxySsl, ProxyTlv } from './parse.js';
export { readProxyHeader, type ReadOptions, type ReadResult } from './read.js';
export { encodeProxyV1, encodeProxyV2, type ProxyV2Options } from './encode.js';
export { datagramHeader, unwrapDatagram, type Unwrapped } from './datagram.js';
export { compileTrustedIps, type TrustedIps } from './trusted.js';
