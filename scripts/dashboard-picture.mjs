#!/usr/bin/env node
// Renders docs/images/dashboard.png from real data: kong-ts (dist/, built) serves TCP and TLS traffic to a
// health-checked upstream while Prometheus scrapes its /metrics every second; a backend is killed and restarted and
// the file reloaded along the way. Then the queries of deploy/grafana/kong-ts-dashboard.json are run against that
// Prometheus (query_range) and drawn as SVG charts in a page that headless Chromium screenshots.
// Usage: node scripts/dashboard-picture.mjs [seconds=90] [out=docs/images/dashboard.png]
// Needs: prometheus and chromium on PATH.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { pathToFileURL } from 'node:url';

const [secondsArg = '90', outArg = 'docs/images/dashboard.png'] = process.argv.slice(2);
const SECONDS = Number(secondsArg);
const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const out = resolve(outArg);
const dir = mkdtempSync(join(tmpdir(), 'kts-dash-'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const children = [];
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

async function freePort() {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address();
  s.close();
  return port;
}

/** A backend that echoes; kill() resets its connections and stops listening, start() listens again. */
function backend(port) {
  let server;
  const sockets = new Set();
  return {
    port,
    async start() {
      server = createServer((s) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => {});
        s.pipe(s);
      });
      server.listen(port, '127.0.0.1');
      await once(server, 'listening');
    },
    async kill() {
      for (const s of sockets) s.resetAndDestroy();
      await new Promise((r) => server.close(r));
    },
  };
}

const { generateSelfSigned } = await import(pathToFileURL(join(root, 'dist/src/tls/default-cert.js')).href);
const [plain, ssl, admin, prom, pa, pb] = await Promise.all([1, 2, 3, 4, 5, 6].map(freePort));
const a = backend(pa);
const b = backend(pb);
await a.start();
await b.start();
const pair = generateSelfSigned({ commonName: 'demo.example.com', altNames: ['demo.example.com'] });
const config = (n) =>
  `# generation ${n}\n` +
  JSON.stringify(
    {
      _format_version: '3.0',
      certificates: [{ cert: pair.cert, key: pair.key, snis: [{ name: 'demo.example.com' }] }],
      upstreams: [
        {
          name: 'pool',
          healthchecks: {
            active: {
              type: 'tcp',
              healthy: { interval: 1, successes: 1 },
              unhealthy: { interval: 1, tcp_failures: 1 },
            },
          },
          targets: [{ target: `127.0.0.1:${pa}` }, { target: `127.0.0.1:${pb}` }],
        },
      ],
      services: [
        {
          name: 'echo',
          host: 'pool',
          protocol: 'tcp',
          routes: [
            { name: 'tcp-in', protocols: ['tcp'], destinations: [{ port: plain }] },
            { name: 'tls-in', protocols: ['tls'], snis: ['demo.example.com'] },
          ],
        },
      ],
    },
    null,
    1,
  );
const file = join(dir, 'kong.yml');
writeFileSync(file, config(1));

const kong = spawn(
  process.execPath,
  [
    join(root, 'bin/kong-ts'),
    'start',
    '-c',
    file,
    '-p',
    join(dir, 'prefix'),
    '--stream-listen',
    `127.0.0.1:${plain}, 127.0.0.1:${ssl} ssl`,
    '--admin-listen',
    `127.0.0.1:${admin}`,
    '--set',
    'proxy_stream_access_log=off',
    '--log-level',
    'warn',
  ],
  { stdio: 'ignore' },
);
children.push(kong);
writeFileSync(
  join(dir, 'prometheus.yml'),
  `global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: kong-ts
    static_configs: [{ targets: ['127.0.0.1:${admin}'] }]
`,
);
const prometheus = spawn(
  'prometheus',
  [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'tsdb')}`,
    `--web.listen-address=127.0.0.1:${prom}`,
  ],
  { stdio: 'ignore' },
);
children.push(prometheus);
for (let i = 0; i < 100; i++) {
  try {
    if ((await fetch(`http://127.0.0.1:${admin}/status`)).ok) break;
  } catch {
    await sleep(100);
  }
}

