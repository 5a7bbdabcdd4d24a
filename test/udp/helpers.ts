/**
 * UDP test helpers: an echo server that remembers who sent what, a client that collects replies, snapshots
 * built with the real router compiler, and a proxy on port 0. Everything returned has `close()`.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import type { RouteEntity, ServiceEntity } from '../../src/config/types.js';
import { silentLogger } from '../../src/log.js';
import type { SessionRecord } from '../../src/proxy/record.js';
import type { ProxySnapshot } from '../../src/proxy/types.js';
import { compileRouter, compileService } from '../../src/router/compile.js';
import type { CompiledService } from '../../src/router/types.js';
import { UdpServer, type UdpServerOptions } from '../../src/udp/server.js';
import { listenSpec, route, service } from '../helpers/entities.js';

const BUF = 4 * 1024 * 1024;

function family(host: string): 'udp4' | 'udp6' {
  return host.includes(':') ? 'udp6' : 'udp4';
}

async function bound(host: string, port = 0): Promise<Socket> {
  const s = createSocket(family(host));
  s.bind(port, host);
  await once(s, 'listening');
  s.setRecvBufferSize(BUF);
  s.setSendBufferSize(BUF);
  return s;
}

export interface UdpEcho {
  socket: Socket;
  host: string;
  port: number;
  /** every datagram received, with its sender */
  seen: { from: string; data: Buffer }[];
  close(): Promise<void>;
}

/** Sends every datagram back to its sender, prefixed with `tag` when one is given. */
export async function startUdpEcho(host = '127.0.0.1', tag?: string): Promise<UdpEcho> {
  const socket = await bound(host);
  const seen: UdpEcho['seen'] = [];
  const prefix = tag === undefined ? undefined : Buffer.from(tag);
  socket.on('message', (data: Buffer, r: RemoteInfo) => {
    seen.push({ from: `${r.address}:${r.port}`, data });
    socket.send(prefix ? Buffer.concat([prefix, data]) : data, r.port, r.address);
  });
  return { socket, host, port: socket.address().port, seen, close: () => closeSocket(socket) };
}

export interface UdpClient {
  socket: Socket;
  port: number;
  received: Buffer[];
  send(data: Buffer | string): void;
  /** resolves once `count` datagrams in total have been received (rejects after `ms`) */
  waitFor(count: number, ms?: number): Promise<Buffer[]>;
  close(): Promise<void>;
}

/** A client socket bound to an ephemeral port, sending to one proxy address. */
export async function udpClient(toPort: number, toHost = '127.0.0.1', localHost = toHost): Promise<UdpClient> {
  const socket = await bound(localHost);
  const received: Buffer[] = [];
  let waiter: (() => void) | undefined;
  socket.on('message', (d: Buffer) => {
    received.push(d);
    waiter?.();
  });
  return {
    socket,
    port: socket.address().port,
    received,
    send: (data) => socket.send(typeof data === 'string' ? Buffer.from(data) : data, toPort, toHost),
    waitFor: (count, ms = 3000) =>
      new Promise<Buffer[]>((resolve, reject) => {
        if (received.length >= count) {
          resolve(received);
          return;
        }
        const t = setTimeout(() => {
          waiter = undefined;
          reject(new Error(`got ${received.length} of ${count} datagrams`));
        }, ms);
        waiter = () => {
          if (received.length < count) return;
          clearTimeout(t);
          waiter = undefined;
          resolve(received);
        };
      }),
    close: () => closeSocket(socket),
  };
}

export function closeSocket(s: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      s.close(() => resolve());
    } catch {
      resolve();
    }
  });
}

/** A free UDP port (bound then released). */
export async function freeUdpPort(host = '127.0.0.1'): Promise<number> {
  const s = await bound(host);
  const port = s.address().port;
  await closeSocket(s);
  return port;
}

let generation = 0;

/** One udp service to `host:port` and one udp route to it (matching any source unless `sources` is given). */
export function udpSnapshot(
  host: string,
  port: number,
  over: { service?: Partial<ServiceEntity>; route?: Partial<RouteEntity> } = {},
): ProxySnapshot {
  const svc = service({ id: `svc-${host}-${port}`, name: `svc-${port}`, protocol: 'udp', host, port, ...over.service });
  const rt = route({
    id: 'r-udp',
    name: 'udp-route',
    protocols: ['udp'],
    sources: [{ ip: '0.0.0.0/0' }, { ip: '::/0' }],
    service: svc.id,
    ...over.route,
  });
  const services = new Map<string, CompiledService>([[svc.id, compileService(svc)]]);
  return { generation: ++generation, router: compileRouter([rt], services) };
}

export interface Proxy {
  server: UdpServer;
  host: string;
  port: number;
  records: SessionRecord[];
  /** resolves with the next record (one already reported, or the next to come) */
  nextRecord(ms?: number): Promise<SessionRecord>;
  close(): Promise<void>;
}

/** A UdpServer on `host`:0 with `snap` installed, collecting its records. */
export async function startProxy(
  snap: ProxySnapshot | undefined,
  host = '127.0.0.1',
  opts: Partial<UdpServerOptions> = {},
): Promise<Proxy> {
  const records: SessionRecord[] = [];
  let taken = 0;
  const waiters: (() => void)[] = [];
  const server = new UdpServer({
    listeners: [listenSpec(host, 0, { udp: true })],
    logger: silentLogger,
    onSessionEnd: (r) => {
      records.push(r);
      waiters.shift()?.();
    },
    ...opts,
  });
  if (snap) server.swap(snap);
  await server.listen();
  return {
    server,
    host,
    port: server.addresses()[0]!.port,
    records,
    nextRecord: (ms = 3000) =>
      new Promise<SessionRecord>((resolve, reject) => {
        if (records.length > taken) {
          resolve(records[taken++]!);
          return;
        }
        const t = setTimeout(() => reject(new Error('no session record')), ms);
        waiters.push(() => {
          clearTimeout(t);
          resolve(records[taken++]!);
        });
      }),
    close: () => server.close(),
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
