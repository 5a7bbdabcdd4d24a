/** Text and GitHub-annotation forms of a replay report (JSON is the report itself). */
import type { ReplayEnd, ReplayGroup, ReplayReport } from './replay.js';

function endText(e: ReplayEnd): string {
  if (e.route === null) return 'no route';
  return `route '${e.route}' (${e.service === null ? 'no service' : `service '${e.service}'`})`;
}

function pct(n: number, total: number): string {
  return total ? `${((100 * n) / total).toFixed(1)}%` : '0%';
}

function groupLine(g: ReplayGroup): string {
  return `${endText(g.from)} → ${endText(g.to)}`;
}

/** Lines of text: the counts, then each group with its examples. */
export function replayText(r: ReplayReport, source: string): string {
  const out = [
    `replay of ${r.sessions} session${r.sessions === 1 ? '' : 's'} from ${source}${r.skipped ? ` (${r.skipped} entries skipped)` : ''}:`,
  ];
  out.push(`  ${r.kept} keep their route and service (${pct(r.kept, r.sessions)})`);
  out.push(`  ${r.moved} move to another route or service (${pct(r.moved, r.sessions)})`);
  out.push(`  ${r.unrouted} would find no route (${pct(r.unrouted, r.sessions)})`);
  if (r.still_unrouted) out.push(`  ${r.still_unrouted} found no route before either`);
  for (const kind of ['moved', 'unrouted'] as const) {
    const gs = r.groups.filter((g) => (kind === 'moved') === (g.to.route !== null && g.to.service !== null));
    if (!gs.length) continue;
    out.push('', kind === 'moved' ? 'moved:' : 'unrouted:');
    for (const g of gs) {
      out.push(`  ${String(g.count).padStart(7)}  ${groupLine(g)}`);
      out.push(`           e.g. ${g.examples.join('; ')}`);
    }
  }
  return out.join('\n');
}

/** One annotation per group (warning: moved, error: unrouted) and a notice with the counts. */
export function replayGithub(r: ReplayReport, source: string): string {
  const esc = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  const out = [
    `::notice title=kong-ts replay::${esc(`${r.sessions} sessions from ${source}: ${r.kept} keep their route and service, ${r.moved} move, ${r.unrouted} would find no route`)}`,
  ];
  for (const g of r.groups) {
    const moved = g.to.route !== null && g.to.service !== null;
    out.push(
      `::${moved ? 'warning' : 'error'} title=kong-ts replay::${esc(`${g.count} session${g.count === 1 ? '' : 's'} ${moved ? 'move' : 'would find no route'}: ${groupLine(g)}, e.g. ${g.examples.join('; ')}`)}`,
    );
  }
  return out.join('\n');
}
