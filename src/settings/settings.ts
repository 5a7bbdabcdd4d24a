import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { extname, isAbsolute, resolve } from 'node:path';
import { KongTsError } from '../errors.js';
import { LOG_LEVELS, SETTINGS } from './defaults.js';
import { parseAdminListen, parseStreamListen } from './listen.js';
import { parseConnectionRate, parseMaxConnections, type ConnectionRate } from '../limits/settings.js';
import type { ListenSpec } from './types.js';

export type ReloadPolicy = 'keep' | 'drain' | 'close';

export type SettingSource = 'default' | 'conf' | 'env' | 'flag';

/** The typed settings a running kong-ts uses. Paths are absolute. */
export interface Settings {
  prefix: string;
  declarativeConfig?: string;
  streamListen: ListenSpec[];
  adminListen: { host: string; port: number }[];
  adminToken?: string;
  /** pino level */
  logLevel: string;
  accessLog: { path: string; format: 'basic' | 'json' } | 'off';
  errorLog: string;
  sslCert?: string;
  sslCertKey?: string;
  trustedIps: string[];
  plugins: string[];
  /** the folder whose node_modules (and only it) holds custom plugins named by package name */
  pluginsPath?: string;
  workerProcesses: number;
  prereadTimeout: number;
  /** `auto`: plain listeners where a TLS route applies read the first bytes for a ClientHello; `off`: Kong 3 */
  streamTlsDetect: 'auto' | 'off';
  pluginPrereadTimeout: number;
  reloadDebounce: number;
  /** declarative_config_max_size, in bytes */
  configMaxBytes: number;
  /** declarative_config_load_heap, MiB */
  configLoadHeapMb: number;
  watch: boolean;
  maxConnections: number;
  maxConnectionsPerIp: number;
  connectionRatePerIp?: ConnectionRate;
  reloadPolicy: ReloadPolicy;
  drainTimeout: number;
  /** `port_maps`: listener port → host port */
  hostPorts: Map<number, number>;
  /** `router_exact_sni_first` */
  exactSniFirst: boolean;
  /** every known key's final string value and where it came from */
  values: Record<string, { value: string; source: SettingSource }>;
  /** keys of the kong.conf file kong-ts does not use (Kong's HTTP keys, mostly) */
  ignored: string[];
}

export interface SettingsInput {
  /** `-c FILE`: a declarative file (.yml/.yaml/.json) or a kong.conf */
  conf?: string;
  env?: NodeJS.ProcessEnv;
  /** command-line values, by setting name */
  flags?: Record<string, string | undefined>;
  cwd?: string;
}

/**
 * True when `-c FILE` names a declarative file rather than a kong.conf: by its ending (`.yml`, `.yaml`, `.json`,
 * also before a last suffix as in `kong.yml.example`), else by a `_format_version` key near its top.
 */
export function isDeclarativeFile(file: string): boolean {
  if (['.yml', '.yaml', '.json'].includes(extname(file).toLowerCase())) return true;
  if (/\.(ya?ml|json)\.[^./]+$/i.test(file)) return true;
  try {
    const fd = openSync(file, 'r');
    const head = Buffer.alloc(4096);
    const n = readSync(fd, head, 0, head.length, 0);
    closeSync(fd);
    return /^\s*"?_format_version"?\s*:/m.test(head.toString('utf8', 0, n));
  } catch {
    return false;
  }
}

