/**
 * The native UDP relay (native/udp.c) from TypeScript. On a relayed listener the addon reads the socket (Node's
 * dgram only binds it): datagrams of clients whose session has a flow go to the upstream in C, both ways, and every
 * other datagram comes here, to the server's usual path (new session, or a session still choosing its upstream).
 * A session makes its flow once it knows the upstream's address; the flow's counts join the session's record at
 * its end.
 *
 * Not relayed (Node's dgram serves as before): no addon (net/native-addon.ts), `proxy_protocol` listeners (every
 * datagram carries a header to read), a socket whose descriptor Node does not show.
 */
import type { Socket } from 'node:dgram';
import { constants } from 'node:os';
import { errnoName, nativeAddon } from '../net/native-addon.js';

/** A relayed listener's handler for the datagrams no flow took. */
export type OnDatagram = (ip: string, port: number, msg: Buffer) => void;

/** What a flow tells its session. */
export interface FlowOwner {
  /** the upstream socket failed (ECONNREFUSED: the upstream's port is closed); the session ends and closes the flow */
  flowFailed(code: string): void;
}

const addon = nativeAddon;
const listeners = new Map<number, OnDatagram>();
const owners = new Map<number, FlowOwner>();
addon?.udpSetup(onDatagram, onFlowEnd);

function onDatagram(listenerId: number, ip: string, port: number, msg: Buffer): void {
  listeners.get(listenerId)?.(ip, port, msg);
}

function onFlowEnd(flowId: number, errno: number): void {
  owners.get(flowId)?.flowFailed(errnoName(errno));
}

/** Which data path serves UDP sessions in this process. */
export const udpRelayKind: 'native' | 'js' = addon ? 'native' : 'js';

interface DgramHandle {
  fd?: unknown;
  recvStop?: () => number;
}

/**
 * The libuv handle of a dgram socket. Node keeps it in the socket's internal state object (`socket._handle` is a
 * deprecated getter that warns once per process): found by its symbol's description, undefined when Node changes it.
 */
function handleOf(socket: Socket): DgramHandle | undefined {
  const key = Object.getOwnPropertySymbols(socket).find((k) => k.description === 'state symbol');
  const state = key === undefined ? undefined : (socket as unknown as Record<symbol, { handle?: DgramHandle }>)[key];
  return state?.handle ?? undefined;
}

/**
 * Hands a bound listener socket's reading to the relay: its id, or 0 when Node's dgram keeps reading it. The socket
 * stays open (it owns the bind); call {@link unrelayListener} before closing it.
 */
export function relayListener(socket: Socket, onDgram: OnDatagram): number {
  if (!addon) return 0;
  const h = handleOf(socket);
  if (!h || typeof h.fd !== 'number' || h.fd < 0 || typeof h.recvStop !== 'function') return 0;
  const id = addon.udpListen(h.fd);
  if (id <= 0) return 0;
  h.recvStop();
  listeners.set(id, onDgram);
  return id;
}

/** Stops the relay reading a listener; `out` gets what it moved: [datagrams in, out, dropped]. */
export function unrelayListener(id: number, out: number[]): void {
  relayedCounts(id, out);
  listeners.delete(id);
  addon?.udpUnlisten(id);
}

/** [datagrams in, out, dropped] the relay moved for a listener (not those it handed to TypeScript). */
export function relayedCounts(id: number, out: number[]): void {
  if (addon) addon.udpListenerStats(id, out);
  else out.fill(0, 0, 3);
}

/**
 * Opens a session's flow: a connected socket to `ip:port` (an IP literal) that takes the client's datagrams from
 * now on, `header` in front of each. Its id, or -errno (no descriptor, bad address).
 */
export function openFlow(
  listenerId: number,
  owner: FlowOwner,
  clientIp: string,
  clientPort: number,
  ip: string,
  port: number,
  header: Buffer | null,
): number {
  if (!addon) return -constants.errno.EINVAL;
  const id = addon.udpFlow(listenerId, clientIp, clientPort, ip, port, header ?? undefined);
  if (id > 0) owners.set(id, owner);
  return id;
}

/** Sends one datagram through a flow (what reached TypeScript before the flow existed): 0 or -errno. */
export function flowSend(id: number, msg: Buffer): number {
  return addon ? addon.udpSend(id, msg) : -constants.errno.EINVAL;
}

/**
 * Closes a flow; `out` gets its counts: [datagrams from the client, their bytes, datagrams to the client, their
 * bytes, bytes sent upstream, bytes received from upstream].
 */
export function closeFlow(id: number, out: number[]): void {
  owners.delete(id);
  if (addon) addon.udpClose(id, out);
  else out.fill(0, 0, 6);
}

/** ms since the flow's last datagram either way. */
export function flowIdleMs(id: number): number {
  return addon ? addon.udpIdle(id) : 0;
}

/** Datagrams the flow moved so far, either way (compare two looks to see whether it was active between them). */
export function flowActivity(id: number): number {
  return addon ? addon.udpActivity(id) : 0;
}
