// The record's types only, so that metrics, plugins and the access log can name it without importing what builds
// and emits records (emit-record.ts), which imports them.

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
      version?: string;
      cipher?: string;
      client_verify?: string;
      sni?: string;
      alpn?: string[];
      passthrough?: boolean;
      /** mtls-auth: the accepted client certificate's subject DN and SHA-256 fingerprint (lower-case hex) */
      client_subject?: string;
      client_fingerprint?: string;
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
