/**
 * Helpers for the operations end-to-end tests (ops-*.test.ts, hostile-*.test.ts): an in-process instance whose
 * log lines are kept, backends that read a PROXY header before echoing, small socket probes, and a child-process
 * kong-ts for the tests that need a process of their own (RSS, ulimit, quit).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { readProxyHeader } from '../../src/proxy-protocol/read.js';
import type { ProxyHeader } from '../../src/proxy-protocol/parse.js';
import { CLI } from '../helpers/cli.js';
import { startYaml, type LogLine, type TestInstance } from '../helpers/instance.js';

export type { LogLine, TestInstance as LoggedInstance } from '../helpers/instance.js';

/** startYaml (whose log lines are kept in memory) with this suite's temp-folder tag. */
export function startLogged(
  yaml: string,
  opts: { listen?: string; settings?: Record<string, string> } = {},
): Promise<TestInstance> {
  return startYaml(yaml, { ...opts, tag: 'opse2e' });
}

export interface Backend {
  port: number;
  server: Server;
  close(): Promise<void>;
}

async function listen(server: Server, host = '127.0.0.1'): Promise<Backend> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, host);
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    server,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Echoes everything, after writing `greeting` when one is given; half-close aware. */
export function echoBackend(greeting?: string): Promise<Backend> {
  return listen(
    createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => s.destroy());
      if (greeting) s.write(greeting);
      s.pipe(s);
    }),
  );
}

export interface SeenHeader {
  header?: ProxyHeader;
  rest: Buffer;
  error?: string;
}

/**
 * Reads a PROXY header from each connection, pushes it to `seen`, then echoes; with `tls` it then terminates TLS
 * on the same socket (the header comes before the handshake) and echoes the plain bytes.
 */
export async function proxyReadingBackend(
  opts: { tls?: { cert: string; key: string } } = {},
): Promise<Backend & { seen: SeenHeader[]; next(): Promise<SeenHeader> }> {
  const seen: SeenHeader[] = [];
  const waiting: ((h: SeenHeader) => void)[] = [];
  const b = await listen(
    createServer({ pauseOnConnect: true, allowHalfOpen: true }, (s) => {
      s.on('error', () => s.destroy());
      void readProxyHeader(s, { timeoutMs: 3000 }).then((r) => {
        const w = waiting.shift();
        if (w) w(r);
        else seen.push(r);
        if (r.error) return void s.destroy();
        if (opts.tls) {
          // a Duplex, not the socket: TLSSocket reads a net.Socket's handle directly and would miss `rest`
          const d = new Duplex({
            read() {
              s.resume();
            },
            write(chunk: Buffer, _enc, cb) {
              s.write(chunk, cb);
            },
            final(cb) {
              s.end();
              cb();
            },
            destroy(err, cb) {
              s.destroy();
              cb(err);
            },
          });
          if (r.rest.length) d.push(r.rest);
          s.on('data', (c: Buffer) => {
            if (!d.push(c)) s.pause();
          });
          s.on('end', () => d.push(null));
          s.on('close', () => d.destroy());
          const t = new TLSSocket(d, { isServer: true, cert: opts.tls.cert, key: opts.tls.key });
          t.on('error', () => t.destroy());
          t.pipe(t);
          s.resume();
          return;
        }
        s.write(r.rest);
        s.pipe(s);
        s.resume();
      });
    }),
  );
  return {
    ...b,
    seen,
    next: () => {
      const h = seen.shift();
      return h ? Promise.resolve(h) : new Promise((resolve) => waiting.push(resolve));
    },
  };
}

/** Connects, writes `data`, ends, and resolves with everything read until the peer ends or closes. */
export function exchange(
  port: number,
  data: Buffer | string,
  opts: { host?: string; endAfterWrite?: boolean; timeoutMs?: number } = {},
): Promise<{ data: Buffer; closed: boolean; error?: string; local: number }> {
  return new Promise((resolve) => {
    const s = connect({ port, host: opts.host ?? '127.0.0.1', allowHalfOpen: true });
    const parts: Buffer[] = [];
    let local = 0;
    let error: string | undefined;
    const t = setTimeout(() => s.destroy(), opts.timeoutMs ?? 5000);
    s.on('connect', () => {
      local = s.localPort!;
      s.write(data);
      if (opts.endAfterWrite !== false) s.end();
    });
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => s.end());
    s.on('error', (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
    });
    s.on('close', () => {
      clearTimeout(t);
      resolve({ data: Buffer.concat(parts), closed: true, error, local });
    });
  });
}

export const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` every 20 ms until it is true or `timeoutMs` passes; returns the last result. */
export async function until(check: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) return false;
    await delay(20);
  }
  return true;
}

export interface ChildKong {
  child: ChildProcess;
  out(): string;
  /** resolves with the first stdout line (parsed JSON) whose msg matches */
  waitLog(re: RegExp, timeoutMs?: number): Promise<LogLine>;
  kill(): void;
}

/**
 * Spawns `kong-ts start` (optionally under `bash -c 'ulimit -n N; exec node ...'`) and resolves once it logged
 * that it started.
 */
export function spawnKong(
  args: string[],
  opts: { ulimit?: number; env?: NodeJS.ProcessEnv; nodeArgs?: string[] } = {},
): Promise<ChildKong> {
  const nodeCmd = [process.execPath, ...(opts.nodeArgs ?? []), CLI, 'start', ...args];
  const child = opts.ulimit
    ? spawn('bash', ['-c', `ulimit -n ${opts.ulimit} && exec "$@"`, 'kong', ...nodeCmd], {
        env: { ...process.env, ...opts.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
    : spawn(nodeCmd[0]!, nodeCmd.slice(1), { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters: { re: RegExp; cb: (l: LogLine) => void }[] = [];
  let partial = '';
  const onData = (d: Buffer) => {
    out += String(d);
    partial += String(d);
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      let l: LogLine;
      try {
        l = JSON.parse(line) as LogLine;
      } catch {
        continue;
      }
      for (let i = waiters.length - 1; i >= 0; i--) if (waiters[i]!.re.test(l.msg)) waiters.splice(i, 1)[0]!.cb(l);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const api: ChildKong = {
    child,
    out: () => out,
    waitLog(re, timeoutMs = 10_000) {
      for (const line of out.split('\n')) {
        try {
          const l = JSON.parse(line) as LogLine;
          if (re.test(l.msg)) return Promise.resolve(l);
        } catch {
          /* not JSON */
        }
      }
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`no log line ${re} within ${timeoutMs} ms:\n${out.slice(-3000)}`)),
          timeoutMs,
        );
        waiters.push({
          re,
          cb: (l) => {
            clearTimeout(t);
            resolve(l);
          },
        });
      });
    },
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`kong-ts exited with ${code}:\n${out}`)));
    api.waitLog(/^kong-ts started$/, 15_000).then(
      () => resolve(api),
      (err: Error) => {
        api.kill();
        reject(err);
      },
    );
  });
}

/** RSS of a process in KiB, from /proc. */
export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readProc(`/proc/${pid}/status`));
  return m ? Number(m[1]) : NaN;
}

function readProc(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