/** Parses kong.conf text: `key = value` lines, `#` comments (`\#` for a literal #). */
export function parseKongConf(text: string, file: string): Record<string, string> {
  const out: Record<string, string> = {};
  text.split(/\r?\n/).forEach((line, i) => {
    const body = line
      .replace(/(^|[^\\])#.*$/, '$1')
      .replace(/\\#/g, '#')
      .trim();
    if (body === '') return;
    const eq = body.indexOf('=');
    if (eq <= 0)
      throw new KongTsError('KTS_SETTINGS_INVALID', [`in ${file}:${i + 1}`], {
        detail: `expected 'key = value', got '${line.trim()}'`,
      });
    out[body.slice(0, eq).trim().toLowerCase()] = body.slice(eq + 1).trim();
  });
  return out;
}

function bad(key: string, detail: string): never {
  throw new KongTsError('KTS_SETTINGS_INVALID', [key], { detail });
}

function int(key: string, v: string, min: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min) bad(key, `expected a whole number >= ${min}, got '${v}'`);
  return Number(v);
}

/** A size in bytes: `N`, `Nk` or `Nm` (1024-based). */
function size(key: string, v: string): number {
  const m = /^(\d+)\s*([kKmM]?)$/.exec(v);
  if (!m || Number(m[1]) < 1) bad(key, `expected a size such as 64m, 512k or 1048576, got '${v}'`);
  const unit = m[2]!.toLowerCase();
  return Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 * 1024 : 1);
}

/** Kong's `port_maps` (conf_loader/parse.lua): `host:kong` pairs, both ports 1-65535, Kong's message otherwise. */
export function parsePortMaps(text: string): { ok: true; map: Map<number, number> } | { ok: false; error: string } {
  const map = new Map<number, number>();
  for (const raw of text.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const m = /^(\d+):(\d+)$/.exec(item);
    const host = m ? Number(m[1]) : NaN,
      kong = m ? Number(m[2]) : NaN;
    if (!(host >= 1 && host <= 65535 && kong >= 1 && kong <= 65535))
      return { ok: false, error: `invalid port mapping (\`port_maps\`): ${item}` };
    map.set(kong, host);
  }
  return { ok: true, map };
}

