/** `kong-ts route explain` and the dashboard's explain box in words: one text for both. */
import type { Explanation, RouteVerdict } from '../router/explain.js';
import { hostPort } from '../net/address.js';

function verdictHead(v: RouteVerdict): string {
  return `route '${v.name ?? v.id}'${v.service ? ` → service '${v.service}'` : ''}`;
}

const SHOWN = 20;

/** The explanation as text: the connection, the winner and its priority, then every other route's reason. */
export function explanationText(x: Explanation, all: boolean): string {
  const c = x.conn;
  const out = [
    `connection: ${c.protocol} from ${hostPort(c.srcIp, c.srcPort)} to ${hostPort(c.dstIp, c.dstPort)}${c.sni !== undefined ? `, sni '${c.sni}'` : ''}`,
  ];
  if (x.winner) {
    out.push(`winner: ${verdictHead(x.winner)}`, `  priority ${x.winner.priority} = ${x.winner.priority_text}`);
    if (!x.winner.service) out.push('  the route has no service: the connection is closed');
  } else out.push('no route matches: kong-ts logs "no Route found with those values" and closes the connection');
  if (x.others.length) out.push(`other routes (${x.others.length}):`);
  const shown = all ? x.others : x.others.slice(0, SHOWN);
  for (const v of shown) {
    const why = v.matched ? (v.note ?? 'matched') : v.mismatches.map((m) => `${m.field}: ${m.reason}`).join('; ');
    out.push(`  ${verdictHead(v)}${v.priority !== undefined && !v.matched ? ` (priority ${v.priority})` : ''}: ${why}`);
  }
  if (shown.length < x.others.length) out.push(`  ... and ${x.others.length - shown.length} more (use --all)`);
  return out.join('\n');
}
