/**
 * The dashboard page: one HTML document with its CSS and script inline, nothing fetched from elsewhere. The script
 * polls `dashboard/data` (at most once a second, not while the tab is hidden) and builds every table with DOM
 * calls and textContent, never innerHTML, so names from the declarative file cannot inject markup.
 */
import { createHash } from 'node:crypto';

const STYLE = `
:root{--bg:#f6f7f9;--card:#fff;--ink:#1d2433;--dim:#6b7280;--line:#e3e6eb;--ok:#1f9d55;--warn:#d97706;--bad:#dc2626;--accent:#2563eb}
*{box-sizing:border-box}body{margin:0;font:13px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:var(--bg);color:var(--ink)}
header{display:flex;gap:16px;align-items:baseline;padding:10px 18px;background:#111827;color:#f9fafb}
header h1{font-size:16px;margin:0}header .dim{color:#9ca3af}#live{margin-left:auto}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:12px;padding:12px 18px}
section{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:10px 12px;min-width:0}
section.wide{grid-column:1/-1}h2{font-size:13px;margin:0 0 8px;text-transform:uppercase;letter-spacing:.04em;color:var(--dim)}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:3px 6px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--dim);font-size:12px}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.badge{display:inline-block;padding:0 6px;border-radius:9px;font-size:11px;font-weight:600;color:#fff;background:var(--dim)}
.HEALTHY,.loaded,.ok{background:var(--ok)}.UNHEALTHY,.invalid,.unreadable,.DNS_ERROR{background:var(--bad)}.HEALTHCHECKS_OFF{background:#64748b}
.err{border-left:4px solid var(--bad);background:#fef2f2;padding:6px 8px;margin-top:8px}.err.old{border-color:var(--warn);background:#fffbeb}
.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px}.kv div:nth-child(odd){color:var(--dim)}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:10px}
.chart svg{width:100%;height:90px;background:#fbfcfd;border:1px solid var(--line);border-radius:4px}
.legend{font-size:11px;color:var(--dim)}.legend span{margin-right:8px}.legend i{display:inline-block;width:10px;height:3px;margin-right:3px;vertical-align:middle}
form{display:flex;flex-wrap:wrap;gap:6px;align-items:end}label{display:flex;flex-direction:column;font-size:11px;color:var(--dim)}
input,select,button{font:inherit;padding:3px 6px;border:1px solid var(--line);border-radius:4px}button{background:var(--accent);color:#fff;border:0;padding:4px 12px}
pre{white-space:pre-wrap;background:#f3f4f6;padding:6px 8px;border-radius:4px;margin:8px 0 0;max-height:260px;overflow:auto}
#winner{font-weight:600;margin-top:8px}.none{color:var(--dim)}
`;

