/**
 * Address text shared by the proxy, the admin API and the CLI: one way to write `host:port` and one way to show an
 * IPv4 client of a dual-stack listener, and one way to read `ip:port` back.
 */
import { isIP } from 'node:net';

/** `host:port`, with an IPv6 host in brackets (`[::1]:8000`) so the port stays readable. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The address without its IPv4-mapped IPv6 prefix: Node reports IPv4 clients of a dual-stack listener as
 * `::ffff:a.b.c.d`, Kong logs and matches them as `a.b.c.d`. Other addresses are returned as they are.
 */
export function unmapIPv4(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/** `1.2.3.4:80` or `[::1]:80` → ip and port; undefined when malformed. */
export function parseIpPort(s: string): { ip: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:\s]+):(\d{1,5})$/.exec(s);
  if (!m || !isIP(m[1]!)) return undefined;
  const port = Number(m[2]);
  return port <= 65535 ? { ip: m[1]!, port } : undefined;
}
