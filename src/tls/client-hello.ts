/**
 * A bounded parser of the TLS ClientHello over raw bytes (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2), used to read
 * the SNI before deciding between passthrough and termination. It never throws and never reads past the buffer:
 * every length is checked against what is there before it is used.
 */

/** What we learned from a ClientHello. */
export interface ClientHello {
  /** legacy_version of the hello (0x0303 for TLS 1.2 and 1.3) */
  version: number;
  /** server_name (host_name), lower-cased, without a trailing dot */
  sni?: string;
  /** ALPN protocol names offered, in the client's order */
  alpn: string[];
  /** supported_versions extension, GREASE removed (empty before TLS 1.3 clients) */
  supportedVersions: number[];
  /** signature_algorithms extension, GREASE removed */
  signatureAlgorithms: number[];
  /** cipher suites offered, GREASE removed */
  cipherSuites: number[];
  /** bytes of TLS records that carried the hello (the end of the record holding its last byte) */
  length: number;
}

/** `needed`, when given, is the buffer length below which parsing cannot progress. */
export type ParseResult =
  { kind: 'need-more'; needed?: number } | { kind: 'error'; reason: string } | { kind: 'ok'; hello: ClientHello };

const RECORD_HEADER = 5;
const HANDSHAKE_HEADER = 4;
const CONTENT_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
/** TLSPlaintext.length may not exceed 2^14 (RFC 8446 §5.1). */
const MAX_RECORD = 16384;
/** A ClientHello bigger than one full record is refused: real ones are well under 2 KiB (post-quantum ~1.8 KiB). */
export const MAX_HELLO = 16384;

const EXT_SERVER_NAME = 0;
const EXT_SIGNATURE_ALGORITHMS = 13;
const EXT_ALPN = 16;
const EXT_SUPPORTED_VERSIONS = 43;

/** RFC 8701: 0x?A?A with both bytes equal. */
function isGrease(v: number): boolean {
  return (v & 0x0f0f) === 0x0a0a && v >> 8 === (v & 0xff);
}

function err(reason: string): ParseResult {
  return { kind: 'error', reason };
}

/**
 * Parses the ClientHello at the start of `buf` (the first bytes a client sent).
 * The handshake message may span several records; `need-more` asks for more bytes.
 */
export function parseClientHello(buf: Buffer): ParseResult {
  if (buf.length === 0) return { kind: 'need-more', needed: RECORD_HEADER };
  const first = buf[0]!; // length checked above
  if (first !== CONTENT_HANDSHAKE) {
    // SSLv2-compatible hello: 2-byte length with the high bit set, then msg type 1 (RFC 6101 appendix E).
    if (first & 0x80) {
      if (buf.length < 3) return { kind: 'need-more', needed: 3 };
      if (buf[2] === 1) return err('SSLv2-compatible ClientHello is not supported');
    }
    return err(`not TLS: first byte 0x${first.toString(16).padStart(2, '0')} is not a handshake record`);
  }
  if (buf.length >= 2 && buf[1] !== 3) return err(`not TLS: record version major ${buf[1]}`);

  // Walk the records, gathering the handshake fragments until the whole message is there.
  let pos = 0;
  let msgLen = -1; // handshake body length, known once the 4-byte header is gathered
  let gathered = 0; // handshake bytes gathered so far
  const fragments: Buffer[] = [];
  for (;;) {
    if (buf.length < pos + RECORD_HEADER) return { kind: 'need-more', needed: pos + RECORD_HEADER };
    const type = buf[pos];
    const major = buf[pos + 1]!;
    const minor = buf[pos + 2]!;
    const recLen = buf.readUInt16BE(pos + 3);
    if (type !== CONTENT_HANDSHAKE) return err(`record of type ${type} inside the ClientHello`);
    if (major !== 3 || minor > 4) return err(`bad record version 0x${((major << 8) | minor).toString(16)}`);
    if (recLen === 0) return err('empty handshake record');
    if (recLen > MAX_RECORD) return err('too large: record over 16384 bytes');
    const end = pos + RECORD_HEADER + recLen;
    const avail = Math.min(end, buf.length);
    const frag = buf.subarray(pos + RECORD_HEADER, avail);
    if (frag.length > 0) {
      fragments.push(frag);
      gathered += frag.length;
    }
    if (msgLen < 0 && gathered >= HANDSHAKE_HEADER) {
      const head = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments);
      if (head[0] !== HANDSHAKE_CLIENT_HELLO) return err(`handshake message ${head[0]} is not a ClientHello`);
      msgLen = (head[1]! << 16) | (head[2]! << 8) | head[3]!;
      if (msgLen > MAX_HELLO) return err(`too large: ClientHello of ${msgLen} bytes`);
    }
    if (msgLen >= 0 && gathered >= HANDSHAKE_HEADER + msgLen) {
      // Complete: the record holding the last byte must be complete too, since it is consumed whole.
      if (avail < end) return { kind: 'need-more', needed: end };
      const msg = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments);
      return parseBody(msg.subarray(HANDSHAKE_HEADER, HANDSHAKE_HEADER + msgLen), end);
    }
    if (avail < end) return { kind: 'need-more', needed: end };
    pos = end;
  }
}

