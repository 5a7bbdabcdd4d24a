/** The route protocols kong-ts serves: Kong's stream subsystem. A route with none of them is never served. */
export const STREAM_PROTOCOLS = ['tcp', 'tls', 'tls_passthrough', 'udp'] as const;

export type StreamProtocol = (typeof STREAM_PROTOCOLS)[number];

const STREAM_SET: ReadonlySet<string> = new Set(STREAM_PROTOCOLS);

export function isStreamProtocol(protocol: unknown): protocol is StreamProtocol {
  return STREAM_SET.has(protocol as string);
}

/** True when the route serves at least one stream protocol. */
export function servesStream(protocols: readonly string[]): boolean {
  return protocols.some(isStreamProtocol);
}
