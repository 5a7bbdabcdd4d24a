import { connect, type Socket } from 'node:net';
import type { CheckResult, Peer } from './types.js';

/** Called once per probe: the result to count, or undefined when the answer counts neither way. */
export type ProbeDone = (result: CheckResult | undefined) => void;

/** One probe of one address; returns its socket so that the checker can destroy it on stop. */
export type Probe = (peer: Peer, timeoutMs: number, done: ProbeDone) => Socket;

/** HAProxy's `tcp-check send` / `expect string`, from the upstream's kong-ts.healthcheck tags. */
export interface TcpCheck {
  send?: Buffer;
  expect?: Buffer;
}

/** An answer that grows past this without the expected bytes is a failure (no probe buffers without end). */
const MAX_ANSWER = 16 * 1024;

/**
 * The tcp probe: a connect within the timeout is a success. With send/expect the probe writes `send` once
 * connected and succeeds when what the target answers contains `expect` (anywhere, like HAProxy's `expect
 * string`); an answer that ends, or outgrows 16 KiB, without it is a tcp_failure; silence past the timeout is a
 * timeout. Without `expect`, the write going out is the success.
 */
export function tcpProbe(check: TcpCheck | undefined): Probe {
  const send = check?.send;
  const expect = check?.expect;
  return (peer, timeoutMs, done) => {
    const socket = connect({ host: peer.ip, port: peer.port });
    watch(socket, timeoutMs, done, () => {
      if (send) socket.write(send);
      if (!expect) {
        if (send) socket.write('', () => finishOnce(socket, done, 'success'));
        else finishOnce(socket, done, 'success');
        return;
      }
      expectBytes(socket, expect, done);
    });
    return socket;
  };
}

/** Reads until `expect` shows up in the answer. */
export function expectBytes(socket: Socket, expect: Buffer, done: ProbeDone): void {
  let answer: Buffer = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => {
    answer = answer.length === 0 ? d : Buffer.concat([answer, d]);
    if (answer.includes(expect)) finishOnce(socket, done, 'success');
    else if (answer.length > MAX_ANSWER) finishOnce(socket, done, 'tcp_failure');
  });
  socket.once('end', () => finishOnce(socket, done, 'tcp_failure'));
}

const finished = new WeakSet<Socket>();

/** Reports once and destroys the socket; later events of the same probe are ignored. */
export function finishOnce(socket: Socket, done: ProbeDone, result: CheckResult | undefined): void {
  if (finished.has(socket)) return;
  finished.add(socket);
  socket.destroy();
  done(result);
}

/**
 * The common part of every probe: unref()ed (a probe never keeps the process alive), `timeoutMs` of silence is a
 * timeout, an error (refused, reset, TLS failure) a tcp_failure, a close before any verdict a tcp_failure.
 * `ready` runs on `readyEvent` (connect, or secureConnect for TLS).
 */
export function watch(
  socket: Socket,
  timeoutMs: number,
  done: ProbeDone,
  ready: () => void,
  readyEvent = 'connect',
): void {
  socket.unref();
  socket.setTimeout(Math.max(1, timeoutMs));
  socket.once(readyEvent, ready);
  socket.once('timeout', () => finishOnce(socket, done, 'timeout'));
  socket.once('error', () => finishOnce(socket, done, 'tcp_failure'));
  socket.once('close', () => finishOnce(socket, done, 'tcp_failure'));
}
