/**
 * The compiled addon (native/pump.c, tls.c and udp.c, built by `npm install` with node-gyp into
 * build/Release/kong_pump.node), loaded once: the TCP byte pump (proxy/native-pump.ts), its TLS termination
 * (tls/native-tls.ts) and the UDP relay (udp/native.ts) each set up their own callbacks on it.
 *
 * Optional: undefined without the compiled file (no compiler at install), on a worker thread (the addon serves
 * the main thread's loop only), or with `KONG_TS_PUMP=js`; the TypeScript data paths serve then.
 */
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { ROOT } from '../paths.js';

/** An OpenSSL context made by the addon (tls.c), freed when collected. */
export type NativeTlsContext = object & { readonly __nativeTlsContext: unique symbol };

export interface NativeAddon {
  // TCP (pump.c)
  setup(
    onEnd: (id: number, by: number, cRead: number, uWritten: number, uRead: number, cWritten: number) => void,
    onConnect: (id: number, errno: number) => void,
  ): void;
  start(clientFd: number, upstreamFd: number, early: Buffer | undefined, readMs: number, writeMs: number): number;
  addresses(fd: number, out: [string, number, string, number], peerOnly?: boolean): number;
  adopt(clientFd: number, readMs: number, writeMs: number): number;
  connect(id: number, ip: string, port: number, early: Buffer | undefined): number;
  cancel(id: number): boolean;
  abort(id: number): void;
  count(): number;
  // TLS termination (tls.c)
  tlsSetup(
    onHandshake: (
      id: number,
      reason: string | null,
      errno: number,
      version: string | undefined,
      cipher: string | undefined,
    ) => void,
    onHello: (id: number, bytes: Buffer, code: number) => void,
  ): void;
  tlsContext(
    cert: string,
    key: string,
    certAlt: string | null,
    keyAlt: string | null,
    ciphers: string,
    ciphersuites: string,
    ticketKeys: Buffer,
    sessionTimeoutS: number,
  ): NativeTlsContext;
  tlsAdopt(
    fd: number,
    context: NativeTlsContext,
    hello: Buffer,
    handshakeMs: number,
    readMs: number,
    writeMs: number,
  ): number | string;
  tlsPeek(id: number): boolean;
  tlsStart(
    id: number,
    context: NativeTlsContext,
    handshakeMs: number,
    readMs: number,
    writeMs: number,
  ): string | undefined;
  helloRead(fd: number, timeoutMs: number, maxBytes: number): number;
  helloRelease(id: number, drain: boolean): void;
  helloContinue(id: number): void;
  // UDP (udp.c)
  udpSetup(
    onDatagram: (listenerId: number, ip: string, port: number, payload: Buffer) => void,
    onEnd: (flowId: number, errno: number) => void,
  ): void;
  udpListen(fd: number): number;
  udpListenerStats(id: number, out: number[]): void;
  udpUnlisten(id: number): void;
  udpFlow(
    listenerId: number,
    clientIp: string,
    clientPort: number,
    upstreamIp: string,
    upstreamPort: number,
    header: Buffer | undefined,
  ): number;
  udpSend(flowId: number, payload: Buffer): number;
  udpClose(flowId: number, out: number[]): void;
  udpIdle(flowId: number): number;
  udpActivity(flowId: number): number;
}

function load(): NativeAddon | undefined {
  if (process.env.KONG_TS_PUMP === 'js' || !isMainThread) return undefined;
  try {
    const req = createRequire(import.meta.url);
    const a = req(join(ROOT, 'build', 'Release', 'kong_pump.node')) as Partial<NativeAddon>;
    // an addon built from an older checkout lacks the newer functions: then none of it is used
    if (
      typeof a.setup !== 'function' ||
      typeof a.adopt !== 'function' ||
      typeof a.udpFlow !== 'function' ||
      typeof a.tlsAdopt !== 'function' ||
      typeof a.helloRead !== 'function'
    )
      return undefined;
    return a as NativeAddon;
  } catch {
    return undefined;
  }
}

/** The addon, or undefined when the TypeScript data paths serve. */
export const nativeAddon = load();

/** The errno names by number (os.constants.errno turned around), for failures the addon reports. */
const ERRNO_NAME = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** An errno number as its name (ECONNREFUSED), as Node's socket errors have it in `code`. */
export function errnoName(n: number): string {
  return ERRNO_NAME.get(n) ?? `errno ${n}`;
}
