/**
 * Kong's syslog plugin: one RFC 5424 message per session, its MSG the session's JSON.
 *
 * Deviation from Kong, whose plugin writes to the local syslog through the C library: `target` (kong-ts only)
 * names where to send, as `udp://host:port` (RFC 5426, the default is udp://127.0.0.1:514), `tcp://host:port`,
 * or the path of a unix stream socket (`/dev/log` where the syslog daemon listens on a stream socket, e.g.
 * syslog-ng's `unix-stream()`): Node.js cannot open unix datagram sockets. Stream targets get one message per
 * line (RFC 6587 non-transparent framing). Kong's fields keep their meaning: a session is sent when the severity
 * chosen by its status (successful, 4xx, 5xx) is at or above `log_level`.
 */
import { hostname } from 'node:os';
import { connect as netConnect } from 'node:net';
import type { LogRecord, PluginCreateContext, PluginInstance, StreamPlugin } from '../types.js';
import { serializeRecord } from '../serialize.js';
import { StreamSender } from '../transport/stream-sender.js';
import { DatagramSender } from '../transport/datagram-sender.js';

const SEVERITIES = { emerg: 0, alert: 1, crit: 2, err: 3, warning: 4, notice: 5, info: 6, debug: 7 } as const;
const FACILITIES = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
} as const;
type Severity = keyof typeof SEVERITIES;

export interface SyslogConfig {
  log_level: Severity;
  successful_severity: Severity;
  client_errors_severity: Severity;
  server_errors_severity: Severity;
  facility: keyof typeof FACILITIES;
  target: string;
}

const severity = { type: 'string', enum: Object.keys(SEVERITIES), default: 'info' };
const configSchema = {
  type: 'object',
  properties: {
    log_level: severity,
    successful_severity: severity,
    client_errors_severity: severity,
    server_errors_severity: severity,
    facility: { type: 'string', enum: Object.keys(FACILITIES), default: 'user' },
    target: { type: 'string', minLength: 1, pattern: '^(udp://|tcp://|/)', default: 'udp://127.0.0.1:514' },
  },
  additionalProperties: false,
};

// RFC 5424 HOSTNAME: printable US-ASCII without spaces, 255 characters at most
const HOST = (hostname().replace(/[^\x21-\x7e]/g, '') || '-').slice(0, 255);
const HEADER_TAIL = ` ${HOST} kong ${process.pid} - - `;

/** `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG` */
export function formatSyslog(pri: number, time: Date, msg: string): string {
  return `<${pri}>1 ${time.toISOString()}${HEADER_TAIL}${msg}`;
}

interface Sender {
  send(line: string): void;
  stats(): Readonly<Record<string, number>>;
  close(): Promise<void>;
}

function parseHostPort(rest: string, target: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(rest);
  if (!m || Number(m[2]) > 65535)
    throw new Error(`config.target: '${target}' must be udp://host:port, tcp://host:port or a socket path`);
  return { host: m[1]!, port: Number(m[2]) };
}

function openSender(target: string, ctx: PluginCreateContext): Sender {
  const onDrop = ctx.metrics ? (n: number) => ctx.metrics!.logDropped('syslog', n) : undefined;
  if (target.startsWith('udp://')) {
    const { host, port } = parseHostPort(target.slice(6), target);
    return new DatagramSender({ host, port, timeout: 10000, queueSize: 1000, logger: ctx.logger, onDrop });
  }
  const tcp = target.startsWith('tcp://') ? parseHostPort(target.slice(6), target) : undefined;
  const sender = new StreamSender<string>(
    {
      connect: tcp ? () => netConnect({ host: tcp.host, port: tcp.port }) : () => netConnect({ path: target }),
      readyEvent: 'connect',
      timeout: 10000,
      keepalive: 60000,
      queueSize: 1000,
      logger: ctx.logger,
      onDrop,
    },
    (line) => line + '\n',
  );
  return sender;
}

export const syslog: StreamPlugin<SyslogConfig> = {
  name: 'syslog',
  priority: 4,
  configSchema,
  create(config, ctx): PluginInstance {
    const level = SEVERITIES[config.log_level];
    const facility = FACILITIES[config.facility] * 8;
    const ok = SEVERITIES[config.successful_severity];
    const client = SEVERITIES[config.client_errors_severity];
    const server = SEVERITIES[config.server_errors_severity];
    const sender = openSender(config.target, ctx);
    return {
      log(record: LogRecord): void {
        const status = record.session.status;
        const sev = status >= 500 ? server : status >= 400 ? client : ok;
        if (sev > level) return;
        sender.send(formatSyslog(facility + sev, new Date(), serializeRecord(record)));
      },
      stats: () => sender.stats(),
      close: () => sender.close(),
    };
  },
};
