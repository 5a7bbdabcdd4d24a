#!/usr/bin/env node
// Takes docs/dashboard.png from a real run: starts the built kong-ts (npm run build first) on a small config with
// an echo backend and an upstream with one dead target, sends traffic for a while (short connections, a few held
// sessions), reloads once and sends one broken file, then opens /dashboard in headless chromium and screenshots it.
// Usage: node scripts/dashboard-screenshot.mjs [out=docs/dashboard.png] [seconds of traffic=40]
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const [out = 'docs/dashboard.png', secondsArg = '40'] = process.argv.slice(2);
const CLI = resolve('dist/src/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'kong-ts-shot-'));
// never a sync child: kong-ts writes its log to our pipe, which must keep being read
const cli = (...args) => promisify(execFile)(process.execPath, [CLI, ...args]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const listen = (srv) => new Promise((r) => srv.listen(0, '127.0.0.1', () => r(srv.address().port)));
const free = async () => {
  const s = createServer();
  const p = await listen(s);
  await new Promise((r) => s.close(r));
  return p;
};
const echo = createServer((s) => {
  s.on('error', () => {});
  s.pipe(s);
});
const echoPort = await listen(echo);
const dead = await free();
const [tcpPort, tlsPort, adminPort] = [await free(), await free(), await free()];

const config = (extra = '') => `_format_version: "3.0"
services:
  - name: cache
    host: cache-pool
    port: 6379
    protocol: tcp
    routes:
      - { name: cache-clients, protocols: [tcp], sources: [{ ip: 127.0.0.0/8 }], destinations: [{ port: ${tcpPort} }] }
      - { name: cache-office, protocols: [tcp], sources: [{ ip: 10.20.0.0/16 }], destinations: [{ port: ${tcpPort} }] }
  - name: api
    url: tcp://127.0.0.1:${echoPort}
    routes:
      - { name: api-tls, protocols: [tls_passthrough], snis: [api.example.com], destinations: [{ port: ${tlsPort} }] }
      - { name: wildcard-tls, protocols: [tls_passthrough], snis: ["*.example.com"] }
${extra}upstreams:
  - name: cache-pool
    algorithm: least-connections
    healthchecks:
      active:
        type: tcp
        healthy: { interval: 1, successes: 1 }
        unhealthy: { interval: 1, tcp_failures: 1 }
    targets:
      - { target: 127.0.0.1:${echoPort}, weight: 100 }
      - { target: 127.0.0.1:${dead}, weight: 50 }
`;
const file = join(dir, 'kong.yml');
writeFileSync(file, config());
const prefix = join(dir, 'prefix');
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
    `127.0.0.1:${tcpPort}, 127.0.0.1:${tlsPort} ssl`,
    '--admin-listen',
    `127.0.0.1:${adminPort}`,
    '--set',
    'watch=off',
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
await new Promise((r, j) => {
  let log = '';
  kong.stdout.on('data', (d) => {
    log += d;
    if (process.env.KTS_SHOT_LOG) process.stderr.write(d);
    if (log.includes('"kong-ts started"')) r();
  });
  kong.on('exit', (c) => j(new Error(`kong-ts exited ${c}:\n${log}`)));
});

let running = true;
const held = [];
for (let i = 0; i < 3; i++) held.push(connect(tcpPort, '127.0.0.1').on('error', () => {}));
(async () => {
  while (running) {
    for (let i = 0; i < 20; i++) {
      const s = connect(tcpPort, '127.0.0.1', () => s.end('x'.repeat(2000 + Math.floor(Math.random() * 20000))));
      s.on('error', () => {});
      s.resume();
    }
    // a connection to the tls listener without a ClientHello is refused (400): a second status in the chart
    if (Math.random() < 0.3) {
      const s = connect(tlsPort, '127.0.0.1', () => s.end('not tls\r\n'));
      s.on('error', () => {});
      s.resume();
    }
    await sleep(100 + Math.random() * 150);
  }
})();

const seconds = Number(secondsArg);
await sleep((seconds / 2) * 1000);
writeFileSync(
  file,
  config(`  - name: metrics
    url: tcp://127.0.0.1:${echoPort}
    routes:
      - { name: metrics-scrape, protocols: [tcp], sources: [{ ip: 10.30.0.0/16 }] }
`),
);
await cli('reload', '-p', prefix);
await sleep((seconds / 2) * 1000);
writeFileSync(file, config().replace('algorithm: least-connections', 'algorithm: least-connections\n    slots: 5'));
await cli('reload', '-p', prefix);
await sleep(1500);

const profile = mkdtempSync(join(tmpdir(), 'kong-ts-chromium-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.KTS_CHROMIUM ?? '/usr/bin/chromium',
  viewport: { width: 1280, height: 900 },
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
await page.goto(`http://127.0.0.1:${adminPort}/dashboard`);
await page.waitForSelector('#routes tr');
await page.fill('#x-source', '10.1.2.3:40000');
await page.fill('#x-destination', `127.0.0.1:${tlsPort}`);
await page.fill('#x-sni', 'api.example.com');
await page.click('#explain button');
await sleep(2500);
await page.screenshot({ path: out, fullPage: true });
console.log(`wrote ${out}`);

running = false;
await ctx.close();
held.forEach((s) => s.destroy());
await cli('stop', '-p', prefix);
echo.close();
rmSync(profile, { recursive: true, force: true });
rmSync(dir, { recursive: true, force: true });