const SCRIPT = `
'use strict';
const base = location.pathname.replace(/\\/?$/, '/');
const $ = (id) => document.getElementById(id);
const COLORS = ['#2563eb', '#16a34a', '#d97706', '#dc2626', '#7c3aed', '#0891b2', '#db2777', '#65a30d'];
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, v);
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(k === undefined || k === null ? '' : String(k)));
  return e;
}
function badge(text) { return el('span', { class: 'badge ' + text }, text); }
function fill(tbody, rows) { tbody.replaceChildren(...rows); }
function ago(iso) {
  if (!iso) return '';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 60 ? s + ' s ago' : s < 3600 ? Math.round(s / 60) + ' min ago' : Math.round(s / 3600) + ' h ago';
}
function bytes(n) {
  const u = ['B', 'KiB', 'MiB', 'GiB']; let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : Math.round(n)) + ' ' + u[i];
}
function where(p) { return p.file + ':' + p.line + ':' + p.column + (p.path ? ' ' + p.path : '') + ': ' + p.message; }

const NS = 'http://www.w3.org/2000/svg';
function chart(id, rates, series, fmt) {
  // the x axis spans the samples there are: one minute at least, five at most
  const svg = $(id), W = 300, H = 90, now = Date.now();
  const span = Math.min(300000, Math.max(60000, rates.length ? now - rates[0].t : 0));
  let max = 0;
  for (const s of series) for (const p of rates) max = Math.max(max, s.get(p) || 0);
  const kids = [];
  const y = (v) => H - 4 - (max ? (v / max) * (H - 16) : 0);
  for (const s of series) {
    const pts = rates.map((p) => ((W * (1 - (now - p.t) / span)).toFixed(1) + ',' + y(s.get(p) || 0).toFixed(1))).join(' ');
    const line = document.createElementNS(NS, 'polyline');
    line.setAttribute('points', pts); line.setAttribute('fill', 'none'); line.setAttribute('stroke', s.color);
    line.setAttribute('stroke-width', '1.5'); line.setAttribute('vector-effect', 'non-scaling-stroke');
    kids.push(line);
  }
  const label = document.createElementNS(NS, 'text');
  label.setAttribute('x', '4'); label.setAttribute('y', '11'); label.setAttribute('font-size', '10'); label.setAttribute('fill', '#6b7280');
  label.textContent = 'max ' + fmt(max) + '/s';
  kids.push(label);
  svg.replaceChildren(...kids);
  const last = rates.length ? rates[rates.length - 1] : undefined;
  $(id + '-legend').replaceChildren(...series.map((s) => el('span', {}, el('i', { style: 'background:' + s.color }), s.name + ' ' + fmt(last ? s.get(last) || 0 : 0) + '/s')));
}

function render(d) {
  $('host').textContent = d.hostname + ' · pid ' + d.pid + ' · kong-ts ' + d.version + ' · up ' + d.uptime_seconds + ' s';
  const c = d.config;
  $('cfg-hash').textContent = c.hash || '-';
  $('cfg-generation').textContent = c.generation;
  $('cfg-loaded').textContent = c.loaded_at ? c.loaded_at + ' (' + ago(c.loaded_at) + ')' : '-';
  $('cfg-file').textContent = c.file;
  $('conns').textContent = d.connections.active + ' open · ' + d.connections.accepted + ' accepted';
  const e = c.last_error, box = $('last-error');
  if (!e) { box.hidden = true; } else {
    box.hidden = false;
    box.className = 'err' + (c.loaded_at && Date.parse(c.loaded_at) > Date.parse(e.at) ? ' old' : '');
    box.replaceChildren(el('div', {}, el('b', {}, 'last reload error'), ' ' + e.at + ' (' + ago(e.at) + ', ' + e.trigger + ')' +
      (box.className.includes('old') ? ' — a later load succeeded' : ' — the previous config keeps serving')),
      ...(e.problems && e.problems.length ? e.problems.map((p) => el('div', { class: 'mono problem' }, where(p))) : [el('div', { class: 'mono problem' }, e.error)]));
  }
  fill($('listeners'), d.listeners.map((l) => el('tr', {}, el('td', {}, l.kind), el('td', { class: 'mono' }, l.address),
    el('td', {}, [l.ssl ? 'ssl' : '', l.proxy_protocol ? 'proxy_protocol' : ''].filter(Boolean).join(' ')))));
  if (d.routes) routes = { generation: c.generation, rows: d.routes };
  const open = d.sessions_by_route, shown = routes.rows.slice(0, MAX_ROUTES);
  fill($('routes'), shown.map((r) => el('tr', { 'data-route': r.name || r.id },
    el('td', {}, r.name || el('span', { class: 'mono' }, r.id)), el('td', {}, r.service || el('span', { class: 'none' }, 'none')),
    el('td', {}, r.protocols.join(', ')), el('td', { class: 'num' }, r.priority === null ? '-' : r.priority),
    el('td', { class: 'mono' }, [r.sources.length ? 'src ' + r.sources.join(' ') : '', r.destinations.length ? 'dst ' + r.destinations.join(' ') : '',
      r.snis.length ? 'sni ' + r.snis.join(' ') : ''].filter(Boolean).join(' · ')),
    el('td', { class: 'num sessions' }, open[r.id] || 0))));
  $('routes-count').textContent = routes.rows.length + (shown.length < routes.rows.length ? ', the first ' + shown.length + ' by priority shown' : '');
  const ups = $('upstreams');
  ups.replaceChildren(...(d.upstreams.length ? d.upstreams.map((u) => el('div', { 'data-upstream': u.name },
    el('div', {}, el('b', {}, u.name), ' ', el('span', { class: 'dim' }, u.algorithm), ' ', badge(u.healthy === false ? 'UNHEALTHY' : 'HEALTHY')),
    el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'target'), el('th', {}, 'health'), el('th', { class: 'num' }, 'weight'), el('th', { class: 'num' }, 'open'), el('th', {}, 'addresses'))),
      el('tbody', {}, ...u.targets.map((t) => el('tr', { 'data-target': t.target }, el('td', { class: 'mono' }, t.target), el('td', {}, badge(t.health)),
        el('td', { class: 'num' }, t.weight), el('td', { class: 'num' }, t.connections),
        el('td', { class: 'mono' }, t.addresses.map((a) => a.address + (a.health !== t.health ? ' ' + a.health : '')).join(', ')))))))) : [el('div', { class: 'none' }, 'no upstreams')]));
  const w = $('workers-section');
  w.hidden = !d.workers;
  if (d.workers) fill($('workers'), d.workers.map((x) => el('tr', {}, el('td', {}, x.id), el('td', {}, x.pid), el('td', {}, x.state),
    el('td', { class: 'num' }, x.configuration_generation), el('td', { class: 'num' }, x.connections_active), el('td', {}, x.rss), el('td', {}, x.last_config_error || ''))));
  fill($('reloads'), d.reloads.map((r) => el('tr', { 'data-result': r.result }, el('td', {}, r.at.replace('T', ' ').replace('Z', '')), el('td', {}, r.trigger),
    el('td', { class: 'num' }, r.duration_ms + ' ms'), el('td', {}, badge(r.result), r.generation ? ' gen ' + r.generation : ''),
    el('td', { class: 'num' }, r.sessions ? r.sessions.kept + ' / ' + r.sessions.drained + ' / ' + r.sessions.closed : ''),
    el('td', { class: 'mono' }, r.problems && r.problems.length ? where(r.problems[0]) : r.error || ''))));
  const codes = [...new Set(d.rates.flatMap((p) => Object.keys(p.statuses)))].sort();
  const num = (v) => (v >= 100 ? Math.round(v) : +v.toFixed(1)).toString();
  chart('chart-conns', d.rates, [{ name: 'connections', color: COLORS[0], get: (p) => p.connections }], num);
  chart('chart-bytes', d.rates, [{ name: 'in', color: COLORS[1], get: (p) => p.bytes_in }, { name: 'out', color: COLORS[4], get: (p) => p.bytes_out }], bytes);
  chart('chart-status', d.rates, codes.length ? codes.map((code, i) => ({ name: code, color: code < '400' ? COLORS[1] : code < '500' ? COLORS[2 + (i % 2) * 4] : COLORS[3 + (i % 2) * 3], get: (p) => p.statuses[code] })) : [{ name: 'sessions', color: COLORS[1], get: () => 0 }], num);
}

let timer, failures = 0, routes = { generation: -1, rows: [] };
const MAX_ROUTES = 500;
async function poll() {
  clearTimeout(timer);
  if (!document.hidden) {
    try {
      const r = await fetch(base + 'data?have=' + routes.generation, { cache: 'no-store', credentials: 'same-origin' });
      if (r.status === 401) throw new Error('unauthorized: open /dashboard?token=<admin_token> once');
      if (!r.ok) throw new Error('HTTP ' + r.status);
      render(await r.json());
      failures = 0;
      $('live').textContent = 'updated ' + new Date().toLocaleTimeString();
      $('live').className = '';
    } catch (err) {
      failures++;
      $('live').textContent = 'not updating: ' + err.message;
      $('live').className = 'badge invalid';
    }
  }
  timer = setTimeout(poll, Math.min(10000, 1000 * Math.max(1, failures)));
}
document.addEventListener('visibilitychange', () => { if (!document.hidden) poll(); });

$('explain').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const q = new URLSearchParams();
  for (const k of ['source', 'destination', 'sni', 'protocol']) { const v = $('x-' + k).value.trim(); if (v) q.set(k, v); }
  const out = $('explain-text'), win = $('winner');
  try {
    const r = await fetch(base + 'explain?' + q, { cache: 'no-store', credentials: 'same-origin' });
    const x = await r.json();
    if (!r.ok) { win.textContent = x.message; win.dataset.winner = ''; out.textContent = ''; return; }
    win.dataset.winner = x.winner ? (x.winner.name || x.winner.id) : '';
    win.textContent = x.winner ? 'winner: ' + (x.winner.name || x.winner.id) + (x.winner.service ? ' → ' + x.winner.service : '') + ' (priority ' + x.winner.priority + ')' : 'no route matches';
    out.textContent = x.text;
  } catch (err) { win.textContent = String(err); }
});
poll();
`;

