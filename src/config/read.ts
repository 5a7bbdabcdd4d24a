/**
 * Bounded input: what may be read as a declarative file, and how. Only a regular file is read, never more than the
 * size limit, and nothing can block a thread: the path is stat()ed first, then opened with O_NONBLOCK (a FIFO
 * swapped in between opens at once instead of waiting for a writer) and fstat()ed again before any byte is read.
 * Bytes that are not UTF-8 are refused with their position, never replaced.
 */
import { isUtf8 } from 'node:buffer';
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';

/** The default of `declarative_config_max_size`: 100,000 routes with their services take about 25 MiB of YAML. */
export const DEFAULT_MAX_CONFIG_BYTES = 64 * 1024 * 1024;

export type ReadResult = { ok: true; bytes: Buffer } | { ok: false; message: string; tooLarge?: boolean };

/** What a path that is not a regular file is, in words. */
function notRegular(s: Stats): string | undefined {
  if (s.isFile()) return undefined;
  if (s.isDirectory()) return 'a directory';
  if (s.isFIFO()) return 'a FIFO (named pipe)';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isSocket()) return 'a socket';
  return 'not a regular file';
}

function refusal(
  path: string,
  s: Stats,
  maxBytes: number,
): { ok: false; message: string; tooLarge?: boolean } | undefined {
  const what = notRegular(s);
  if (what) return { ok: false, message: `${path} is ${what}, not a regular file: refused` };
  if (s.size > maxBytes) return tooLarge(path, s.size, maxBytes);
  return undefined;
}

function tooLarge(path: string, size: number, maxBytes: number): { ok: false; message: string; tooLarge: true } {
  return {
    ok: false,
    tooLarge: true,
    message: `${path} is ${size} bytes, over declarative_config_max_size (${maxBytes} bytes): refused`,
  };
}

function errno(path: string, err: unknown): { ok: false; message: string } {
  const e = err as NodeJS.ErrnoException;
  const why =
    e.code === 'ENOENT'
      ? 'no such file'
      : e.code === 'EACCES'
        ? 'permission denied'
        : e.code === 'ENXIO'
          ? 'a socket or a device without a reader'
          : (e.code ?? e.message);
  return { ok: false, message: `cannot read ${path}: ${why}` };
}

const FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

/** Reads a declarative file synchronously (the load thread's way: it has no event loop worth keeping free). */
export function readConfigFileSync(path: string, maxBytes: number): ReadResult {
  let fd: number | undefined;
  try {
    const before = refusal(path, statSync(path), maxBytes);
    if (before) return before;
    fd = openSync(path, FLAGS);
    const s = fstatSync(fd);
    const after = refusal(path, s, maxBytes);
    if (after) return after;
    // one byte more than allowed tells a file that grew past the limit since fstat
    const buf = Buffer.allocUnsafe(Math.min(s.size, maxBytes) + 1);
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
      if (n === buf.length) {
        if (n > maxBytes) return tooLarge(path, n, maxBytes);
        break;
      }
    }
    return { ok: true, bytes: buf.subarray(0, n) };
  } catch (err) {
    return errno(path, err);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The same, on the event loop's terms (the watcher): the reads run on libuv's threads, never blocking in open(). */
export async function readConfigFile(path: string, maxBytes: number): Promise<ReadResult> {
  try {
    const before = refusal(path, await stat(path), maxBytes);
    if (before) return before;
    const fh = await open(path, FLAGS);
    try {
      const s = await fh.stat();
      const after = refusal(path, s, maxBytes);
      if (after) return after;
      const buf = Buffer.allocUnsafe(Math.min(s.size, maxBytes) + 1);
      let n = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
        if (bytesRead === 0) break;
        n += bytesRead;
        if (n === buf.length) {
          if (n > maxBytes) return tooLarge(path, n, maxBytes);
          break;
        }
      }
      return { ok: true, bytes: buf.subarray(0, n) };
    } finally {
      await fh.close();
    }
  } catch (err) {
    return errno(path, err);
  }
}

/** The offset of the first byte that does not start or continue a valid UTF-8 sequence (-1 when all are valid). */
export function firstInvalidUtf8(b: Uint8Array): number {
  if (isUtf8(b)) return -1;
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    let n: number;
    let min: number;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
      min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      min = 0x10000;
    } else return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return -1;
}

/**
 * Decodes UTF-8 strictly: the text, or the `line:column` of the first invalid byte (the column counts the
 * characters before it on its line, as every other position does).
 */
export function decodeUtf8(b: Buffer): { text: string } | { line: number; column: number; message: string } {
  const bad = firstInvalidUtf8(b);
  if (bad < 0) return { text: b.toString('utf8') };
  const lineStart = bad === 0 ? 0 : b.lastIndexOf(0x0a, bad - 1) + 1;
  let line = 1;
  for (let i = b.indexOf(0x0a); i >= 0 && i < bad; i = b.indexOf(0x0a, i + 1)) line++;
  const column = b.subarray(lineStart, bad).toString('utf8').length + 1;
  return {
    line,
    column,
    message: `invalid UTF-8: byte 0x${b[bad]!.toString(16).padStart(2, '0')} (declarative files are UTF-8 text)`,
  };
}
