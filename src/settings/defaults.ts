/**
 * Every setting kong-ts reads, with its default and the line the README shows for it.
 * Names and defaults are Kong's where Kong has the setting; `kong-ts` marks our own.
 */
export interface SettingDoc {
  default: string;
  doc: string;
  kongTs?: boolean;
}

export const SETTINGS: Record<string, SettingDoc> = {
  prefix: {
    default: 'kong-ts-prefix',
    doc: 'working folder: pid file, logs, generated certificates (relative to the current folder)',
  },
  declarative_config: { default: '', doc: 'the declarative file (kong.yml) to serve; `start -c FILE.yml` sets it' },
  database: { default: 'off', doc: 'only `off` (DB-less) is supported' },
  stream_listen: {
    default: 'off',
    doc: 'comma-separated `<ip>:<port> [ssl] [proxy_protocol] [udp] [bind] [reuseport] [backlog=N] [ipv6only=on|off] [so_keepalive=on|off|idle:intvl:cnt]`',
  },
  admin_listen: { default: '127.0.0.1:8001', doc: 'admin API address(es), `off` disables it' },
  admin_token: {
    default: '',
    doc: 'when set, every admin request needs `Authorization: Bearer <token>`',
    kongTs: true,
  },
  log_level: { default: 'notice', doc: 'debug, info, notice, warn, error, crit, alert, emerg' },
  proxy_stream_access_log: {
    default: 'logs/access.log basic',
    doc: 'path (relative to prefix, or `stdout`) and format (`basic`, or `json`: one JSON object a session, fields in the README); `off` disables it',
  },
  proxy_stream_error_log: {
    default: 'stdout',
    doc: 'where the JSON process log goes (Kong: logs/error.log; kong-ts logs to stdout by default)',
  },
  ssl_cert: {
    default: '',
    doc: 'PEM certificate served when no SNI matches (a self-signed localhost pair is generated when empty)',
  },
  ssl_cert_key: { default: '', doc: 'PEM private key of ssl_cert' },
  trusted_ips: { default: '', doc: 'comma-separated IPs/CIDRs allowed to send PROXY protocol headers' },
  plugins: {
    default: 'bundled',
    doc: 'comma-separated plugins to load: `bundled` and npm package names or paths of custom plugins',
  },
  plugins_path: {
    default: '',
    doc: 'the folder whose `node_modules` holds custom plugins named by npm package name (only that folder, never its parents); empty: the folder of the declarative file',
    kongTs: true,
  },
  nginx_worker_processes: {
    default: '1',
    doc: 'worker processes (`auto` = one per core): above 1, a primary loads the config and runs the admin API, the workers share the stream listeners (udp: the first worker)',
  },
  worker_processes: {
    default: '',
    doc: 'alias of nginx_worker_processes (the one given by the higher source wins)',
    kongTs: true,
  },
  stream_preread_timeout: {
    default: '5000',
    doc: 'ms to wait for a TLS ClientHello on ssl listeners (and on plain ones that detect TLS) and for a PROXY header',
    kongTs: true,
  },
  stream_tls_detect: {
    default: 'auto',
    doc: '`auto`: a plain (non-`ssl`) listener where a `tls` or `tls_passthrough` route could apply reads the first bytes first: a ClientHello is routed by SNI (terminated or passed through), anything else as tcp; listeners where no TLS route applies never wait. `off`: Kong 3, TLS routes only on `ssl` listeners',
    kongTs: true,
  },
  plugin_preread_timeout: {
    default: '3000',
    doc: "ms an async plugin preread may take; past it the connection goes on without that plugin's answer (logged)",
    kongTs: true,
  },
  declarative_config_max_size: {
    default: '64m',
    doc: 'largest declarative file or `POST /config` body accepted (bytes, or with a `k` or `m` suffix); a larger one is refused before it is read (413 for POST), the live config keeps serving. 100,000 tcp routes with their services take 10-25 MB of YAML',
    kongTs: true,
  },
  declarative_config_load_heap: {
    default: '2048',
    doc: 'heap limit (MiB) of the thread that parses and checks each declarative file; a load that needs more is refused, the live config keeps serving',
    kongTs: true,
  },
  reload_debounce: { default: '300', doc: 'ms to wait after a file change before reloading', kongTs: true },
  stream_max_connections: {
    default: '0',
    doc: 'open connections per listener; more are closed with status 503 (0 = unlimited)',
    kongTs: true,
  },
  stream_max_connections_per_ip: {
    default: '0',
    doc: 'open connections per client IP; more are closed with status 429 (0 = unlimited)',
    kongTs: true,
  },
  stream_connection_rate_per_ip: {
    default: 'off',
    doc: 'new connections per client IP: `N/s` or `N/m`, optional `burst=B`; over it: status 429',
    kongTs: true,
  },
  reload_session_policy: {
    default: 'keep',
    doc: 'open sessions whose route a reload removed or changed: `keep` (Kong), `drain` (closed after reload_drain_timeout), `close` (at once); a route tag `kong-ts.reload=keep|drain|close` overrides it',
    kongTs: true,
  },
  reload_drain_timeout: { default: '30000', doc: 'ms a drained session may still run after the reload', kongTs: true },
  port_maps: {
    default: '',
    doc: "comma-separated `<host port>:<listener port>` when kong-ts runs behind a port mapping (e.g. a container): routes' destination ports name the host port, as in Kong",
  },
  router_exact_sni_first: {
    default: 'off',
    doc: 'on equal route priority, a route matching the SNI exactly beats one matching by wildcard (`on`/`off`; Kong treats them alike, as `off`)',
    kongTs: true,
  },
  watch: {
    default: 'on',
    doc: 'reload when the declarative file changes (`on`/`off`); SIGHUP and `kong-ts reload` always work',
    kongTs: true,
  },
};

/** Kong's log levels mapped to pino's. */
export const LOG_LEVELS: Record<string, string> = {
  debug: 'debug',
  info: 'info',
  notice: 'info',
  warn: 'warn',
  error: 'error',
  crit: 'fatal',
  alert: 'fatal',
  emerg: 'fatal',
};