function tcpOnce(port, bytes) {
  return new Promise((res) => {
    const s = connect(port, '127.0.0.1', () => s.end(Buffer.alloc(bytes, 120)));
    s.on('data', () => {});
    s.on('error', () => res());
    s.on('close', () => res());
  });
}
function tlsOnce(servername) {
  return new Promise((res) => {
    const s = tlsConnect({ port: ssl, host: '127.0.0.1', servername, rejectUnauthorized: false }, () => s.end('ping'));
    s.on('data', () => {});
    s.on('error', () => res());
    s.on('close', () => res());
  });
}

// traffic: short TCP sessions of varying size, TLS sessions, a few bad clients; a backend dies and comes back
const start = Date.now();
let running = true;
const workers = Array.from({ length: 4 }, async (_, w) => {
  while (running) {
    const t = (Date.now() - start) / 1000;
    const wave = 1 + Math.sin(t / 9);
    await tcpOnce(plain, Math.round(2000 + 60000 * wave * Math.random()));
    if (w === 0) await tlsOnce('demo.example.com');
    if (w === 1 && Math.random() < 0.15) await tcpOnce(ssl, 10); // no ClientHello: a failed handshake
    await sleep(20 + 40 * (2 - wave));
  }
});
const script = (async () => {
  await sleep(SECONDS * 250);
  writeFileSync(file, config(2));
  await sleep(SECONDS * 100);
  await b.kill();
  await sleep(SECONDS * 200);
  await b.start();
  await sleep(SECONDS * 150);
  writeFileSync(file, config(3));
  await sleep(SECONDS * 100);
  writeFileSync(file, '_format_version: "3.0"\nservices: [ broken\n');
  await sleep(SECONDS * 50);
  writeFileSync(file, config(4));
})();
await sleep(SECONDS * 1000);
running = false;
await Promise.all([...workers, script]);
await sleep(2500);
const end = Date.now();

// the dashboard's queries, with Grafana's variables filled in
const dash = JSON.parse(readFileSync(join(root, 'deploy/grafana/kong-ts-dashboard.json'), 'utf8'));
const byTitle = new Map(dash.panels.filter((p) => p.targets).map((p) => [p.title, p]));
const fill = (expr) => expr.replaceAll('$__rate_interval', '5s').replaceAll('$__range', '15s').replaceAll('$job', '.*');
async function range(expr) {
  const u = new URL(`http://127.0.0.1:${prom}/api/v1/query_range`);
  u.searchParams.set('query', fill(expr));
  u.searchParams.set('start', String(start / 1000));
  u.searchParams.set('end', String(end / 1000));
  u.searchParams.set('step', '1');
  const r = await (await fetch(u)).json();
  if (r.status !== 'success') throw new Error(`${expr}: ${JSON.stringify(r)}`);
  return r.data.result;
}
function legend(fmt, metric) {
  return fmt.replace(/\{\{(\w+)\}\}/g, (_, k) => metric[k] ?? '');
}
const shown = [
  ['Sessions by status', 'sessions/s'],
  ['Bandwidth', 'bytes/s'],
  ['Session duration', 'ms'],
  ['TLS handshakes', 'handshakes/s'],
  ['Config reload duration', 'ms'],
  ['Unhealthy targets', 'targets'],
];
const charts = [];
for (const [title, unit] of shown) {
  const panel = byTitle.get(title);
  const lines = [];
  for (const t of panel.targets) {
    for (const s of await range(t.expr))
      lines.push({
        name: legend(t.legendFormat, s.metric),
        points: s.values.map(([x, y]) => [Number(x), Number(y)]).filter(([, y]) => Number.isFinite(y)),
      });
  }
  charts.push({ title, unit, lines });
}

