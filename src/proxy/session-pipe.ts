/**
 * The data path of a TCP session once its upstream is connected: bytes both ways with backpressure and half-close.
 *
 * Hot-path rules (docs/performance.md): every socket listener is a module-level function that finds its Session on
 * the socket, nothing allocates a closure per connection, and reads land in reused buffers (see onUpstreamRead); a
 * read allocates nothing but the copy of a small read.
 */
import { Socket } from 'node:net';
import { handOff } from './native-pump.js';
import { SESSION, SessionState, type ProxySocket, type TcpSession } from './session-types.js';

const READ_SIZE = 64 * 1024;
// A read at least this big means a bulk transfer: give the socket a buffer of its own and write without copying.
const BULK_READ = 16 * 1024;

/**
 * Reads of quiet sockets land in this one buffer and are copied out before the callback returns, so it is never
 * referenced by a pending write and idle connections own no read buffer (idle memory per connection matters).
 */
const LANDING = Buffer.allocUnsafe(READ_SIZE);
// Node asks for the next read buffer right after each read callback, with no socket at hand: the callback leaves
// its choice here. Outside that window (a new connect) it is the landing buffer.
let nextRead: Buffer = LANDING;

function nextReadBuffer(): Buffer {
  const b = nextRead;
  nextRead = LANDING;
  return b;
}

/** The `onread` option of plain upstream connects (session-connect.ts). */
export const UPSTREAM_ONREAD = { buffer: nextReadBuffer, callback: onUpstreamRead };

/**
 * Accepted sockets take no `onread` option (only `net.connect` does). Node keeps the option in three symbol-keyed
 * fields of every net.Socket and switches a handle to caller-owned buffers with `useUserBuffer`; when this Node
 * has both, a plain client is read the same way as the upstream (no allocation, no stream machinery per read).
 * Otherwise (another Node version) the client is read through 'data' events, as before.
 */
const USER_BUFFER = ((): { buf: symbol; cb: symbol; gen: symbol } | undefined => {
  try {
    const probe = new Socket();
    const syms = Object.getOwnPropertySymbols(probe);
    const find = (name: string) => syms.find((x) => x.description === name);
    const buf = find('kBuffer');
    const cb = find('kBufferCb');
    const gen = find('kBufferGen');
    if (!buf || !cb || !gen) return undefined;
    const p = probe as unknown as Record<symbol, unknown>;
    if (p[buf] !== null || p[cb] !== null || p[gen] !== null) return undefined;
    return { buf, cb, gen };
  } catch {
    return undefined;
  }
})();

/** Switches a plain, not yet reading client socket to reads into the shared buffers; false when it cannot. */
function readClientIntoBuffers(c: Socket): boolean {
  const u = USER_BUFFER;
  const handle = (c as unknown as { _handle?: { useUserBuffer?: (b: Buffer) => void; reading?: boolean } })._handle;
  if (
    u === undefined ||
    !handle ||
    typeof handle.useUserBuffer !== 'function' ||
    handle.reading ||
    c.readableLength > 0
  )
    return false;
  const f = c as unknown as Record<symbol, unknown>;
  f[u.buf] = LANDING;
  f[u.cb] = onClientRead;
  f[u.gen] = nextReadBuffer;
  handle.useUserBuffer(LANDING);
  return true;
}

/**
 * The upstream just connected: send what goes first (the PROXY header of plain upstreams, the bytes already read
 * from the client), then let the client's bytes flow: through the native pump when it takes the pair
 * (native-pump.ts), else through the listeners below.
 */
export function startPipe(s: TcpSession, up: ProxySocket): void {
  const svc = s.service;
  if (!svc.upstreamTls) {
    const header = svc.proxyProtocol ? s.proxyHeader() : undefined;
    const first = s.earlyBytes;
    if (handOff(s, up, header && first ? Buffer.concat([header, first]) : (header ?? first ?? undefined))) return;
    if (header) up.write(header);
  }
  up.on('end', onUpstreamEnd);
  up.on('drain', onUpstreamDrain);
  if (svc.upstreamTls) up.on('data', onUpstreamData); // TLS sockets do not take onread: decrypted chunks come as data
  if (s.earlyBytes) {
    up.write(s.earlyBytes);
    s.earlyBytes = null;
  }
  const c = s.client;
  c.on('end', onClientEnd);
  c.on('drain', onClientDrain);
  if (s.spec.ssl || s.spec.proxyProtocol || !readClientIntoBuffers(c)) c.on('data', onClientData);
  c.resume(); // paused since accept (pauseOnConnect): its bytes waited in the kernel, none were lost
  // a client that finished (TLS: FIN right after its handshake) before we listened for 'end' is not left hanging
  if (c.readableEnded) onClientEnd.call(c);
}

