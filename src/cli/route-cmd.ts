import { Command } from 'commander';
import { loadConfigFile } from '../config/load.js';
import { formatProblem } from '../config/problems.js';
import { explainRoute } from '../router/explain.js';
import { explanationText } from '../gitops/explain-format.js';
import type { ConnInfo } from '../router/types.js';
import { parseIpPort } from '../net/address.js';
import { isDeclarativeFile, resolveSettings } from '../settings/settings.js';

interface ExplainOpts {
  conf: string;
  sni?: string;
  source: string;
  destination: string;
  protocol?: string;
  format: string;
  all?: boolean;
}

function usage(msg: string): void {
  console.error(`Error: ${msg}`);
  process.exitCode = 2;
}

export function routeCommand(): Command {
  const route = new Command('route').description('routing tools: explain');
  route
    .command('explain')
    .description(
      'which route takes a connection and why, and why every other route did not; exit 0 a route matches, 1 none, 2 trouble',
    )
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
      if (!['tcp', 'tls', 'udp'].includes(protocol))
        return usage(`--protocol must be tcp, tls or udp, got '${protocol}'`);
      const src = parseIpPort(o.source),
        dst = parseIpPort(o.destination);
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
      const x = explainRoute(
        r.config,
        conn,
        settings ? { hostPorts: settings.hostPorts, exactSniFirst: settings.exactSniFirst } : {},
      );
      console.log(o.format === 'json' ? JSON.stringify(x, null, 2) : explanationText(x, !!o.all));
      process.exitCode = x.winner ? 0 : 1;
    });
  return route;
}
