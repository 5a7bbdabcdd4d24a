import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startInstance, type Instance } from '../../src/cli/start.js';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createLogger } from '../../src/log.js';
import type { SessionRecord } from '../../src/proxy/record.js';
import { resolveSettings } from '../../src/settings/settings.js';
import { tempDir } from './cli.js';

export type LogLine = { level: number; msg: string; [k: string]: unknown };

export interface TestInstance {
  /** every log line of the instance (parsed pino JSON, level debug) */
  logs: LogLine[];
  /** resolves with the first log line (already written or to come) whose msg matches */
  waitLog(re: RegExp, timeoutMs?: number): Promise<LogLine>;
  inst: Instance;
  dir: string;
  file: string;
  /** the stream listeners' real ports, in stream_listen order (TCP first, then UDP) */
  ports: number[];
  /** admin API base URL, when admin_listen was given */
  admin?: string;
  records: SessionRecord[];
  /** the next session record (waits for it) */
  nextRecord(timeoutMs?: number): Promise<SessionRecord>;
  /** rewrites the declarative file and reloads it (as SIGHUP would); resolves with the outcome status */
  reload(yaml: string): Promise<string>;
  stop(graceMs?: number): Promise<void>;
}

/**
 * Runs a real kong-ts in this process on the given declarative YAML: listeners on port 0 (`stream_listen` entries
 * like `127.0.0.1:0 ssl`), admin off unless asked for, no file watching (reload() drives reloads), records kept.
 * The log is kept in memory (`logs`, `waitLog`); `KTS_TEST_LOG=/tmp/x` writes it to a file instead.
 */
export async function startYaml(
  yaml: string,
  opts: { listen?: string; settings?: Record<string, string>; tag?: string } = {},
): Promise<TestInstance> {
  const dir = tempDir(opts.tag ?? 'inst');
  const file = join(dir, 'kong.yml');
  writeFileSync(file, yaml);
  const settings = resolveSettings({
    conf: file,
    env: {},
    cwd: dir,
    flags: {
      prefix: join(dir, 'prefix'),
      stream_listen: opts.listen ?? '127.0.0.1:0',
      admin_listen: 'off',
      proxy_stream_access_log: 'off',
      watch: 'off',
      ...opts.settings,
    },
  });
  const records: SessionRecord[] = [];
  const waiting: ((r: SessionRecord) => void)[] = [];
  const logs: LogLine[] = [];
  const logWaiters: { re: RegExp; cb: (l: LogLine) => void }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        const l = JSON.parse(line) as LogLine;
        logs.push(l);
        for (let i = logWaiters.length - 1; i >= 0; i--) {
          if (logWaiters[i]!.re.test(l.msg)) logWaiters.splice(i, 1)[0]!.cb(l);
        }
      }
      cb();
    },
  });
  const logger = process.env.KTS_TEST_LOG
    ? createLogger({ level: 'debug', file: `${process.env.KTS_TEST_LOG}.${process.pid}` })
    : pino({ level: 'debug' }, sink);
  const inst = await startInstance(settings, {
    logger,
    signals: false,
    onSessionEnd: (r) => {
      const w = waiting.shift();
      if (w) w(r);
      else records.push(r);
    },
  });
  const ports = [...inst.stream.addresses(), ...inst.udp.addresses()].map((a) => a.port);
  const a = inst.admin?.addresses()[0];
  return {
    inst,
    dir,
    file,
    ports,
    records,
    logs,
    waitLog(re: RegExp, timeoutMs = 5000) {
      const l = logs.find((x) => re.test(x.msg));
      if (l) return Promise.resolve(l);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no log line matching ${re} within ${timeoutMs} ms`)), timeoutMs);
        logWaiters.push({
          re,
          cb: (x) => {
            clearTimeout(t);
            resolve(x);
          },
        });
      });
    },
    admin: a ? `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}` : undefined,
    nextRecord(timeoutMs = 5000) {
      const r = records.shift();
      if (r) return Promise.resolve(r);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no session record within ' + timeoutMs + ' ms')), timeoutMs);
        waiting.push((rec) => {
          clearTimeout(t);
          resolve(rec);
        });
      });
    },
    async reload(text: string) {
      writeFileSync(file, text);
      return (await inst.manager.reloadFile('signal')).status;
    },
    stop: (graceMs?: number) => inst.stop('test', graceMs),
  };
}
