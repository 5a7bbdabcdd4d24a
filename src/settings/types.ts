/** One `stream_listen` entry. */
export interface ListenSpec {
  host: string;
  port: number;
  ssl: boolean;
  proxyProtocol: boolean;
  udp: boolean;
  reuseport: boolean;
  bind: boolean;
  backlog?: number;
  ipv6only?: boolean;
  /** `so_keepalive=on|off|idle:intvl:cnt`: undefined leaves the system default */
  soKeepalive?: { enabled: boolean; idle?: number; interval?: number; count?: number };
  /** the entry as written, for messages */
  text: string;
}
