/**
 * The record part of a TCP session: what it says when it ends (through the one builder and emit path of record.ts).
 */
import { performance } from 'node:perf_hooks';
import { buildRecord, emitRecord } from './emit-record.js';
import type { TcpSession } from './session-types.js';

/** Builds the session's record and hands it to the server's sink and to the plugins of the session's snapshot. */
export function reportSession(s: TcpSession): void {
  const c = s.client;
  const up = s.upstream;
  const now = performance.now();
  emitRecord(
    s.ctx,
    buildRecord({
      route: s.route,
      service: s.service,
      clientIp: s.clientIp,
      clientPort: s.clientPort,
      serverIp: s.serverIp,
      serverPort: s.serverPort,
      listener: s.spec.text,
      protocol: s.tls ? 'tls' : 'tcp',
      configHash: s.snap.hash,
      startedAt: s.startedAt,
      status: s.status,
      closedBy: s.closedBy,
      tls: s.tls,
      received: c.bytesRead + s.received,
      sent: c.bytesWritten + s.sent,
      upstreamReceived: (up?.bytesRead ?? 0) + s.upstreamReceived,
      upstreamSent: (up?.bytesWritten ?? 0) + s.upstreamSent,
      kongMs: Math.round((s.connectedAt || now) - s.acceptedAt),
      sessionMs: Math.round(now - s.acceptedAt),
      connectMs: s.connectedAt ? Math.round(s.connectedAt - s.tryStartedAt) : undefined,
      tries: s.recordedTries,
      pluginValues: s.logValues,
    }),
    s.chain,
  );
}
