import { isIP } from 'node:net';
import type { ListenSpec } from './types.js';

export const STREAM_LISTEN_USAGE =
  'must be of form: [off] | <ip>:<port> [udp] [ssl] [proxy_protocol] [bind] [reuseport] [backlog=%d+] ' +
  '[ipv6only=on] [ipv6only=off] [so_keepalive=on] [so_keepalive=off] [so_keepalive=%w*:%w*:%d*], [... next entry ...]';

export const ADMIN_LISTEN_USAGE =
  'must be of form: [off] | <ip>:<port> [ssl] [http2] [proxy_protocol] [deferred] [bind] [reuseport] [backlog=%d+], [... next entry ...]';

/** Splits `ip:port`, `[v6]:port` and `*:port`; undefined when malformed. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  let host = m[1] ?? m[2]!;
  if (m[1] !== undefined && isIP(host) !== 6) return undefined;
  if (host === '*') host = '0.0.0.0';
  if (m[2] !== undefined && !isIP(host) && !/^[a-zA-Z0-9.-]+$/.test(host)) return undefined;
  return { host, port };
}

function parseKeepalive(v: string): ListenSpec['soKeepalive'] | undefined {
  if (v === 'on') return { enabled: true };
  if (v === 'off') return { enabled: false };
  const m = /^(\d*)([sm]?):(\d*)([sm]?):(\d*)$/.exec(v);
  if (!m) return undefined;
  const secs = (n: string, unit: string) => (n === '' ? undefined : Number(n) * (unit === 'm' ? 60 : 1));
  return {
    enabled: true,
    idle: secs(m[1]!, m[2]!),
    interval: secs(m[3]!, m[4]!),
    count: m[5] === '' ? undefined : Number(m[5]),
  };
}

/**
 * Parses Kong's `stream_listen` syntax as Kong's conf loader does (conf_loader/listeners.lua parse_listeners): an
 * empty value is refused; `off` as the first entry means no stream listener (what follows it is not read); any
 * entry that is not `<ip>:<port> [flags]` (an empty one, `off` further on, an unknown flag) gets Kong's usage text.
 */
export function parseStreamListen(value: string): { ok: true; listeners: ListenSpec[] } | { ok: false; error: string } {
  const entries = value.split(',').map((e) => e.trim());
  if (value.trim() === '') return { ok: false, error: `stream_listen ${STREAM_LISTEN_USAGE} (the value is empty)` };
  if (entries[0] === 'off') return { ok: true, listeners: [] };
  const listeners: ListenSpec[] = [];
  for (const entry of entries) {
    const [addr, ...flags] = entry.split(/\s+/);
    const hp = addr ? parseHostPort(addr) : undefined;
    if (!hp) return { ok: false, error: `stream_listen ${STREAM_LISTEN_USAGE} (got '${entry}')` };
    const spec: ListenSpec = {
      host: hp.host,
      port: hp.port,
      ssl: false,
      proxyProtocol: false,
      udp: false,
      reuseport: false,
      bind: false,
      text: entry,
    };
    for (const f of flags) {
      const [k, val] = f.split('=', 2) as [string, string | undefined];
      if (f === 'ssl') spec.ssl = true;
      else if (f === 'proxy_protocol') spec.proxyProtocol = true;
      else if (f === 'udp') spec.udp = true;
      else if (f === 'reuseport') spec.reuseport = true;
      else if (f === 'bind') spec.bind = true;
      else if (k === 'backlog' && val && /^\d+$/.test(val)) spec.backlog = Number(val);
      else if (k === 'ipv6only' && (val === 'on' || val === 'off')) spec.ipv6only = val === 'on';
      else if (k === 'so_keepalive' && val && parseKeepalive(val)) spec.soKeepalive = parseKeepalive(val);
      else return { ok: false, error: `stream_listen ${STREAM_LISTEN_USAGE} (unknown flag '${f}' in '${entry}')` };
    }
    if (spec.udp && spec.ssl)
      return { ok: false, error: `stream_listen '${entry}': 'udp' and 'ssl' cannot be combined` };
    listeners.push(spec);
  }
  return { ok: true, listeners };
}

/** Parses `admin_listen`: plain HTTP entries; `ssl` entries are refused (the admin API speaks HTTP only). */
export function parseAdminListen(
  value: string,
): { ok: true; listeners: { host: string; port: number }[] } | { ok: false; error: string } {
  const v = value.trim();
  if (v === '' || v === 'off') return { ok: true, listeners: [] };
  const listeners: { host: string; port: number }[] = [];
  for (const raw of v.split(',')) {
    const entry = raw.trim();
    const [addr, ...flags] = entry.split(/\s+/);
    const hp = addr ? parseHostPort(addr) : undefined;
    if (!hp) return { ok: false, error: `admin_listen '${entry}' ${ADMIN_LISTEN_USAGE}` };
    if (flags.includes('ssl'))
      return {
        ok: false,
        error: `admin_listen '${entry}': the 'ssl' flag is not supported (put a TLS proxy in front, or keep the admin API on loopback)`,
      };
    listeners.push(hp);
  }
  return { ok: true, listeners };
}
