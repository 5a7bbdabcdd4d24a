/**
 * Small helpers shared by the plugin and metrics end-to-end tests: one proxied exchange, a line collector
 * (TCP, TLS or UDP) and polling.
 */
import { once } from 'node:events';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { join } from 'node:path';
import { ROOT } from '../../src/paths.js';

/** The example custom plugin (source tree, not the build: it is plain JavaScript). */
export const EXAMPLE_PLUGIN = join(ROOT, 'examples/custom-plugin/index.js');

/**
 * Connects (from `localAddress` when given), sends `payload`, half-closes and collects the answer until the peer
 * ends or resets. A connection the proxy refuses answers ''.
 */
export function exchange(port: number, host = '127.0.0.1', localAddress?: string, payload = 'ping'): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host, localAddress, allowHalfOpen: true });
    let data = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`exchange via ${host}:${port} timed out`));
    }, 8000);
    s.on('connect', () => s.end(payload));
    s.on('data', (d) => (data += String(d)));
    s.on('error', () => undefined); // a reset is how a refused connection may end
    s.on('close', () => {
      clearTimeout(t);
      resolve(data);
    });
    s.on('end', () => s.destroy());
  });
}

/** A TCP server that echoes what it receives and ends when the client ends. */
export async function echoServer(
  host = '127.0.0.1',
): Promise<{ port: number; accepted: () => number; close(): Promise<void> }> {
  let accepted = 0;
  const sockets = new Set<Socket>();
  const srv = createServer({ allowHalfOpen: true }, (s) => {
    accepted++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
    s.pipe(s);
  });
  srv.listen(0, host);
  await once(srv, 'listening');
  return {
    port: (srv.address() as { port: number }).port,
    accepted: () => accepted,
    close: () => closeServer(srv, sockets),
  };
}

function closeServer(srv: Server, sockets: Set<Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  return new Promise((r) => srv.close(() => r()));
}

/** Collects newline-separated lines sent over TCP (or TLS when `tls` is given) to it. */
export interface LineCollector {
  port: number;
  lines: string[];
  close(): Promise<void>;
}

export async function lineCollector(
  opts: { port?: number; host?: string; tls?: { cert: string; key: string } } = {},
): Promise<LineCollector> {
  const lines: string[] = [];
  const sockets = new Set<Socket>();
  const onConn = (s: Socket): void => {
    sockets.add(s);
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  };
  const srv: Server = opts.tls
    ? createTlsServer({ cert: opts.tls.cert, key: opts.tls.key }, onConn)
    : createServer(onConn);
  srv.listen(opts.port ?? 0, opts.host ?? '127.0.0.1');
  await once(srv, 'listening');
  return { port: (srv.address() as { port: number }).port, lines, close: () => closeServer(srv, sockets) };
}

/** A UDP socket keeping every datagram it receives as a string. */
export async function datagramCollector(): Promise<{ port: number; messages: string[]; close(): Promise<void> }> {
  const messages: string[] = [];
  const sock: UdpSocket = createSocket('udp4');
  sock.on('message', (m) => messages.push(m.toString('utf8')));
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  return { port: sock.address().port, messages, close: () => new Promise((r) => sock.close(() => r())) };
}

/** Polls until `check` is true; fails with `what` after `ms`. */
export async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
