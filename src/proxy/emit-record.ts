import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { PluginChain } from '../plugins/chain.js';
import type { LogRecord } from '../plugins/types.js';
import type { AccessLog } from './access-log.js';
import type { SessionRecord, TryRecord } from './record.js';

/**
 * What one record is built from: TCP sessions (session-record.ts), connections refused at accept (accept.ts),
 * UDP sessions and datagrams no route took (udp/). Known at the start: the route, service, addresses, listener,
 * protocol, config hash and start time; at the end: the status, who closed, counts, latencies and tries.
 */
export interface RecordParts {
  route: { readonly id: string; readonly name?: string } | undefined;
  service: { readonly id: string; readonly name?: string } | undefined;
  clientIp: string;
  clientPort: number;
  serverIp: string | undefined;
  serverPort: number;
  /** the listener's `stream_listen` text */
  listener: string;
  protocol: string;
  configHash: string | undefined;
  startedAt: number;
  status: number;
  closedBy: string | undefined;
  tls?: SessionRecord['session']['tls'];
  /** bytes from and to the client */
  received: number;
  sent: number;
  /** UDP only: datagrams from and to the client */
  datagramsReceived?: number;
  datagramsSent?: number;
  upstreamReceived: number;
  upstreamSent: number;
  kongMs: number;
  sessionMs: number;
  connectMs?: number;
  tries: TryRecord[];
  /** what plugins set for the log step (`setLogValue`) */
  pluginValues?: Record<string, unknown>;
}

/** The one record builder: Kong's stream log record from its parts. */
export function buildRecord(p: RecordParts): LogRecord {
  const session: SessionRecord['session'] = {
    tls: p.tls,
    received: p.received,
    sent: p.sent,
    status: p.status,
    server_port: p.serverPort,
    closed_by: p.closedBy,
  };
  if (p.datagramsReceived !== undefined) {
    session.datagrams_received = p.datagramsReceived;
    session.datagrams_sent = p.datagramsSent ?? 0;
  }
  const r: LogRecord = {
    session,
    upstream: { received: p.upstreamReceived, sent: p.upstreamSent },
    latencies: { kong: p.kongMs, session: p.sessionMs, connect: p.connectMs },
    tries: p.tries,
    route: p.route ? { id: p.route.id, name: p.route.name } : undefined,
    service: p.service ? { id: p.service.id, name: p.service.name } : undefined,
    client_ip: p.clientIp,
    client_port: p.clientPort,
    server_ip: p.serverIp,
    config_hash: p.configHash,
    listener: p.listener,
    protocol: p.protocol,
    started_at: p.startedAt,
  };
  if (p.pluginValues) r.plugin_values = p.pluginValues;
  return r;
}

/** Where records go: the access log, the metrics, and the server's callback (the recent ring, tests). */
export interface RecordSink {
  readonly logger: Logger;
  readonly accessLog?: AccessLog;
  readonly metrics?: Metrics;
  readonly onSessionEnd?: (r: SessionRecord) => void;
}

/** True when someone would read a record (otherwise none is built). */
export function wantsRecord(sink: RecordSink, chain: PluginChain | undefined): boolean {
  return (
    sink.accessLog !== undefined ||
    sink.metrics !== undefined ||
    sink.onSessionEnd !== undefined ||
    chain?.hasLog === true
  );
}

/**
 * The one emit path: hands a record to the access log, the metrics, the plugins' log step of `chain` (the chain of
 * the snapshot the session started with) and the callback; a throwing consumer never reaches the data path.
 */
export function emitRecord(sink: RecordSink, r: SessionRecord, chain: PluginChain | undefined): void {
  try {
    sink.accessLog?.write(r);
    sink.metrics?.observeSession(r);
    if (chain?.hasLog) chain.log(r);
    sink.onSessionEnd?.(r);
  } catch (err) {
    sink.logger.error({ err }, 'session log handler failed');
  }
}
