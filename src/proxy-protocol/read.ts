/**
 * Reads a PROXY protocol header off a freshly accepted socket (paused, as the stream listeners accept them).
 * One timer bounds the whole header, not each read, so a client dripping one byte a second cannot hold the slot.
 * Listeners are module-level functions that find their state on the socket (no closures per connection).
 */
import type { Socket } from 'node:net';
import { parseProxyHeader, V2_MAX_PAYLOAD, type ProxyHeader } from './parse.js';

export interface ReadOptions {
  /** ms the whole header may take to arrive */
  timeoutMs: number;
  /** most bytes buffered while waiting for the end of a header (default: a v2 header of V2_MAX_PAYLOAD) */
  maxBytes?: number;
}

export interface ReadResult {
  /** the header, when one was read */
  header?: ProxyHeader;
  /**
   * Bytes read past the header (the start of the proxied stream), or everything read when there is an error.
   * Hand them on first, or put them back with `socket.unshift(rest)`.
   */
  rest: Buffer;
  /** why no header was read: the connection should be closed */
  error?: string;
}

const READER = Symbol('kong-ts.proxy-protocol.reader');

interface Reader {
  socket: Socket;
  buf: Buffer;
  maxBytes: number;
  timer: NodeJS.Timeout;
  resolve: (r: ReadResult) => void;
}

type ReaderSocket = Socket & { [READER]?: Reader };

const EMPTY = Buffer.alloc(0);

/**
 * Reads until a whole PROXY header is there, the timeout passes, the bytes exceed `maxBytes`, or the peer goes.
 * Never rejects. The socket is left paused with no listeners of ours: the caller attaches its own (an 'error'
 * listener above all) before it returns to the event loop.
 */
export function readProxyHeader(socket: Socket, opts: ReadOptions): Promise<ReadResult> {
  return new Promise<ReadResult>((resolve) => {
    if (socket.destroyed) return resolve({ rest: EMPTY, error: 'connection closed before the PROXY header' });
    const maxBytes = Math.max(16, opts.maxBytes ?? 16 + V2_MAX_PAYLOAD);
    const r: Reader = {
      socket,
      buf: EMPTY,
      maxBytes,
      timer: setTimeout(onTimeout, opts.timeoutMs, socket as ReaderSocket),
      resolve,
    };
    (socket as ReaderSocket)[READER] = r;
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.on('close', onEnd);
    socket.resume();
  });
}

function finish(socket: ReaderSocket, result: ReadResult): void {
  const r = socket[READER];
  if (!r) return;
  socket[READER] = undefined;
  clearTimeout(r.timer);
  socket.pause();
  socket.off('data', onData);
  socket.off('end', onEnd);
  socket.off('error', onError);
  socket.off('close', onEnd);
  r.resolve(result);
}

function onData(this: ReaderSocket, chunk: Buffer): void {
  const r = this[READER];
  if (!r) return;
  // the header almost always arrives in one read; concatenate only when it does not
  r.buf = r.buf.length === 0 ? chunk : Buffer.concat([r.buf, chunk]);
  // a v2 header declares its size: let parseProxyHeader judge it against the bound derived from maxBytes
  const res = parseProxyHeader(r.buf, Math.min(V2_MAX_PAYLOAD, r.maxBytes - 16));
  if (res.kind === 'ok') return finish(this, { header: res.header, rest: r.buf.subarray(res.length) });
  if (res.kind === 'error') return finish(this, { rest: r.buf, error: res.reason });
  if (r.buf.length >= r.maxBytes) {
    finish(this, { rest: r.buf, error: `no complete PROXY header within ${r.maxBytes} bytes` });
  }
}

function onEnd(this: ReaderSocket): void {
  const r = this[READER];
  if (r) finish(this, { rest: r.buf, error: 'connection closed before the PROXY header' });
}

function onError(this: ReaderSocket, err: NodeJS.ErrnoException): void {
  const r = this[READER];
  if (r) finish(this, { rest: r.buf, error: `connection error before the PROXY header: ${err.code ?? err.message}` });
}

function onTimeout(socket: ReaderSocket): void {
  const r = socket[READER];
  if (r) finish(socket, { rest: r.buf, error: `no PROXY header within the timeout (got ${r.buf.length} bytes)` });
}
