/**
 * IP addresses and CIDRs as four 32-bit words, parsed once at compile time so a match is a few mask compares.
 * IPv4 (and IPv4-mapped IPv6 such as `::ffff:1.2.3.4`) lives in `w3` with `v6 = false`; no bigint anywhere.
 */

/** A parsed address: IPv4 in w3 alone, IPv6 in w0..w3 (most significant first). */
export interface Addr {
  readonly v6: boolean;
  readonly w0: number;
  readonly w1: number;
  readonly w2: number;
  readonly w3: number;
}

/** A parsed address or CIDR: an address matches when `(addr.wN & mN) === wN` for every word. */
export interface Net extends Addr {
  readonly m0: number;
  readonly m1: number;
  readonly m2: number;
  readonly m3: number;
  /** prefix length; 32 (IPv4) or 128 (IPv6) for a plain address */
  readonly bits: number;
  /** true when the entry was written as a CIDR (Kong weighs cidr 1, ip 8) */
  readonly cidr: boolean;
}

function parseV4Words(s: string): number | undefined {
  let value = 0;
  let parts = 0;
  let part = -1;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46;
    if (c === 46) {
      if (part < 0 || ++parts > 4) return undefined;
      value = value * 256 + part;
      part = -1;
    } else if (c >= 48 && c <= 57) {
      // no leading zeros: "010" is ambiguous (octal in some parsers), Kong refuses it too
      if (part === 0) return undefined;
      part = part < 0 ? c - 48 : part * 10 + c - 48;
      if (part > 255) return undefined;
    } else return undefined;
  }
  return parts === 4 ? value >>> 0 : undefined;
}

function parseV6Groups(s: string): number[] | undefined {
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      if (i === items.length - 1 && it.includes('.')) {
        const v4 = parseV4Words(it);
        if (v4 === undefined) return undefined;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(it)) return undefined;
        out.push(parseInt(it, 16));
      }
    }
    return out;
  };
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  if (!head || !tail) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const fill = 8 - head.length - tail.length;
  if (fill < 1) return undefined;
  return [...head, ...new Array<number>(fill).fill(0), ...tail];
}

/** Parses an IPv4 or IPv6 address (IPv4-mapped IPv6 becomes IPv4); undefined when it is not one. */
export function parseAddr(s: string): Addr | undefined {
  if (s.indexOf(':') < 0) {
    const v4 = parseV4Words(s);
    return v4 === undefined ? undefined : { v6: false, w0: 0, w1: 0, w2: 0, w3: v4 };
  }
  const g = parseV6Groups(s);
  if (!g) return undefined;
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return { v6: false, w0: 0, w1: 0, w2: 0, w3: ((g[6]! << 16) | g[7]!) >>> 0 };
  }
  const w = (i: number) => ((g[i]! << 16) | g[i + 1]!) >>> 0;
  return { v6: true, w0: w(0), w1: w(2), w2: w(4), w3: w(6) };
}

function maskWord(bits: number, word: number): number {
  const n = Math.max(0, Math.min(32, bits - word * 32));
  return n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
}

/** Parses `addr` or `addr/bits`; undefined when invalid. Host bits of a CIDR are ignored (masked off). */
export function parseNet(s: string): Net | undefined {
  const slash = s.indexOf('/');
  const a = parseAddr(slash < 0 ? s : s.slice(0, slash));
  if (!a) return undefined;
  const max = a.v6 ? 128 : 32;
  let bits = max;
  if (slash >= 0) {
    const b = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(b)) return undefined;
    bits = Number(b);
    // `::ffff:1.2.3.4/120` was written against 128 bits: bring it down to the IPv4 prefix
    if (!a.v6 && s.indexOf(':') >= 0) bits -= 96;
    if (bits < 0 || bits > max) return undefined;
  }
  const off = a.v6 ? 0 : 96;
  const m0 = maskWord(bits + off, 0),
    m1 = maskWord(bits + off, 1),
    m2 = maskWord(bits + off, 2),
    m3 = maskWord(bits + off, 3);
  return {
    v6: a.v6,
    bits,
    cidr: slash >= 0,
    w0: (a.w0 & m0) >>> 0,
    w1: (a.w1 & m1) >>> 0,
    w2: (a.w2 & m2) >>> 0,
    w3: (a.w3 & m3) >>> 0,
    m0,
    m1,
    m2,
    m3,
  };
}

/** True when the address lies in the network (same family, masked words equal). */
export function netContains(n: Net, a: Addr): boolean {
  return (
    n.v6 === a.v6 &&
    (a.w3 & n.m3) >>> 0 === n.w3 &&
    (a.w2 & n.m2) >>> 0 === n.w2 &&
    (a.w1 & n.m1) >>> 0 === n.w1 &&
    (a.w0 & n.m0) >>> 0 === n.w0
  );
}