/** defaults < kong.conf < KONG_* environment < flags. Throws KongTsError on a bad value. */
export function resolveSettings(input: SettingsInput = {}): Settings {
  const cwd = input.cwd ?? process.cwd();
  const env = input.env ?? process.env;
  const values: Settings['values'] = {};
  for (const [k, d] of Object.entries(SETTINGS)) values[k] = { value: d.default, source: 'default' };
  const ignored: string[] = [];

  let declarative: string | undefined;
  if (input.conf && isDeclarativeFile(resolve(cwd, input.conf))) declarative = resolve(cwd, input.conf);
  else if (input.conf) {
    let text: string;
    try {
      text = readFileSync(resolve(cwd, input.conf), 'utf8');
    } catch (err) {
      throw new KongTsError('KTS_CONF_UNREADABLE', [input.conf], { detail: (err as Error).message, cause: err });
    }
    for (const [k, v] of Object.entries(parseKongConf(text, input.conf))) {
      if (k in SETTINGS) values[k] = { value: v, source: 'conf' };
      else ignored.push(k);
    }
  }
  for (const k of Object.keys(SETTINGS)) {
    const v = env['KONG_' + k.toUpperCase()];
    if (v !== undefined) values[k] = { value: v, source: 'env' };
  }
  for (const [k, v] of Object.entries(input.flags ?? {})) {
    if (v === undefined) continue;
    if (!(k in SETTINGS)) bad(k, `unknown setting; known: ${Object.keys(SETTINGS).join(', ')}`);
    values[k] = { value: v, source: 'flag' };
  }
  if (declarative) values.declarative_config = { value: declarative, source: 'flag' };

  const v = (k: string) => values[k]!.value.trim();
  const prefix = resolve(cwd, v('prefix'));
  const inPrefix = (p: string) => (isAbsolute(p) ? p : resolve(prefix, p));

  if (v('database') !== 'off') bad('database', `kong-ts is DB-less: only 'off' is supported, got '${v('database')}'`);
  const stream = parseStreamListen(v('stream_listen'));
  if (!stream.ok) bad('stream_listen', stream.error);
  const admin = parseAdminListen(v('admin_listen'));
  if (!admin.ok) bad('admin_listen', admin.error);
  const level = LOG_LEVELS[v('log_level')];
  if (!level) bad('log_level', `expected one of ${Object.keys(LOG_LEVELS).join(', ')}, got '${v('log_level')}'`);

  let accessLog: Settings['accessLog'] = 'off';
  const al = v('proxy_stream_access_log');
  if (al !== 'off' && al !== '') {
    const [path, format = 'basic', ...rest] = al.split(/\s+/);
    if ((format !== 'basic' && format !== 'json') || rest.length)
      bad(
        'proxy_stream_access_log',
        `expected '<path> [basic|json]' or 'off', got '${al}' (kong-ts knows the 'basic' and 'json' formats)`,
      );
    accessLog = { path: path === 'stdout' || path === '/dev/stdout' ? 'stdout' : inPrefix(path!), format: format };
  }
  const errorLog = v('proxy_stream_error_log');
  const rank: Record<SettingSource, number> = { default: 0, conf: 1, env: 2, flag: 3 };
  const alias = values.worker_processes!;
  const workersKey =
    alias.value.trim() && rank[alias.source] > rank[values.nginx_worker_processes!.source]
      ? 'worker_processes'
      : 'nginx_worker_processes';
  const workers = v(workersKey);
  const sslCert = v('ssl_cert') || undefined;
  const sslCertKey = v('ssl_cert_key') || undefined;
  if (!!sslCert !== !!sslCertKey) bad('ssl_cert', 'ssl_cert and ssl_cert_key must be set together');
  const watch = v('watch');
  if (watch !== 'on' && watch !== 'off') bad('watch', `expected on or off, got '${watch}'`);
  const decl = v('declarative_config');
  const tlsDetect = v('stream_tls_detect');
  if (tlsDetect !== 'auto' && tlsDetect !== 'off') bad('stream_tls_detect', `expected auto or off, got '${tlsDetect}'`);
  const pluginsPath = v('plugins_path');
  const policy = v('reload_session_policy');
  if (policy !== 'keep' && policy !== 'drain' && policy !== 'close')
    bad('reload_session_policy', `expected keep, drain or close, got '${policy}'`);
  const portMaps = parsePortMaps(v('port_maps'));
  if (!portMaps.ok) bad('port_maps', portMaps.error);
  const exactSni = v('router_exact_sni_first');
  if (exactSni !== 'on' && exactSni !== 'off') bad('router_exact_sni_first', `expected on or off, got '${exactSni}'`);

  return {
    prefix,
    declarativeConfig: decl ? resolve(cwd, decl) : undefined,
    streamListen: stream.listeners,
    adminListen: admin.listeners,
    adminToken: v('admin_token') || undefined,
    logLevel: level,
    accessLog,
    errorLog: errorLog === 'stdout' || errorLog === '/dev/stdout' ? 'stdout' : inPrefix(errorLog),
    sslCert: sslCert && !sslCert.startsWith('-----') ? resolve(cwd, sslCert) : sslCert,
    sslCertKey: sslCertKey && !sslCertKey.startsWith('-----') ? resolve(cwd, sslCertKey) : sslCertKey,
    trustedIps: v('trusted_ips')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    plugins: v('plugins')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    pluginsPath: pluginsPath ? resolve(cwd, pluginsPath) : undefined,
    workerProcesses: workers === 'auto' ? availableParallelism() : int(workersKey, workers, 1),
    prereadTimeout: int('stream_preread_timeout', v('stream_preread_timeout'), 1),
    streamTlsDetect: tlsDetect,
    pluginPrereadTimeout: int('plugin_preread_timeout', v('plugin_preread_timeout'), 1),
    reloadDebounce: int('reload_debounce', v('reload_debounce'), 0),
    configMaxBytes: size('declarative_config_max_size', v('declarative_config_max_size')),
    configLoadHeapMb: int('declarative_config_load_heap', v('declarative_config_load_heap'), 64),
    watch: watch === 'on',
    maxConnections: parseMaxConnections('stream_max_connections', v('stream_max_connections')),
    maxConnectionsPerIp: parseMaxConnections('stream_max_connections_per_ip', v('stream_max_connections_per_ip')),
    connectionRatePerIp: parseConnectionRate('stream_connection_rate_per_ip', v('stream_connection_rate_per_ip')),
    reloadPolicy: policy,
    drainTimeout: int('reload_drain_timeout', v('reload_drain_timeout'), 0),
    hostPorts: portMaps.map,
    exactSniFirst: exactSni === 'on',
    values,
    ignored,
  };
}
