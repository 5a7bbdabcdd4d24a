#!/usr/bin/env node
// Does an open dashboard cost the data path anything? Runs the built kong-ts (npm run build first) in front of a
// redis-server, then alternates rounds of redis-benchmark through the proxy with no page open and with /dashboard
// open in headless chromium (polling once a second), and prints the medians. Two loads: PING over 50 kept-alive
// connections (throughput), and PING with a new connection per request (-k 0: accept and session setup).
// Ports are free ones picked at run time. Usage: node scripts/dashboard-cost.mjs [rounds=5] [requests=200000] [workers=1]
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

const [roundsArg = '5', requestsArg = '200000', workersArg = '1'] = process.argv.slice(2);
const rounds = Number(roundsArg),
  requests = Number(requestsArg);
/** new-connection requests per round: few, so loopback TIME_WAIT sockets stay far from the ephemeral port range */
const NEW_CONNS = 3000;
const CLI = resolve('dist/src/cli/main.js');
const run = promisify(execFile);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const free = () =>
  new Promise((r) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => r(p));
    });
  });
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/** user+system CPU seconds so far of a pid and its children (a cluster's workers) */
function cpu(pid) {
  let total = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let f;
    try {
      f = readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1].split(' ');
    } catch {
      continue;
    }
    if (Number(d) === pid || Number(f[1]) === pid) total += (Number(f[11]) + Number(f[12])) / 100;
  }
  return total;
}

const dir = mkdtempSync(join(tmpdir(), 'kong-ts-dash-cost-'));
const [redisPort, proxyPort, adminPort] = [await free(), await free(), await free()];
const redis = spawn(
  'redis-server',
  ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
  { stdio: 'ignore' },
);
const file = join(dir, 'kong.yml');
writeFileSync(
  file,
  `_format_version: "3.0"
services:
  - name: redis
    url: tcp://127.0.0.1:${redisPort}
    routes:
      - { name: redis, protocols: [tcp], destinations: [{ port: ${proxyPort} }] }
`,
);
const prefix = join(dir, 'prefix');
const log = openSync(join(dir, 'kong.log'), 'w');
const kong = spawn(
  process.execPath,
  [
    CLI,
    'start',
    '-c',
    file,
    '-p',
    prefix,
    '--stream-listen',
    `127.0.0.1:${proxyPort} reuseport`,
    '--admin-listen',
    `127.0.0.1:${adminPort}`,
    '--set',
    'proxy_stream_access_log=off',
    '--set',
    `nginx_worker_processes=${workersArg}`,
  ],
  { stdio: ['ignore', log, log] },
);
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`http://127.0.0.1:${adminPort}/status`)).ok) break;
  } catch {
    /* not yet */
  }
  if (i > 100) throw new Error('kong-ts did not start: ' + readFileSync(join(dir, 'kong.log'), 'utf8'));
  await sleep(100);
}

async function bench(keepalive) {
  const { stdout } = await run(
    'timeout',
    [
      '300',
      'redis-benchmark',
      '-h',
      '127.0.0.1',
      '-p',
      String(proxyPort),
      '-t',
      'ping',
      '-n',
      String(keepalive ? requests : NEW_CONNS),
      '-c',
      '50',
      '-q',
      ...(keepalive ? [] : ['-k', '0']),
    ],
    { maxBuffer: 1 << 24 },
  );
  if (!/requests per second/.test(stdout)) throw new Error(`redis-benchmark said: ${stdout.slice(-500)}`);
  const rates = [...stdout.matchAll(/PING_(?:INLINE|MBULK): ([\d.]+) requests per second/g)].map((m) => Number(m[1]));
  return rates.reduce((a, b) => a + b, 0) / rates.length;
}

const profile = mkdtempSync(join(tmpdir(), 'kong-ts-chromium-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.KTS_CHROMIUM ?? '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
const page = ctx.pages()[0] ?? (await ctx.newPage());
let polls = 0;
page.on('response', (r) => {
  if (r.url().includes('/dashboard/data')) polls++;
});

const results = { closed: { ka: [], conn: [], cpu: [] }, open: { ka: [], conn: [], cpu: [] } };
await bench(true); // warm up
for (let r = 0; r < rounds; r++) {
  for (const mode of r % 2 ? ['open', 'closed'] : ['closed', 'open']) {
    if (mode === 'open') {
      await page.goto(`http://127.0.0.1:${adminPort}/dashboard`);
      await page.waitForSelector('#routes tr');
    } else await page.goto('about:blank');
    const c0 = cpu(kong.pid);
    results[mode].ka.push(await bench(true));
    results[mode].conn.push(await bench(false));
    // CPU of the kong-ts process per request served: what the data path cost, whatever the machine's load did to throughput
    results[mode].cpu.push(((cpu(kong.pid) - c0) * 1e6) / (requests + NEW_CONNS));
    console.error(
      `round ${r + 1} page ${mode}: ${Math.round(results[mode].ka.at(-1))} req/s kept-alive, ${Math.round(results[mode].conn.at(-1))} req/s new connections`,
    );
  }
}
await page.goto(`http://127.0.0.1:${adminPort}/dashboard`);
// what one poll costs: the median of 30 sequential answers (as the page asks: route rows already held)
const gen = (await (await fetch(`http://127.0.0.1:${adminPort}/dashboard/data`)).json()).config.generation;
const times = [];
let body = '';
for (let i = 0; i < 30; i++) {
  const t = performance.now();
  body = await (await fetch(`http://127.0.0.1:${adminPort}/dashboard/data?have=${gen}`)).text();
  times.push(performance.now() - t);
}
const dataMs = median(times).toFixed(2);

const fmt = (xs, d = 0) => `median ${median(xs).toFixed(d)} (${xs.map((x) => x.toFixed(d)).join(', ')})`;
console.log(
  `kong-ts ${workersArg === '1' ? 'single process' : `${workersArg} workers`}, ${rounds} alternating rounds, redis-benchmark -c 50 -t ping`,
);
for (const mode of ['closed', 'open']) {
  console.log(`page ${mode.padEnd(6)} ping kept-alive (-n ${requests}) req/s: ${fmt(results[mode].ka)}`);
  console.log(`page ${mode.padEnd(6)} ping new conn   (-n ${NEW_CONNS}, -k 0) req/s: ${fmt(results[mode].conn)}`);
  console.log(
    `page ${mode.padEnd(6)} kong-ts CPU µs per request (the process and its workers): ${fmt(results[mode].cpu, 1)}`,
  );
}
const ratio = (k) => (median(results.open[k]) / median(results.closed[k])).toFixed(3);
console.log(
  `open/closed: kept-alive ${ratio('ka')}, new connections ${ratio('conn')}, CPU per request ${ratio('cpu')}; the page made ${polls} polls; /dashboard/data ${body.length} bytes in ${dataMs} ms`,
);

await ctx.close();
rmSync(profile, { recursive: true, force: true });
await run(process.execPath, [CLI, 'stop', '-p', prefix]).catch(() => kong.kill('SIGKILL'));
redis.kill();
rmSync(dir, { recursive: true, force: true });