/** Parses the ClientHello body (after the 4-byte handshake header). */
function parseBody(b: Buffer, length: number): ParseResult {
  // legacy_version(2) random(32) session_id<0..32>
  if (b.length < 35) return err('truncated ClientHello');
  const version = b.readUInt16BE(0);
  let p = 34;
  const sidLen = b[p++]!;
  if (sidLen > 32 || p + sidLen > b.length) return err('bad session id length');
  p += sidLen;

  if (p + 2 > b.length) return err('truncated cipher suites');
  const csLen = b.readUInt16BE(p);
  p += 2;
  if (csLen === 0 || csLen % 2 !== 0 || p + csLen > b.length) return err('bad cipher suites length');
  const cipherSuites: number[] = [];
  for (let i = p; i < p + csLen; i += 2) {
    const cs = b.readUInt16BE(i);
    if (!isGrease(cs)) cipherSuites.push(cs);
  }
  p += csLen;

  if (p + 1 > b.length) return err('truncated compression methods');
  const cmLen = b[p++]!;
  if (cmLen === 0 || p + cmLen > b.length) return err('bad compression methods length');
  p += cmLen;

  const hello: ClientHello = {
    version,
    alpn: [],
    supportedVersions: [],
    signatureAlgorithms: [],
    cipherSuites,
    length,
  };
  if (p === b.length) return { kind: 'ok', hello }; // no extensions (SSLv3-era clients)
  if (p + 2 > b.length) return err('truncated extensions');
  const extLen = b.readUInt16BE(p);
  p += 2;
  if (p + extLen !== b.length) return err('extensions length does not match the ClientHello');
  while (p < b.length) {
    if (p + 4 > b.length) return err('truncated extension header');
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    p += 4;
    if (p + len > b.length) return err(`extension ${type} overruns the ClientHello`);
    const reason = parseExtension(type, b.subarray(p, p + len), hello);
    if (reason) return err(reason);
    p += len;
  }
  return { kind: 'ok', hello };
}

/** Fills `hello` from one extension; returns a reason when it is malformed. */
function parseExtension(type: number, e: Buffer, hello: ClientHello): string | undefined {
  switch (type) {
    case EXT_SERVER_NAME: {
      if (e.length === 0) return undefined; // allowed empty in a ServerHello; tolerate it here too
      if (e.length < 2 || e.readUInt16BE(0) !== e.length - 2) return 'bad server_name list length';
      let p = 2;
      while (p < e.length) {
        if (p + 3 > e.length) return 'truncated server_name entry';
        const nameType = e[p];
        const len = e.readUInt16BE(p + 1);
        p += 3;
        if (p + len > e.length) return 'server_name entry overruns the extension';
        if (nameType === 0 && hello.sni === undefined) {
          if (len === 0) return 'empty server_name';
          let name = e.toString('latin1', p, p + len).toLowerCase();
          if (name.endsWith('.')) name = name.slice(0, -1);
          hello.sni = name;
        }
        p += len;
      }
      return undefined;
    }
    case EXT_ALPN: {
      if (e.length < 2 || e.readUInt16BE(0) !== e.length - 2) return 'bad ALPN list length';
      let p = 2;
      while (p < e.length) {
        const len = e[p++]!;
        if (len === 0 || p + len > e.length) return 'bad ALPN protocol length';
        hello.alpn.push(e.toString('latin1', p, p + len));
        p += len;
      }
      return undefined;
    }
    case EXT_SUPPORTED_VERSIONS: {
      if (e.length < 1 || e[0] !== e.length - 1 || e[0] % 2 !== 0) return 'bad supported_versions length';
      for (let p = 1; p < e.length; p += 2) {
        const v = e.readUInt16BE(p);
        if (!isGrease(v)) hello.supportedVersions.push(v);
      }
      return undefined;
    }
    case EXT_SIGNATURE_ALGORITHMS: {
      if (e.length < 2 || e.readUInt16BE(0) !== e.length - 2 || e.length % 2 !== 0)
        return 'bad signature_algorithms length';
      for (let p = 2; p < e.length; p += 2) {
        const v = e.readUInt16BE(p);
        if (!isGrease(v)) hello.signatureAlgorithms.push(v);
      }
      return undefined;
    }
    default:
      return undefined;
  }
}
