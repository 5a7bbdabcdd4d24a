/**
 * The few DER (ASN.1, X.690) encodings an X.509 certificate needs, and a reader just deep enough to take the
 * subject Name out of an issuer's certificate. Inputs are our own values, so the writer does not validate much.
 */

function lengthBytes(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** A TLV with the given tag byte. */
export function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), lengthBytes(body.length), body]);
}

export const seq = (...items: Buffer[]): Buffer => tlv(0x30, ...items);
export const set = (...items: Buffer[]): Buffer => tlv(0x31, ...items);
export const octets = (b: Buffer): Buffer => tlv(0x04, b);
export const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
export const bool = (v: boolean): Buffer => tlv(0x01, Buffer.from([v ? 0xff : 0]));
export const nul = (): Buffer => Buffer.from([0x05, 0x00]);
/** [n] EXPLICIT, constructed context-specific tag. */
export const explicit = (n: number, inner: Buffer): Buffer => tlv(0xa0 | n, inner);
/** [n] IMPLICIT on a primitive value (e.g. GeneralName dNSName = [2], iPAddress = [7]). */
export const implicitPrim = (n: number, content: Buffer): Buffer => tlv(0x80 | n, content);

/** A non-negative INTEGER from big-endian bytes (a leading zero is added when the high bit is set). */
export function uint(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const b = bytes.subarray(i);
  return tlv(0x02, b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}

export function int(n: number): Buffer {
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return uint(Buffer.from(bytes.length ? bytes : [0]));
}

/** BIT STRING with no unused bits. */
export const bits = (b: Buffer): Buffer => tlv(0x03, Buffer.from([0]), b);

/** A named-bit BIT STRING (KeyUsage): bit 0 is the most significant bit of the first byte, trailing zeros trimmed. */
export function namedBits(set: number[]): Buffer {
  const max = Math.max(...set);
  const bytes = Buffer.alloc(Math.floor(max / 8) + 1);
  for (const n of set) bytes[n >> 3] = bytes[n >> 3]! | (0x80 >> (n & 7));
  const unused = 7 - (max & 7);
  return tlv(0x03, Buffer.from([unused]), bytes);
}

export function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [parts[0]! * 40 + parts[1]!];
  for (const p of parts.slice(2)) {
    const stack: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) stack.unshift(0x80 | (v & 0x7f));
    out.push(...stack);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5). */
export function time(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '') + 'Z';
  return d.getUTCFullYear() < 2050
    ? tlv(0x17, Buffer.from(digits.slice(2), 'latin1'))
    : tlv(0x18, Buffer.from(digits, 'latin1'));
}

/** Reads one TLV at `pos`; returns the whole element's bounds and its content's. */
export function readTlv(b: Buffer, pos: number): { tag: number; start: number; contentStart: number; end: number } {
  if (pos + 2 > b.length) throw new Error('DER: truncated');
  const tag = b[pos]!;
  let len = b[pos + 1]!;
  let p = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > b.length) throw new Error('DER: bad length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[p + i]!;
    p += n;
  }
  if (p + len > b.length) throw new Error('DER: element overruns its container');
  return { tag, start: pos, contentStart: p, end: p + len };
}

/** The DER-encoded subject Name of an X.509 certificate (its bytes exactly as the issuer wrote them). */
export function subjectOf(certDer: Buffer): Buffer {
  const cert = readTlv(certDer, 0);
  const tbs = readTlv(certDer, cert.contentStart);
  let p = tbs.contentStart;
  let el = readTlv(certDer, p);
  if (el.tag === 0xa0) {
    p = el.end;
    el = readTlv(certDer, p);
  } // version
  p = el.end; // serialNumber
  p = readTlv(certDer, p).end; // signature
  p = readTlv(certDer, p).end; // issuer
  p = readTlv(certDer, p).end; // validity
  const subject = readTlv(certDer, p);
  return certDer.subarray(subject.start, subject.end);
}
