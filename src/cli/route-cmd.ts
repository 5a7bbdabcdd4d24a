import { isIP } from 'node:net';
import { Command } from 'commander';
import { loadConfigFile } from '../config/load.js';
import { formatProblem } from '../config/problems.js';
import { explainRoute, type Explanation, type RouteVerdict } from '../router/explain.js';
import type { ConnInfo } from '../router/types.js';
import { isDeclarativeFile, resolveSettings } from '../settings/settings.js';

/** `1.2.3.4:80` or `[::1]:80` → ip and port; undefined when malformed. */
export function parseIpPort(s: string): { ip: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:\s]+):(\d{1,5})$/.exec(s);
  if (!m || !isIP(m[1]!)) return undefined;
  const port = Number(m[2]);
  return port <= 65535 ? { ip: m[1]!, port } : undefined;
}

function hostPort(ip: string, port: number): string {
  return `${ip.includes(':') ? `[${ip}]` : ip}:${port}`;
}

function verdictHead(v: RouteVerdict): string {
  return `route '${v.name ?? v.id}'${v.service ? ` → service '${v.service}'` : ''}`;
}

const SHOWN = 20;

/** The explanation as text: the connection, the winner and its priority, then every other route's reason. */
export function explanationText(x: Explanation, all: boolean): string {
  const c = x.conn;
  const out = [`connection: ${c.protocol} from ${hostPort(c.srcIp, c.srcPort)} to ${hostPort(c.dstIp, c.dstPort)}${c.sni !== undefined ? `, sni '${c.sni}'` : ''}`];
  if (x.winner) {
    out.push(`winner: ${verdictHead(x.winner)}`, `  priority ${x.winner.priority} = ${x.winner.priority_text}`);
    if (!x.winner.service) out.push('  the route has no service: the connection is closed');
  } else out.push('no route matches: kong-ts logs "no Route found with those values" and closes the connection');
  if (x.others.length) out.push(`other routes (${x.others.length}):`);
  const shown = all ? x.others : x.others.slice(0, SHOWN);
  for (const v of shown) {
    const why = v.matched ? v.note ?? 'matched' : v.mismatches.map((m) => `${m.field}: ${m.reason}`).join('; ');
    out.push(`  ${verdictHead(v)}${v.priority !== undefined && !v.matched ? ` (priority ${v.priority})` : ''}: ${why}`);
  }
  if (shown.length < x.others.length) out.push(`  ... and ${x.others.length - shown.length} more (use --all)`);
  return out.join('\n');
}

interface ExplainOpts {
  conf: string; sni?: string; source: string; destination: string; protocol?: string; format: string; all?: boolean;
}

function usage(msg: string): void {
  console.error(`Error: ${msg}`);
  process.exitCode = 2;
}

export function routeCommand(): Command {
  const route = new Command('route').description('routing tools: explain');
  route.command('explain')
    .description('which route takes a connection and why, and why every other route did not; exit 0 a route matches, 1 none, 2 trouble')
    .requiredOption('-c, --conf <file>', 'a declarative file, or a kong.conf naming one in declarative_config')
    .requiredOption('--source <ip:port>', 'the client address, e.g. 10.0.0.1:40000 or [2001:db8::1]:40000')
    .requiredOption('--destination <ip:port>', 'the listener address the client connected to, e.g. 127.0.0.1:5555')
    .option('--sni <name>', 'the server name of the TLS ClientHello (implies --protocol tls)')
    .option('--protocol <protocol>', 'tcp, tls or udp (default: tls with --sni, else tcp)')
    .option('--format <format>', 'text or json', 'text')
    .option('--all', 'list every other route (text shows the first 20)')
    .action(async (o: ExplainOpts) => {
      if (!['text', 'json'].includes(o.format)) return usage(`--format must be text or json, got '${o.format}'`);
      const protocol = (o.protocol ?? (o.sni !== undefined ? 'tls' : 'tcp')) as ConnInfo['protocol'];
      if (!['tcp', 'tls', 'udp'].includes(protocol)) return usage(`--protocol must be tcp, tls or udp, got '${protocol}'`);
      const src = parseIpPort(o.source), dst = parseIpPort(o.destination);
      if (!src) return usage(`--source must be ip:port (e.g. 10.0.0.1:40000 or [::1]:40000), got '${o.source}'`);
      if (!dst) return usage(`--destination must be ip:port (e.g. 127.0.0.1:5555), got '${o.destination}'`);
      const settings = isDeclarativeFile(o.conf) ? undefined : resolveSettings({ conf: o.conf });
      const file = settings ? settings.declarativeConfig : o.conf;
      if (!file) return usage(`${o.conf} names no declarative_config`);
      const r = await loadConfigFile(file);
      if (!r.ok) {
        console.error(`Error: ${file}: Failed parsing:`);
        for (const p of r.problems) console.error(formatProblem(p));
        process.exitCode = 2;
        return;
      }
      const conn: ConnInfo = { protocol, srcIp: src.ip, srcPort: src.port, dstIp: dst.ip, dstPort: dst.port };
      if (o.sni !== undefined) conn.sni = o.sni.toLowerCase();
      const x = explainRoute(r.config, conn, settings ? { hostPorts: settings.hostPorts, exactSniFirst: settings.exactSniFirst } : {});
      console.log(o.format === 'json' ? JSON.stringify(x, null, 2) : explanationText(x, !!o.all));
      process.exitCode = x.winner ? 0 : 1;
    });
  return route;
}
