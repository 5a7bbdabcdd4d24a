import type { Socket } from 'node:net';
import { parseClientHello, type ClientHello } from './client-hello.js';

/** What a peek found: the hello, or an error reason; `buffered` holds every byte read, to forward or put back. */
export interface PeekResult {
  hello?: ClientHello;
  buffered: Buffer;
  error?: string;
}

export interface PeekOptions {
  /** the whole ClientHello must arrive within this time (a slow-drip client is cut here) */
  timeoutMs: number;
  /** stop reading when this many bytes came without a complete hello */
  maxBytes: number;
}

const EMPTY = Buffer.alloc(0);

/** Per-peek state, kept on one object so the listeners can be module-level functions (no closures per socket). */
class Peek {
  chunks: Buffer[] = [];
  total = 0;
  /** do not parse again before this many bytes are there (the parser said so) */
  needed = 0;
  timer: NodeJS.Timeout | undefined;
  constructor(
    readonly socket: Socket,
    readonly opts: PeekOptions,
    readonly resolve: (r: PeekResult) => void,
  ) {}
}

const kPeek = Symbol('kong-ts.peek');
type PeekedSocket = Socket & { [kPeek]?: Peek };

/**
 * Reads from `socket` until a complete ClientHello, a parse error, EOF, an error, `maxBytes` or the timeout.
 * Never rejects. On return the socket's listeners added here are gone and the socket is paused, with
 * nothing consumed beyond `buffered`.
 */
export function peekClientHello(socket: Socket, opts: PeekOptions): Promise<PeekResult> {
  return new Promise((resolve) => {
    if (socket.destroyed || !socket.readable) {
      resolve({ buffered: EMPTY, error: 'socket closed before the ClientHello' });
      return;
    }
    const st = new Peek(socket, opts, resolve);
    (socket as PeekedSocket)[kPeek] = st;
    st.timer = setTimeout(onTimeout, opts.timeoutMs, st);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.resume();
  });
}

function finish(st: Peek, error: string | undefined, hello?: ClientHello): void {
  const s = st.socket as PeekedSocket;
  if (s[kPeek] !== st) return;
  s[kPeek] = undefined;
  clearTimeout(st.timer);
  s.pause();
  s.removeListener('data', onData);
  s.removeListener('end', onEnd);
  s.removeListener('error', onError);
  s.removeListener('close', onClose);
  const buffered =
    st.chunks.length === 1 ? st.chunks[0]! : st.chunks.length === 0 ? EMPTY : Buffer.concat(st.chunks, st.total);
  st.resolve(error === undefined ? { hello, buffered } : { buffered, error });
}

function onData(this: PeekedSocket, chunk: Buffer): void {
  const st = this[kPeek];
  if (!st) return;
  st.chunks.push(chunk);
  st.total += chunk.length;
  if (st.total < st.needed && st.total < st.opts.maxBytes) return;
  if (st.chunks.length > 1) st.chunks = [Buffer.concat(st.chunks, st.total)];
  const r = parseClientHello(st.chunks[0]!);
  if (r.kind === 'ok') finish(st, undefined, r.hello);
  else if (r.kind === 'error') finish(st, r.reason);
  else if (st.total >= st.opts.maxBytes) finish(st, `too large: no complete ClientHello in ${st.total} bytes`);
  else st.needed = r.needed ?? st.total + 1;
}

function onEnd(this: PeekedSocket): void {
  const st = this[kPeek];
  if (st) finish(st, st.total === 0 ? 'connection closed before any byte' : 'connection closed inside the ClientHello');
}

function onClose(this: PeekedSocket): void {
  const st = this[kPeek];
  if (st) finish(st, 'connection closed before the ClientHello');
}

function onError(this: PeekedSocket, e: Error): void {
  const st = this[kPeek];
  if (st) finish(st, `socket error: ${(e as NodeJS.ErrnoException).code ?? e.message}`);
}

function onTimeout(st: Peek): void {
  finish(st, `timeout: no complete ClientHello after ${st.opts.timeoutMs} ms (${st.total} bytes)`);
}
