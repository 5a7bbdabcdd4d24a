/**
 * Kong's udp-log: one JSON datagram per session. `timeout` bounds resolving and connecting the socket.
 */
import type { PluginInstance, StreamPlugin } from '../types.js';
import { serializeRecord } from '../serialize.js';
import { DatagramSender } from '../transport/datagram-sender.js';

export interface UdpLogConfig {
  host: string;
  port: number;
  timeout: number;
}

const configSchema = {
  type: 'object',
  properties: {
    host: { type: 'string', minLength: 1 },
    port: { type: 'integer', minimum: 0, maximum: 65535 },
    timeout: { type: 'number', minimum: 0, default: 10000 },
  },
  required: ['host', 'port'],
  additionalProperties: false,
};

export const udpLog: StreamPlugin<UdpLogConfig> = {
  name: 'udp-log',
  priority: 8,
  configSchema,
  create(config, ctx): PluginInstance {
    const sender = new DatagramSender({
      host: config.host,
      port: config.port,
      timeout: config.timeout,
      queueSize: 1000,
      logger: ctx.logger,
      onDrop: ctx.metrics ? (n) => ctx.metrics!.logDropped('udp-log', n) : undefined,
    });
    return {
      log: (record) => sender.send(serializeRecord(record)),
      stats: () => sender.stats(),
      close: () => sender.close(),
    };
  },
};