// ---- upstream listeners (this = the upstream socket) ----

/** Registered at connect time; acts only once piping (a failed try's close is handled by its error). */
export function onUpstreamClose(this: ProxySocket): void {
  const s = this[SESSION];
  if (s.upstream !== this || s.state !== SessionState.Piping) return;
  s.upstreamClosed = true;
  const c = s.client;
  if (!this.readableEnded) c.destroy(); // reset, timeout or error: the pair ends
  // else the upstream is gone but the client keeps its side open: the sweep bounds how long it may linger
  if (s.clientClosed) s.finish();
}

function onUpstreamEnd(this: ProxySocket): void {
  const s = this[SESSION];
  s.closedBy ??= 'upstream';
  s.client.end();
}

function onUpstreamDrain(this: ProxySocket): void {
  this[SESSION].client.resume();
}

/** Upstream → client for TLS upstreams (decrypted chunks are fresh buffers: no copy needed). */
function onUpstreamData(this: ProxySocket, chunk: Buffer): void {
  const s = this[SESSION];
  s.reads++;
  if (!s.client.write(chunk)) this.pause();
}

/**
 * Upstream → client. A read that landed in the shared LANDING buffer is copied (it is small, or the first of a
 * burst); a bulk read lands in the socket's own buffer and is written as is, and that buffer is kept only while
 * writes complete synchronously: once a write is queued it owns the bytes, so the next read gets a new buffer.
 */
function onUpstreamRead(this: ProxySocket, nread: number, buf: Buffer): boolean {
  const s = this[SESSION];
  const c = s.client;
  s.reads++;
  let ok: boolean;
  if (buf === LANDING) {
    const copy = Buffer.allocUnsafe(nread);
    buf.copy(copy, 0, 0, nread);
    ok = c.write(copy);
    if (nread >= BULK_READ) nextRead = s.upstreamReadBuf = Buffer.allocUnsafe(READ_SIZE);
  } else {
    ok = c.write(buf.subarray(0, nread));
    if (nread < BULK_READ)
      s.upstreamReadBuf = null; // quiet again: let the buffer go
    else if (c.writableLength > 0) nextRead = s.upstreamReadBuf = Buffer.allocUnsafe(READ_SIZE);
    else nextRead = buf;
  }
  return ok; // false pauses the upstream until the client drains
}

// ---- client listeners (this = the client socket) ----

/** Client → upstream for plain clients: the mirror of onUpstreamRead. */
function onClientRead(this: ProxySocket, nread: number, buf: Buffer): boolean {
  const s = this[SESSION];
  const up = s.upstream!;
  s.reads++;
  let ok: boolean;
  if (buf === LANDING) {
    const copy = Buffer.allocUnsafe(nread);
    buf.copy(copy, 0, 0, nread);
    ok = up.write(copy);
    if (nread >= BULK_READ) nextRead = s.clientReadBuf = Buffer.allocUnsafe(READ_SIZE);
  } else {
    ok = up.write(buf.subarray(0, nread));
    if (nread < BULK_READ) s.clientReadBuf = null;
    else if (up.writableLength > 0) nextRead = s.clientReadBuf = Buffer.allocUnsafe(READ_SIZE);
    else nextRead = buf;
  }
  return ok;
}

function onClientData(this: ProxySocket, chunk: Buffer): void {
  const s = this[SESSION];
  const up = s.upstream!;
  s.reads++;
  if (!up.write(chunk)) this.pause();
}

function onClientDrain(this: ProxySocket): void {
  // 'drain' follows a write() that returned false, after which the upstream read callback paused the upstream
  this[SESSION].upstream?.resume();
}

function onClientEnd(this: ProxySocket): void {
  const s = this[SESSION];
  s.closedBy ??= 'client';
  s.upstream?.end();
}