const BODY = `<header><h1>kong-ts</h1><span class="dim" id="host"></span><span id="live">loading…</span></header>
<main>
<section><h2>Configuration</h2><div class="kv">
<div>generation</div><div id="cfg-generation"></div><div>hash</div><div class="mono" id="cfg-hash"></div>
<div>loaded</div><div id="cfg-loaded"></div><div>file</div><div class="mono" id="cfg-file"></div>
<div>connections</div><div id="conns"></div></div><div id="last-error" hidden></div></section>
<section><h2>Listeners</h2><table><thead><tr><th>kind</th><th>address</th><th>options</th></tr></thead><tbody id="listeners"></tbody></table></section>
<section class="wide"><h2>Rates, last 5 minutes</h2><div class="charts">
<div class="chart"><svg id="chart-conns" viewBox="0 0 300 90" preserveAspectRatio="none"></svg><div class="legend" id="chart-conns-legend"></div></div>
<div class="chart"><svg id="chart-bytes" viewBox="0 0 300 90" preserveAspectRatio="none"></svg><div class="legend" id="chart-bytes-legend"></div></div>
<div class="chart"><svg id="chart-status" viewBox="0 0 300 90" preserveAspectRatio="none"></svg><div class="legend" id="chart-status-legend"></div></div>
</div></section>
<section class="wide"><h2>Routes (<span id="routes-count"></span>)</h2><table><thead><tr><th>route</th><th>service</th><th>protocols</th><th class="num">priority</th><th>match</th><th class="num">open sessions</th></tr></thead><tbody id="routes"></tbody></table></section>
<section><h2>Upstreams</h2><div id="upstreams"></div></section>
<section><h2>Route explain</h2><form id="explain">
<label>source<input id="x-source" value="10.0.0.1:40000" size="16"></label>
<label>destination<input id="x-destination" placeholder="127.0.0.1:5555" size="16"></label>
<label>SNI<input id="x-sni" size="16"></label>
<label>protocol<select id="x-protocol"><option value="">auto</option><option>tcp</option><option>tls</option><option>udp</option></select></label>
<button type="submit">explain</button></form><div id="winner"></div><pre id="explain-text"></pre></section>
<section class="wide" id="workers-section" hidden><h2>Workers</h2><table><thead><tr><th>id</th><th>pid</th><th>state</th><th class="num">generation</th><th class="num">open</th><th>rss</th><th>last error</th></tr></thead><tbody id="workers"></tbody></table></section>
<section class="wide"><h2>Reloads</h2><table><thead><tr><th>time (UTC)</th><th>trigger</th><th class="num">duration</th><th>result</th><th class="num">sessions kept / drained / closed</th><th>error</th></tr></thead><tbody id="reloads"></tbody></table></section>
</main>`;

const SCRIPT_HASH = createHash('sha256').update(SCRIPT).digest('base64');

/** Only the inline script (by its hash) and inline styles run; the page may fetch its own origin, nothing else. */
export const DASHBOARD_CSP = `default-src 'none'; script-src 'sha256-${SCRIPT_HASH}'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

export function dashboardPage(): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>kong-ts dashboard</title><link rel="icon" href="data:,"><style>${STYLE}</style></head><body>${BODY}<script>${SCRIPT}</script></body></html>`;
}
