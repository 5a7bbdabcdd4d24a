/**
 * Kong's tcp-log: one JSON line per session to a TCP (or TLS) collector over one persistent connection.
 * As in Kong, `tls: true` does not verify the collector's certificate; `tls_sni` sets the server name sent.
 * `queue_size` (kong-ts only, default 1000) bounds the records waiting for a slow or dead collector: beyond it
 * they are dropped and counted, so the data path is never slowed (see transport/stream-sender.ts).
 */
import { connect as netConnect, isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { LogRecord, PluginInstance, StreamPlugin } from '../types.js';
import { serializeRecord } from '../serialize.js';
import { StreamSender } from '../transport/stream-sender.js';

export interface TcpLogConfig {
  host: string;
  port: number;
  timeout: number;
  keepalive: number;
  tls: boolean;
  tls_sni?: string | null;
  queue_size: number;
}

const configSchema = {
  type: 'object',
  properties: {
    host: { type: 'string', minLength: 1 },
    port: { type: 'integer', minimum: 0, maximum: 65535 },
    timeout: { type: 'number', minimum: 0, default: 10000 },
    keepalive: { type: 'number', minimum: 0, default: 60000 },
    tls: { type: 'boolean', default: false },
    tls_sni: { type: ['string', 'null'] },
    queue_size: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 1000 },
  },
  required: ['host', 'port'],
  additionalProperties: false,
};

function serializeLine(record: LogRecord): string {
  return serializeRecord(record) + '\n';
}

export const tcpLog: StreamPlugin<TcpLogConfig> = {
  name: 'tcp-log',
  priority: 7,
  configSchema,
  create(config, ctx): PluginInstance {
    const { host, port } = config;
    const servername = config.tls_sni ?? (isIP(host) ? undefined : host);
    const sender = new StreamSender<LogRecord>(
      {
        connect: config.tls
          ? () => tlsConnect({ host, port, servername, rejectUnauthorized: false })
          : () => netConnect({ host, port }),
        readyEvent: config.tls ? 'secureConnect' : 'connect',
        timeout: config.timeout,
        keepalive: config.keepalive,
        queueSize: config.queue_size,
        logger: ctx.logger,
        onDrop: ctx.metrics ? (n) => ctx.metrics!.logDropped('tcp-log', n) : undefined,
      },
      serializeLine,
    );
    return {
      log: (record) => sender.send(record),
      stats: () => sender.stats(),
      close: () => sender.close(),
    };
  },
};
