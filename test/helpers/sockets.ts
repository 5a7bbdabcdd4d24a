/**
 * Socket helpers for integration tests: echo and sink servers on port 0, a client that streams N random bytes
 * and checks digests, and small promise wrappers. Every server returned has `close()` for `after` hooks.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TestServer {
  server: Server;
  host: string;
  port: number;
  /** sockets accepted so far (still open or not) */
  sockets: Set<Socket>;
  close(): Promise<void>;
}

/** Listens on port 0 and tracks accepted sockets so `close()` can destroy them. */
export async function listenServer(server: Server, host = '127.0.0.1'): Promise<TestServer> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, host);
  await once(server, 'listening');
  const addr = server.address();
  if (!addr || typeof addr !== 'object') throw new Error('no address');
  return {
    server,
    host,
    port: addr.port,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A server that sends back everything it receives and ends when the client ends. */
export function startEcho(host = '127.0.0.1'): Promise<TestServer> {
  const srv = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => s.destroy());
    s.pipe(s);
  });
  return listenServer(srv, host);
}

export interface SinkResult {
  bytes: number;
  sha256: string;
  /** the remote address the sink saw (the proxy's side of the upstream connection) */
  remoteAddress?: string;
}

/**
 * A server that hashes what it receives; each connection's result is pushed to `results` when the client
 * ends, then `reply` bytes (if any) are sent back before the sink ends its side.
 */
export async function startSink(
  opts: { host?: string; reply?: Buffer } = {},
): Promise<TestServer & { results: SinkResult[]; next(): Promise<SinkResult> }> {
  const results: SinkResult[] = [];
  const waiting: ((r: SinkResult) => void)[] = [];
  const srv = createServer({ allowHalfOpen: true }, (s) => {
    const h = createHash('sha256');
    let bytes = 0;
    s.on('error', () => s.destroy());
    s.on('data', (d: Buffer) => {
      h.update(d);
      bytes += d.length;
    });
    s.on('end', () => {
      const r = { bytes, sha256: h.digest('hex'), remoteAddress: s.remoteAddress };
      const w = waiting.shift();
      if (w) w(r);
      else results.push(r);
      if (opts.reply) s.end(opts.reply);
      else s.end();
    });
  });
  const base = await listenServer(srv, opts.host);
  return {
    ...base,
    results,
    next: () => {
      const r = results.shift();
      return r ? Promise.resolve(r) : new Promise((resolve) => waiting.push(resolve));
    },
  };
}

/** Connects and resolves once connected. */
export async function connectTo(port: number, host = '127.0.0.1', localAddress?: string): Promise<Socket> {
  const s = connect({ port, host, localAddress, allowHalfOpen: true });
  await once(s, 'connect');
  return s;
}

export interface StreamResult {
  sent: number;
  sentSha256: string;
  received: number;
  receivedSha256: string;
}

/**
 * Streams `total` random bytes (in `chunk`-sized writes, honouring backpressure), ends its side, and collects
 * what comes back until the peer ends. Resolves with both digests.
 */
export async function streamThrough(socket: Socket, total: number, chunk = 64 * 1024): Promise<StreamResult> {
  const sentHash = createHash('sha256');
  const recvHash = createHash('sha256');
  let received = 0;
  socket.on('data', (d: Buffer) => {
    recvHash.update(d);
    received += d.length;
  });
  const ended = once(socket, 'end');
  let sent = 0;
  while (sent < total) {
    const n = Math.min(chunk, total - sent);
    const buf = randomFillSync(Buffer.allocUnsafe(n));
    sentHash.update(buf);
    sent += n;
    if (!socket.write(buf)) await once(socket, 'drain');
  }
  socket.end();
  await ended;
  return { sent, sentSha256: sentHash.digest('hex'), received, receivedSha256: recvHash.digest('hex') };
}

/** Reads until the peer ends; resolves with everything received. */
export async function readAll(socket: Socket): Promise<Buffer> {
  const parts: Buffer[] = [];
  socket.on('data', (d: Buffer) => parts.push(d));
  await once(socket, 'end');
  return Buffer.concat(parts);
}

/** Resolves when the peer closes the connection (FIN or reset), discarding any data; then destroys the socket. */
export async function peerClosed(socket: Socket): Promise<void> {
  socket.resume();
  socket.on('error', () => {});
  if (!socket.readableEnded && !socket.destroyed) {
    // not events.once: it rejects on 'error', and a reset is a normal way for the peer to close
    await new Promise((resolve) => {
      socket.once('end', resolve);
      socket.once('close', resolve);
    });
  }
  socket.destroy();
}

/** Resolves when the socket closes (whatever the reason). */
export function closed(socket: Socket): Promise<void> {
  return socket.destroyed && socket.closed ? Promise.resolve() : once(socket, 'close').then(() => undefined);
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}
