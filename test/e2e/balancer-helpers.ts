import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Resolver } from '../../src/balancer/index.js';
import type { TargetHealth } from '../../src/balancer/types.js';
import { startInstance, type Instance } from '../../src/cli/start.js';
import type { SessionRecord } from '../../src/proxy/record.js';
import { resolveSettings } from '../../src/settings/settings.js';
import { tempDir } from '../helpers/cli.js';

/**
 * A loopback backend that greets every connection with its name and a newline, then echoes. `kill()` closes the
 * listener and resets every open connection (a crashed process); `start()` again listens on the same port.
 */
export class NamedBackend {
  readonly name: string;
  port = 0;
  accepted = 0;
  readonly sockets = new Set<Socket>();
  #server: Server | undefined;

  constructor(name: string) {
    this.name = name;
  }

  async start(): Promise<this> {
    const server = createServer((s) => {
      this.accepted++;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => {});
      s.write(this.name + '\n');
      s.pipe(s);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
    return this;
  }

  get live(): number {
    return this.sockets.size;
  }

  async kill(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    // a reset, as a crashed process sends; but Node 20 never closes a socket reset after its own FIN went out
    // (uv_tcp_close_reset refuses, the handle stays open and the process cannot exit): those are just closed
    for (const c of this.sockets) {
      if (c.writableEnded) c.destroy();
      else c.resetAndDestroy();
    }
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

export async function backends(...names: string[]): Promise<NamedBackend[]> {
  return Promise.all(names.map((n) => new NamedBackend(n).start()));
}

export interface LbInstance {
  inst: Instance;
  port: number;
  records: SessionRecord[];
  /** every log line of the instance, parsed */
  logs: Array<Record<string, unknown> & { msg?: string; level: number }>;
  reload(yaml: string): Promise<string>;
  /** the health of the upstream's targets in the running snapshot */
  health(upstream?: string): TargetHealth[];
  stop(): Promise<void>;
}

/**
 * Runs kong-ts in-process like test/helpers/instance.ts does, plus what balancer tests need: an injected DNS
 * resolver and the log lines (pino at debug level into memory).
 */
export async function startLb(yaml: string, opts: { resolver?: Resolver } = {}): Promise<LbInstance> {
  const dir = tempDir('bale2e');
  const file = join(dir, 'kong.yml');
  writeFileSync(file, yaml);
  const settings = resolveSettings({
    conf: file,
    env: {},
    cwd: dir,
    flags: {
      prefix: join(dir, 'prefix'),
      stream_listen: '127.0.0.1:0',
      admin_listen: 'off',
      proxy_stream_access_log: 'off',
      watch: 'off',
    },
  });
  const logs: LbInstance['logs'] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line));
      cb();
    },
  });
  const records: SessionRecord[] = [];
  const inst = await startInstance(settings, {
    logger: pino({ level: 'debug' }, sink),
    signals: false,
    resolver: opts.resolver,
    onSessionEnd: (r) => records.push(r),
  });
  return {
    inst,
    port: inst.stream.addresses()[0]!.port,
    records,
    logs,
    async reload(text: string) {
      writeFileSync(file, text);
      return (await inst.manager.reloadFile('signal')).status;
    },
    health(upstream = 'pool') {
      const snap = inst.manager.current!;
      const b = [...snap.balancers.values()].find((x) => x.upstreamName === upstream);
      if (!b) throw new Error(`no upstream ${upstream}`);
      return b.health();
    },
    stop: () => inst.stop('test'),
  };
}

/** YAML of an upstream `pool` with these targets (`host:port` → weight) behind a tcp service and route. */
export function poolYaml(
  targets: Array<[string, number]>,
  upstream: Record<string, unknown> = {},
  service: Record<string, unknown> = {},
): string {
  const u = { name: 'pool', ...upstream, targets: targets.map(([target, weight]) => ({ target, weight })) };
  const s = {
    name: 'svc',
    host: 'pool',
    protocol: 'tcp',
    connect_timeout: 2000,
    ...service,
    routes: [{ name: 'r', protocols: ['tcp'], destinations: [{ ip: '127.0.0.1' }] }],
  };
  // JSON is YAML: no quoting rules to get wrong
  return JSON.stringify({ _format_version: '3.0', upstreams: [u], services: [s] }, null, 1);
}

export interface Held {
  /** the backend's name, or '' when the proxy closed without a byte (no peer, or every try failed) */
  name: string;
  socket: Socket;
  close(): void;
}

/** Connects through the proxy and waits for the backend's greeting; the connection stays open. */
export function hold(port: number, localAddress?: string): Promise<Held> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', localAddress });
    let buf = '';
    const done = (name: string) => {
      s.removeAllListeners('data');
      s.removeListener('close', onClose);
      resolve({ name, socket: s, close: () => s.destroy() });
    };
    const onClose = () => done('');
    s.on('data', (d) => {
      buf += String(d);
      const nl = buf.indexOf('\n');
      if (nl >= 0) done(buf.slice(0, nl));
    });
    s.on('close', onClose);
    s.on('error', (err: NodeJS.ErrnoException) => {
      // a reset before any greeting counts as a failed connection, like a close
      if (err.code !== 'ECONNRESET') reject(err);
    });
  });
}

/** One short connection through the proxy: the name of the backend that answered ('' when none did). */
export async function ask(port: number, localAddress?: string): Promise<string> {
  const h = await hold(port, localAddress);
  h.socket.end();
  h.socket.destroy();
  return h.name;
}

/** Runs `n` short connections, `concurrency` at a time; returns the answering names in completion order. */
export async function askMany(port: number, n: number, concurrency = 8): Promise<string[]> {
  const out: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        out.push(await ask(port));
      }
    }),
  );
  return out;
}

export function count(names: string[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const n of names) c[n] = (c[n] ?? 0) + 1;
  return c;
}

/** Polls `cond` every 10 ms; resolves with the ms it took, rejects after `ms`. */
export async function waitFor(cond: () => boolean, ms: number, what = 'condition'): Promise<number> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - start;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
