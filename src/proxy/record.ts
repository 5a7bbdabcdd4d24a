import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import type { PluginChain } from '../plugins/chain.js';
import type { LogRecord } from '../plugins/types.js';
import type { AccessLog } from './access-log.js';

/**
 * Kong's stream log record (what log plugins receive, what the access log formats).
 * Stream status codes follow nginx: 200 ok, 400 bad request, 403 forbidden, 500 no route / internal,
 * 502 upstream failed, 503 no healthy target.
 */
export interface TryRecord {
  ip: string;
  port: number;
  /** ms spent connecting */
  balancer_latency: number;
  /** undefined when the connect succeeded; 'failed' or 'timeout' otherwise */
  state?: 'failed' | 'timeout';
  code?: string;
}

export interface SessionRecord {
  session: {
    tls?: {
      version?: string; cipher?: string; client_verify?: string; sni?: string; alpn?: string[]; passthrough?: boolean;
      /** mtls-auth: the accepted client certificate's subject DN and SHA-256 fingerprint (lower-case hex) */
      client_subject?: string; client_fingerprint?: string;
    };
    /** bytes received from the client */
    received: number;
    /** bytes sent to the client */
    sent: number;
    status: number;
    server_port: number;
    /** who closed first: 'client', 'upstream', 'proxy' */
    closed_by?: string;
    /** UDP only: datagrams received from the client */
    datagrams_received?: number;
    /** UDP only: datagrams sent to the client */
    datagrams_sent?: number;
  };
  upstream: { received: number; sent: number };
  latencies: { kong: number; session: number; connect?: number };
  tries: TryRecord[];
  route?: { id: string; name?: string };
  service?: { id: string; name?: string };
  client_ip: string;
  client_port: number;
  /** the local address the client connected to (the destination routes match) */
  server_ip?: string;
  /** md5 of the configuration the session was routed with (Kong's configuration_hash) */
  config_hash?: string;
  listener: string;
  protocol: string;
  /** ms since the epoch */
  started_at: number;
}

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
    tls: p.tls, received: p.received, sent: p.sent, status: p.status, server_port: p.serverPort, closed_by: p.closedBy,
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
  return sink.accessLog !== undefined || sink.metrics !== undefined || sink.onSessionEnd !== undefined || chain?.hasLog === true;
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