const COLORS = ['#73bf69', '#f2cc0c', '#5794f2', '#ff7383', '#b877d9', '#ff9830'];
function svg({ title, unit, lines }) {
  const W = 600,
    H = 260,
    L = 56,
    R = 12,
    T = 34,
    B = 46;
  const xs = lines.flatMap((l) => l.points.map((p) => p[0]));
  const ys = lines.flatMap((l) => l.points.map((p) => p[1]));
  const x0 = start / 1000,
    x1 = end / 1000;
  const y1 = Math.max(1e-9, ...ys) * 1.1;
  const px = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y) => T + (1 - y / y1) * (H - T - B);
  const fmt = (v) =>
    v >= 1e6
      ? `${(v / 1e6).toFixed(1)}M`
      : v >= 1e3
        ? `${(v / 1e3).toFixed(1)}k`
        : v >= 10
          ? v.toFixed(0)
          : v.toPrecision(2);
  let g = `<rect width="${W}" height="${H}" rx="4" fill="#181b1f" stroke="#2c3235"/><text x="12" y="22" fill="#ccccdc" font-size="14" font-weight="600">${title}</text>`;
  for (let i = 0; i <= 4; i++) {
    const v = (y1 / 4) * i;
    g += `<line x1="${L}" x2="${W - R}" y1="${py(v)}" y2="${py(v)}" stroke="#2c3235"/><text x="${L - 6}" y="${py(v) + 4}" fill="#8e8e9e" font-size="11" text-anchor="end">${fmt(v)}</text>`;
  }
  for (let s = 0; s <= x1 - x0; s += 15)
    g += `<text x="${px(x0 + s)}" y="${H - B + 16}" fill="#8e8e9e" font-size="11" text-anchor="middle">${s}s</text>`;
  g += `<text x="${W - R}" y="22" fill="#8e8e9e" font-size="11" text-anchor="end">${unit}</text>`;
  lines.forEach((l, i) => {
    const c = COLORS[i % COLORS.length];
    if (l.points.length)
      g += `<polyline fill="none" stroke="${c}" stroke-width="1.6" points="${l.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`;
    g += `<rect x="${L + i * 110}" y="${H - 16}" width="10" height="3" fill="${c}"/><text x="${L + 14 + i * 110}" y="${H - 12}" fill="#ccccdc" font-size="11">${l.name}</text>`;
  });
  if (!xs.length) g += `<text x="${W / 2}" y="${H / 2}" fill="#8e8e9e" text-anchor="middle">no data</text>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="Inter, Helvetica, Arial, sans-serif">${g}</svg>`;
}
const html = `<!doctype html><html><body style="margin:0;background:#111217;padding:14px;font-family:Helvetica,Arial,sans-serif">
<div style="color:#ccccdc;font-size:18px;margin:0 0 10px 4px">kong-ts &mdash; deploy/grafana/kong-ts-dashboard.json queries over ${Math.round((end - start) / 1000)} s of real traffic (Prometheus, 1 s scrapes)</div>
<div style="display:grid;grid-template-columns:600px 600px;gap:12px">${charts.map(svg).join('')}</div></body></html>`;
const page = join(dir, 'dashboard.html');
writeFileSync(page, html);
mkdirSync(dirname(out), { recursive: true });
const chrome = spawn(
  'chromium',
  [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--hide-scrollbars',
    `--screenshot=${out}`,
    '--window-size=1240,880',
    pathToFileURL(page).href,
  ],
  { stdio: 'ignore' },
);
await once(chrome, 'exit');
for (const c of children) c.kill('SIGTERM');
await a.kill();
await b.kill();
rmSync(dir, { recursive: true, force: true });
console.log(`wrote ${out}: ${charts.map((c) => `${c.title} (${c.lines.length} series)`).join(', ')}`);
process.exit(0);
